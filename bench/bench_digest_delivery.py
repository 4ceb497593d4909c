"""Digest delivery benchmark: queue (claim, compose, render, freeze) and deliver digests to a local aiosmtpd.

What it does:

1. creates a store with ``--papers`` trending papers (upvoted within the hour) and ``--readers`` confirmed daily
   subscribers, through the real seams;
2. times :func:`paperboy.digest.send.queue_due` for all readers (each digest claimed, composed, rendered, frozen
   and queued in one transaction): digests/s;
3. times :func:`paperboy.mail.send_pending` delivering every queued digest over one SMTP connection to an
   aiosmtpd server on loopback, in its own process as a real mail server is (``python -m aiosmtpd`` with its
   discarding ``Sink`` handler): mails/s (target: at least 100).

Run: ``nice python bench/bench_digest_delivery.py [--readers 2000] [--papers 20]`` (PYTHONPATH=src:tests).
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from digest_world import add_trending_papers, subscribe  # noqa: E402
from mail_server import free_port  # noqa: E402
from paperboy.accounts import open_accounts  # noqa: E402
from paperboy.config import Settings  # noqa: E402
from paperboy.digest.compose import open_context  # noqa: E402
from paperboy.digest.send import queue_due  # noqa: E402
from paperboy.mail import SmtpConfig, send_pending  # noqa: E402
from paperboy.store.digests import open_digest_seams  # noqa: E402
from paperboy.store.sqlite import SQLiteStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=2000)
    parser.add_argument("--papers", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        store = SQLiteStore(home / "paperboy.db")
        now = datetime.now(UTC)
        t = time.perf_counter()
        add_trending_papers(store, args.papers, now - timedelta(minutes=5))
        for n in range(args.readers):
            subscribe(store, f"reader{n}@example.org", now.timestamp(), send_hour=0,
                      skip_no_announcement_days=False)
        print(f"set-up: {args.readers:,} readers, {args.papers} trending papers in {time.perf_counter() - t:.1f} s")
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c",
                                   "aiosmtpd.handlers.Sink"])
        try:
            _wait_for(port)
            settings = Settings(home=home, base_url="https://papers.example.org", smtp_host="127.0.0.1",
                                smtp_port=port, smtp_tls="none", mail_from="paperboy <noreply@paperboy.test>")
            ctx = open_context(store, settings)
            t = time.perf_counter()
            report = queue_due(ctx, open_digest_seams(store).digests, now, clock=time.time)
            queued_s = time.perf_counter() - t
            print(f"queue: {report.line()} in {queued_s:.2f} s = {report.composed / queued_s:,.0f} digests/s "
                  "(claim + compose + render + freeze, one reader at a time)")
            t, cpu = time.perf_counter(), time.process_time()
            sent = send_pending(open_accounts(store).outbox, SmtpConfig.from_settings(settings))
            sent_s, sent_cpu = time.perf_counter() - t, time.process_time() - cpu
            print(f"deliver: {sent.sent:,} mails to aiosmtpd on loopback in {sent_s:.2f} s = "
                  f"{sent.sent / sent_s:,.0f} mails/s (one connection, each marked sent after the server's 250); "
                  f"the sender used {sent_cpu:.2f} CPU-s = {sent.sent / sent_cpu:,.0f} mails per CPU-second")
        finally:
            server.terminate()
            server.wait()
        store.close()


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


if __name__ == "__main__":
    main()
