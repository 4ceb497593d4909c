"""The crash test: ``paperboy digest send`` killed with SIGKILL at random points while sending to 1,000 readers.

Each run is the real command in its own process.  Leases are shortened (2 s instead of minutes) in that process
only, so a restart can take over what a killed run held without waiting; the code paths are the real ones.
Every reader must get their digest; a second copy may only come from a kill between the server's acceptance and
our record of it — at most one per kill, with the same Message-ID.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from digest_world import add_trending_papers, subscribe
from mail_server import MailSink
from paperboy.mail import message_id
from paperboy.periods import today
from paperboy.store.digests import digest_key
from paperboy.store.sqlite import SQLiteStore

SRC = Path(__file__).resolve().parents[1] / "src"
READERS = 1000
LEASE = 2.0
RUN = ("import paperboy.mail as m, paperboy.digest.send as s; m.LEASE_S = s.LEASE_S = {lease}; "
       "from paperboy.cli import main; main()")


def test_killed_senders_miss_no_reader_and_repeat_only_acknowledged_mail(tmp_path):
    store = SQLiteStore(tmp_path / "paperboy.db")
    now = time.time()
    add_trending_papers(store, 5, datetime.fromtimestamp(now, UTC) - timedelta(minutes=5))
    subs = [subscribe(store, f"reader{n}@example.org", now, send_hour=0, skip_no_announcement_days=False)
            for n in range(READERS)]
    store.close()
    rng = random.Random(13)
    kills = 0
    with MailSink("slow", delay=0.003) as sink:  # a little slower than loopback, so kills land while sending too
        env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
                   PAPERBOY_SMTP_HOST=sink.host, PAPERBOY_SMTP_PORT=str(sink.port), PAPERBOY_SMTP_TLS="none",
                   PAPERBOY_MAIL_FROM="paperboy <noreply@paperboy.test>", PAPERBOY_BASE_URL="https://p.example.org")
        command = [sys.executable, "-c", RUN.format(lease=LEASE), "--home", str(tmp_path), "digest", "send", "--now"]
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                out, err = proc.communicate(timeout=rng.uniform(0.5, 2.0) if kills < 15 else 300)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.communicate()
                kills += 1
                continue
            assert proc.returncode == 0, err
            if len(sink.messages) >= READERS and "composed 0, sent 0" in out:
                break
            time.sleep(LEASE + 0.5)  # what a killed run still held is free again
        messages = list(sink.messages)
    assert kills >= 5, "the sender finished before it could be killed often enough"
    period = today("UTC").isoformat()
    expected = {message_id(digest_key(s.reader_id, period), "noreply@paperboy.test"): s.email for s in subs}
    got = Counter(m["Message-ID"] for m in messages)
    assert set(got) == set(expected), "every reader got their digest, and nothing else was sent"
    for m in messages:
        assert expected[m["Message-ID"]] == m["To"]
    duplicates = sum(n - 1 for n in got.values())
    print(f"\ncrash test: {READERS} readers, {kills} kills, {duplicates} duplicates")
    assert duplicates <= kills
