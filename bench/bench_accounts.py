"""Benchmark the readers' hot paths: session and token lookups (every signed-in request), sign-in requests
(link + outbox row + two rate-limit hits in the database) and outbox delivery to a real SMTP server on loopback.

Why: a session lookup sits in front of every personal page and vote, and the sender decides how fast a digest
run (thousands of mails) drains.  Run (seconds)::

    nice .venv/bin/python bench/bench_accounts.py [--mails 2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from mail_server import MailSink  # noqa: E402
from paperboy.accounts import AccountService, open_accounts  # noqa: E402
from paperboy.mail import SmtpConfig, send_pending  # noqa: E402
from paperboy.store.accounts import Mail  # noqa: E402
from paperboy.store.sqlite import SQLiteStore  # noqa: E402


def _timed(fn, n: int) -> list[float]:  # noqa: ANN001
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t) * 1000)
    return out


def _line(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    print(f"{name:<28} p50 {statistics.median(ms):7.3f} ms   p99 {ms[int(len(ms) * 0.99) - 1]:7.3f} ms"
          f"   {len(ms) / (sum(ms) / 1000):9,.0f}/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mails", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, MailSink() as sink:
        store = SQLiteStore(Path(tmp) / "paperboy.db")
        seams = open_accounts(store)
        service = AccountService(seams, sink.settings(Path(tmp)))
        sessions, tokens = [], []
        for n in range(200):
            reader = service.add_reader(f"reader{n}@example.org")
            tokens.append(service.create_token(reader)[1])
        for n in range(200):
            service.request_sign_in(f"reader{n}@example.org", f"10.0.{n // 250}.{n % 250}")
        for (body,) in store.db.execute("SELECT body_text FROM outbox ORDER BY id"):
            secret = body.split("token=")[1].split()[0]
            sessions.append(service.sign_in(secret)[1])
        _line("session lookup", _timed(lambda i: service.session_reader(sessions[i % 200]), 20_000))
        _line("API token lookup", _timed(lambda i: service.token_reader(tokens[i % 200]), 20_000))
        _line("sign-in request (DB only)",
              _timed(lambda i: service.request_sign_in(f"new{i}@example.org", f"10.1.{i // 15}.{i % 15}"), 2_000))
        store.db.execute("DELETE FROM outbox")
        for n in range(args.mails):
            seams.outbox.enqueue(Mail(f"bench:{n}", f"r{n}@example.org", f"message {n}", "body\n" * 20), time.time())
        started = time.perf_counter()
        report = send_pending(seams.outbox, SmtpConfig.from_settings(sink.settings(Path(tmp))))
        took = time.perf_counter() - started
        sink.wait_for(args.mails)
        print(f"outbox -> aiosmtpd (loopback) {report.sent:,} mails in {took:.2f} s: {report.sent / took:,.0f} mails/s")
        store.close()


if __name__ == "__main__":
    main()
