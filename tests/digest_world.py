"""A small real world for the delivery tests: papers, upvotes (so trending has something), confirmed subscribers.

Everything goes through the real seams: papers through ``write_batch``, votes through the events store,
subscriptions through the double opt-in request and its confirmation.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

from paperboy.digest.compose import open_subscriptions
from paperboy.events import open_signals
from paperboy.papers import Paper, finish
from paperboy.store.accounts import Mail
from paperboy.store.events import Kind
from paperboy.store.subscriptions import Subscription


def add_trending_papers(store, n: int, at: datetime, title: str = "Paper number {i}") -> list[int]:
    """``n`` papers, each upvoted at ``at`` (fewer votes for later ones, so the ranking is stable)."""
    papers = [finish(Paper(id=f"2611.{i:05d}", title=title.format(i=i), abstract=f"Abstract {i}. " * 5,
                           submitted=date(2026, 11, 1), categories=["cs.LG"], source="test")) for i in range(n)]
    store.write_batch(papers, [])
    events = open_signals(store).events
    pids = [store.get(p.id).pid for p in papers]
    for rank, pid in enumerate(pids):
        for voter in range(n - rank):
            events.set_mark(10_000 + voter, pid, Kind.UPVOTE, True, at)
    return pids


def subscribe(store, email: str, now: float, **settings: object) -> Subscription:
    """A confirmed subscription for ``email`` (request, then confirm), with ``settings`` applied."""
    subs = open_subscriptions(store)
    token = hashlib.sha256(email.encode()).digest()
    mail = Mail(key=f"confirm-test:{email}", recipient=email, subject="confirm", text="confirm")
    subs.request(email, str(settings.pop("frequency", "daily")), str(settings.pop("tz", "UTC")), token, now + 3600,
                 mail, now)
    sub = subs.confirm(token, now)
    assert sub is not None
    # The test's stand-in confirmation mail is not what these tests deliver: leave the outbox to the digests.
    store.db.execute("DELETE FROM outbox WHERE key=?", (mail.key,))
    if settings:
        sub = subs.update(sub.reader_id, **settings)
        assert sub is not None
    return sub


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
