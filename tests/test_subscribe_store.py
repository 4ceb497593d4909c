"""The subscriptions seam on real SQLite: confirmation creates the reader, bounces, unsubscribes, settings checks."""

from __future__ import annotations

import pytest

from paperboy.accounts import open_accounts
from paperboy.digest import open_subscriptions
from paperboy.digest.subscribe import SettingError, check_changes
from paperboy.store.accounts import Mail


def request(subs, email: str, token: bytes, now: float = 100.0) -> None:
    subs.request(email, "weekly", "Europe/Paris", token, now + 60, Mail(f"k:{token.hex()}", email, "s", "t"), now)


def test_a_request_queues_its_mail_and_confirming_creates_the_reader(store):
    subs, seams = open_subscriptions(store), open_accounts(store)
    request(subs, "a@example.org", b"1" * 32)
    assert seams.outbox.counts().pending == 1 and seams.accounts.reader_by_email("a@example.org") is None
    assert subs.request_email(b"1" * 32, 120) == "a@example.org"
    assert subs.confirm(b"1" * 32, 200) is None  # expired (100 + 60)
    request(subs, "a@example.org", b"2" * 32, now=300)
    sub = subs.confirm(b"2" * 32, 310)
    assert sub.email == "a@example.org" and sub.reader_id == seams.accounts.reader_by_email("a@example.org").id
    assert (sub.frequency, sub.tz, sub.confirmed, sub.paused) == ("weekly", "Europe/Paris", True, False)
    assert subs.confirm(b"2" * 32, 311) is None  # once only
    assert [s.reader_id for s in subs.active()] == [sub.reader_id]


def test_hard_bounces_and_complaints_stop_digests_and_a_new_confirmation_resumes_them(store):
    subs = open_subscriptions(store)
    request(subs, "b@example.org", b"3" * 32)
    sub = subs.confirm(b"3" * 32, 101)
    assert subs.mark_bounced("b@example.org", "soft", 102) is False and list(subs.active())
    assert subs.mark_bounced("b@example.org", "hard", 103) is True
    assert subs.get(sub.reader_id).bounced and list(subs.active()) == []
    assert subs.mark_bounced("nobody@example.org", "complaint", 104) is False
    assert subs.stats().bounced == 1
    request(subs, "b@example.org", b"4" * 32, now=200)
    assert not subs.confirm(b"4" * 32, 201).bounced and len(list(subs.active())) == 1
    assert subs.unsubscribe(sub.reader_id, 300) and not subs.unsubscribe(sub.reader_id, 301)
    assert list(subs.active()) == [] and subs.stats().unsubscribed == 1


def test_paused_and_hidden_readers_get_nothing(store):
    subs, accounts = open_subscriptions(store), open_accounts(store).accounts
    request(subs, "c@example.org", b"5" * 32)
    sub = subs.confirm(b"5" * 32, 101)
    subs.update(sub.reader_id, paused=True)
    assert list(subs.active()) == [] and subs.stats().paused == 1
    subs.update(sub.reader_id, paused=False)
    accounts.set_reader_hidden(sub.reader_id, True)
    assert list(subs.active()) == []


def test_settings_are_checked_before_they_reach_the_store(store):
    assert check_changes({"frequency": "weekly", "send_hour": "23", "tz": "America/New_York",
                          "categories": "cs.LG, math cs.LG", "sections": ["follows", "trending"],
                          "paused": "", "skip_no_announcement_days": "1"}) == {
        "frequency": "weekly", "send_hour": 23, "tz": "America/New_York", "categories": ("cs.LG", "math"),
        "sections": ("trending", "follows"), "paused": False, "skip_no_announcement_days": True}
    for bad in ({"frequency": "hourly"}, {"send_hour": "24"}, {"send_hour": "7am"}, {"tz": "Nowhere/Land"},
                {"categories": "cs.LG; DROP TABLE"}, {"sections": "gossip"}):
        with pytest.raises(SettingError):
            check_changes(bad)
    with pytest.raises(ValueError, match="not a subscription setting"):
        open_subscriptions(store).update(1, email="x@example.org")
