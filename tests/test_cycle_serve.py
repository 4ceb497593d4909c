"""``paperboy serve`` runs the scheduler in the background, and two servers on one database run one scheduler."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from digest_world import add_trending_papers, subscribe
from mail_server import MailSink, free_port
from paperboy.store.sqlite import SQLiteStore

SRC = Path(__file__).resolve().parents[1] / "src"


def _paperboy(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", "from paperboy.cli import main; main()", "--home", str(home), *args]


def test_two_servers_run_one_scheduler_that_delivers_the_due_digest(tmp_path):
    store = SQLiteStore(tmp_path / "paperboy.db")
    now = time.time()
    add_trending_papers(store, 3, datetime.fromtimestamp(now, UTC) - timedelta(minutes=5))
    subscribe(store, "ada@example.org", now, send_hour=0, skip_no_announcement_days=False)
    store.close()
    with MailSink() as sink:
        env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
                   PAPERBOY_SMTP_HOST=sink.host, PAPERBOY_SMTP_PORT=str(sink.port), PAPERBOY_SMTP_TLS="none",
                   PAPERBOY_BASE_URL="http://127.0.0.1:1")
        procs = [subprocess.Popen(_paperboy(tmp_path, "serve", "--port", str(free_port()), "--no-access-log"),
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
        try:
            (message,) = sink.wait_for(1, timeout=60)
            status = json.loads(subprocess.run(_paperboy(tmp_path, "cycle", "status", "--json"), env=env,
                                               capture_output=True, text=True, timeout=60).stdout)
            time.sleep(1)
            assert len(sink.messages) == 1
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=30)
    assert message["To"] == "ada@example.org"
    holder_pid = int(status["scheduler"].split(":")[1])
    assert holder_pid in {p.pid for p in procs}
    digests = next(s for s in status["steps"] if s["step"] == "digests")
    assert digests["ok"] and digests["counts"]["composed"] == 1
