"""The daily cycle: incremental harvests, a failed harvest retried with backoff that never blocks digests."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from digest_world import add_trending_papers, subscribe
from fixtures.oai import oai_page
from mail_server import MailSink
from paperboy.config import ConfigError, load_settings
from paperboy.cycle import Cycle, retry_after
from paperboy.digest.compose import Digest
from paperboy.mail import SmtpConfig
from paperboy.store.digests import open_digest_seams
from replay_server import Reply

EMPTY = oai_page({"verb": "ListRecords", "metadataPrefix": "arXiv"},
                 '<error code="noRecordsMatch">no records</error>')


class Clock:
    def __init__(self, at: float) -> None:
        self.now = at

    def __call__(self) -> float:
        return self.now


def _settings(tmp_path, monkeypatch, server, sink=None):
    monkeypatch.setenv("PAPERBOY_OAI_BASE_URL", server.url("/oai2"))
    monkeypatch.setenv("PAPERBOY_HARVEST_DELAY", "0")
    monkeypatch.setenv("PAPERBOY_HARVEST", "oai:cs")
    if sink is not None:
        for k, v in {"SMTP_HOST": sink.host, "SMTP_PORT": str(sink.port), "SMTP_TLS": "none",
                     "MAIL_FROM": "paperboy <noreply@paperboy.test>"}.items():
            monkeypatch.setenv(f"PAPERBOY_{k}", v)
    return load_settings(tmp_path / "home")


def test_harvests_are_incremental_from_the_last_complete_one(store, tmp_path, monkeypatch, server):
    server.script({"verb": "ListRecords"}, Reply(200, EMPTY))
    settings = _settings(tmp_path, monkeypatch, server)
    clock = Clock(datetime(2026, 12, 2, 3, 0, tzinfo=UTC).timestamp())
    cycle = Cycle(settings, store, clock=clock)
    ran = cycle.tick()
    assert ran["harvest"].ok and ran["index"].ok and ran["trending"].ok and ran["digests"].ok
    assert server.requests[0].query == {"verb": "ListRecords", "metadataPrefix": "arXiv", "set": "cs"}
    assert not cycle.harvest_due()
    assert "index" not in cycle.tick()  # nothing changed in the store: the indexes are not opened again
    clock.now += settings.harvest_interval_h * 3600
    assert cycle.harvest_due()
    cycle.tick()
    assert server.requests[-1].query["from"] == "2026-12-02"


def test_a_failed_harvest_backs_off_and_never_blocks_digests(store, tmp_path, monkeypatch, server):
    server.script({"verb": "ListRecords"}, Reply(404, b"gone"))
    now = datetime.now(UTC)
    add_trending_papers(store, 3, now - timedelta(minutes=5))
    sub = subscribe(store, "ada@example.org", now.timestamp(), send_hour=0, skip_no_announcement_days=False)
    with MailSink() as sink:
        settings = _settings(tmp_path, monkeypatch, server, sink)
        clock = Clock(time.time())
        cycle = Cycle(settings, store, smtp=SmtpConfig.from_settings(settings), clock=clock)
        ran = cycle.tick()
        assert ran["harvest"].ok is False and "404" in ran["harvest"].error
        assert ran["harvest"].next_attempt_at == clock.now + retry_after(1)
        assert ran["digests"].ok and ran["digests"].counts["sent"] == 1
        [message] = sink.wait_for(1)
    assert "could not be fetched from arXiv" in message.get_body(("plain",)).get_content()
    row = open_digest_seams(store).digests.get(sub.reader_id, now.date().isoformat())
    assert Digest.from_json(row.content).notice.startswith("New papers could not be fetched")
    assert not cycle.harvest_due()
    clock.now += retry_after(1)
    assert cycle.harvest_due()
    assert cycle.tick()["harvest"].failures == 2
    assert retry_after(2) == 2 * retry_after(1) and retry_after(50) == 7200


def test_harvest_settings_are_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERBOY_HARVEST", "oai:cs, oai:stat")
    assert load_settings(tmp_path).harvest == ["oai:cs", "oai:stat"]
    monkeypatch.setenv("PAPERBOY_HARVEST", "/etc/passwd")
    try:
        load_settings(tmp_path)
    except ConfigError as exc:
        assert "not an OAI-PMH harvest" in str(exc)
    else:
        raise AssertionError("a harvest that is not oai: was accepted")
