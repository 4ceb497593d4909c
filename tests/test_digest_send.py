"""Exactly-once digests against a real SMTP server: claims, frozen content, races, refusals, bounces, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from digest_world import add_trending_papers, subscribe, utc
from mail_server import MailSink
from paperboy.cli_digest import record_bounce
from paperboy.cycle import Cycle
from paperboy.digest.compose import Digest, open_context, open_subscriptions
from paperboy.digest.send import LEASE_S, queue_due
from paperboy.lease import Lease
from paperboy.mail import SmtpConfig, message_id
from paperboy.store.digests import digest_key, open_digest_seams
from paperboy.store.sqlite import SQLiteStore

SRC = Path(__file__).resolve().parents[1] / "src"
NOW = utc(2026, 12, 2, 9, 0)  # a Wednesday, 09:00 UTC


class Clock:
    def __init__(self, at: float) -> None:
        self.now = at

    def __call__(self) -> float:
        return self.now


def _cycle(store, sink, tmp_path, clock) -> Cycle:
    settings = sink.settings(tmp_path, base_url="https://papers.example.org")
    return Cycle(settings, store, smtp=SmtpConfig.from_settings(settings), clock=clock)


def test_a_due_digest_is_sent_once_with_its_headers_and_a_stable_message_id(store, tmp_path):
    add_trending_papers(store, 5, NOW - timedelta(hours=1), title="<script>alert(1)</script> & paper {i}")
    sub = subscribe(store, "ada@example.org", NOW.timestamp(), send_hour=8)
    late = subscribe(store, "bob@example.org", NOW.timestamp(), send_hour=10)
    clock = Clock(NOW.timestamp())
    with MailSink() as sink:
        cycle = _cycle(store, sink, tmp_path, clock)
        first = cycle.send(NOW)
        assert (first.composed, first.sent, first.failed) == (1, 1, 0)
        again = cycle.send(NOW + timedelta(minutes=30))
        assert (again.composed, again.sent, again.skipped) == (0, 0, 1)  # done for the period
        [message] = sink.wait_for(1)
    assert message["To"] == sub.email
    assert message["Message-ID"] == message_id(digest_key(sub.reader_id, "2026-12-02"), cycle.smtp.mail_from)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "https://papers.example.org/" in message["List-Unsubscribe"] and message["List-Id"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html and "<script>alert(1)</script>" in text
    seams = open_digest_seams(store)
    row = seams.digests.get(sub.reader_id, "2026-12-02")
    assert row.state == "queued" and row.sent_at is not None
    frozen = Digest.from_json(row.content)
    assert len(frozen.paper_ids) == 5
    assert seams.digests.get(late.reader_id, "2026-12-02") is None  # 10:00 has not come for bob


def test_a_later_digest_never_repeats_a_paper_and_an_empty_one_is_not_sent(store, tmp_path):
    add_trending_papers(store, 3, NOW - timedelta(hours=1))
    sub = subscribe(store, "ada@example.org", NOW.timestamp(), send_hour=8, skip_no_announcement_days=False)
    clock = Clock(NOW.timestamp())
    with MailSink() as sink:
        cycle = _cycle(store, sink, tmp_path, clock)
        assert cycle.send(NOW).composed == 1
        tomorrow = NOW + timedelta(days=1)
        clock.now = tomorrow.timestamp()
        report = cycle.send(tomorrow)  # the same three papers still trend (yesterday's ranking): all sent already
        assert (report.composed, report.skipped) == (0, 1)
        sink.wait_for(1)
        time.sleep(0.2)
        assert len(sink.messages) == 1
    assert open_digest_seams(store).digests.get(sub.reader_id, "2026-12-03").state == "empty"


def test_two_schedulers_racing_send_each_reader_one_digest(tmp_path):
    path = tmp_path / "paperboy.db"
    stores = [SQLiteStore(path), SQLiteStore(path)]
    add_trending_papers(stores[0], 4, NOW - timedelta(hours=1))
    subs = [subscribe(stores[0], f"reader{n}@example.org", NOW.timestamp(), send_hour=0) for n in range(40)]
    reports = [None, None]
    with MailSink() as sink:
        def run(i: int) -> None:
            reports[i] = _cycle(stores[i], sink, tmp_path, time.time).send(NOW)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        messages = sink.wait_for(40)
        time.sleep(0.2)
    assert sorted(m["To"] for m in sink.messages) == sorted(s.email for s in subs)
    assert len({m["Message-ID"] for m in messages}) == 40
    assert reports[0].composed + reports[1].composed == 40
    for s in stores:
        s.close()


def test_a_lost_claim_freezes_nothing(store, tmp_path):
    add_trending_papers(store, 2, NOW - timedelta(hours=1))
    subscribe(store, "ada@example.org", NOW.timestamp(), send_hour=0)
    seams = open_digest_seams(store)
    t0 = NOW.timestamp()
    slow = seams.digests.claim(1, "2026-12-02", "ada@example.org", "slow", t0, LEASE_S)
    assert seams.digests.claim(1, "2026-12-02", "ada@example.org", "other", t0 + 1, LEASE_S) is None
    # The slow worker's lease runs out; another takes over, composes and queues the digest.
    ctx = open_context(store, sink_settings(tmp_path))
    report = queue_due(ctx, seams.digests, NOW, clock=lambda: t0 + LEASE_S + 1, worker="other")
    assert report.composed == 1
    from paperboy.store.accounts import Mail

    late = Mail(key=digest_key(1, "2026-12-02"), recipient="ada@example.org", subject="late", text="late")
    assert seams.digests.freeze(slow, "{}", late, t0 + LEASE_S + 2) is False
    assert json.loads(seams.digests.get(1, "2026-12-02").content)["period"] == "2026-12-02"


def sink_settings(tmp_path):
    from paperboy.config import Settings

    return Settings(home=tmp_path, base_url="https://papers.example.org")


def test_one_broken_subscription_does_not_stop_the_others(store, tmp_path):
    add_trending_papers(store, 2, NOW - timedelta(hours=1))
    broken = subscribe(store, "mars@example.org", NOW.timestamp(), send_hour=0)
    open_subscriptions(store).update(broken.reader_id, tz="Mars/Olympus")  # e.g. a zone a newer tzdata dropped
    subscribe(store, "ada@example.org", NOW.timestamp(), send_hour=0)
    report = queue_due(open_context(store, sink_settings(tmp_path)), open_digest_seams(store).digests, NOW,
                       clock=time.time)
    assert (report.composed, report.failed) == (1, 1)


def test_a_refusing_server_fails_the_mail_and_a_hard_bounce_stops_the_address(store, tmp_path):
    add_trending_papers(store, 2, NOW - timedelta(hours=1))
    ada = subscribe(store, "ada@example.org", NOW.timestamp(), send_hour=0)
    subscribe(store, "bob@example.org", NOW.timestamp(), send_hour=0)
    with MailSink("reject") as sink:
        report = _cycle(store, sink, tmp_path, time.time).send(NOW)
    assert (report.composed, report.sent, report.failed) == (2, 0, 2)
    assert "no more mail" in record_bounce(store, ada.email, "hard", "550 5.1.1 no such user")
    assert [s.email for s in open_subscriptions(store).active()] == ["bob@example.org"]
    day = open_digest_seams(store).digests.daily(0)[0]
    assert (day.failed, day.bounces) == (2, 1)


@pytest.mark.parametrize("behaviour", ["tempfail", "drop"])  # 451 for the recipient; disconnected mid-message
def test_a_temporary_failure_keeps_the_digest_queued_for_a_retry(store, tmp_path, behaviour):
    add_trending_papers(store, 2, NOW - timedelta(hours=1))
    ada = subscribe(store, "ada@example.org", NOW.timestamp(), send_hour=0)
    with MailSink(behaviour) as sink:
        report = _cycle(store, sink, tmp_path, time.time).send(NOW)
    assert (report.composed, report.sent, report.failed) == (1, 0, 0)
    row = open_digest_seams(store).digests.get(ada.reader_id, "2026-12-02")
    assert row.state == "queued" and row.sent_at is None
    with MailSink() as sink:
        cycle = _cycle(store, sink, tmp_path, lambda: time.time() + 3600)
        assert cycle.send(NOW).sent == 1
        sink.wait_for(1)


def test_one_lease_holder_at_a_time(store):
    seams = open_digest_seams(store)
    clock = Clock(1000.0)
    a = Lease(seams.leases, "scheduler", ttl_s=60, clock=clock, holder="a")
    b = Lease(seams.leases, "scheduler", ttl_s=60, clock=clock, holder="b")
    assert a.hold() and not b.hold() and a.hold()
    clock.now += 61
    assert b.hold() and not a.hold() and b.current_holder() == "b"
    b.release()
    assert a.hold()


def _cli(home: Path, *args: str, sink: MailSink | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               PAPERBOY_BASE_URL="https://papers.example.org")
    if sink is not None:
        env.update(PAPERBOY_SMTP_HOST=sink.host, PAPERBOY_SMTP_PORT=str(sink.port), PAPERBOY_SMTP_TLS="none",
                   PAPERBOY_MAIL_FROM="paperboy <noreply@paperboy.test>")
    return subprocess.run([sys.executable, "-c", "from paperboy.cli import main; main()", "--home", str(home), *args],
                          env=env, capture_output=True, text=True, timeout=120)


def test_the_cli_previews_dry_runs_and_sends(tmp_path):
    store = SQLiteStore(tmp_path / "paperboy.db")
    now = time.time()
    from datetime import UTC, datetime

    add_trending_papers(store, 3, datetime.fromtimestamp(now, UTC) - timedelta(minutes=5))
    subscribe(store, "ada@example.org", now, send_hour=23, skip_no_announcement_days=False)
    store.close()
    preview = _cli(tmp_path, "digest", "preview", "ada@example.org")
    assert preview.returncode == 0, preview.stderr
    assert "Paper number 0" in preview.stdout and "composed 1, sent 0, skipped 0, failed 0" in preview.stderr
    assert "has no digest subscription" in _cli(tmp_path, "digest", "preview", "nobody@example.org").stderr
    assert "not a day of the calendar" in _cli(tmp_path, "digest", "send", "--date", "2026-02-30").stderr
    dry = _cli(tmp_path, "digest", "send", "--dry-run", "--now")
    assert dry.stdout.strip() == "composed 1, sent 0, skipped 0, failed 0", dry.stderr
    with MailSink() as sink:
        sent = _cli(tmp_path, "digest", "send", "--now", sink=sink)
        assert sent.stdout.strip() == "composed 1, sent 1, skipped 0, failed 0", sent.stderr
        sink.wait_for(1)
        again = _cli(tmp_path, "digest", "send", "--now", sink=sink)
        assert again.stdout.strip() == "composed 0, sent 0, skipped 1, failed 0", again.stderr
    status = json.loads(_cli(tmp_path, "cycle", "status", "--json").stdout)
    assert [s["step"] for s in status["steps"]] == ["harvest", "index", "trending", "digests"]
