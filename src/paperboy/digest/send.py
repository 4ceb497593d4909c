"""Exactly-once digests: claim (reader, period), compose, freeze and queue in one transaction, deliver.

The sequence for each due reader (see :mod:`paperboy.store.digests` for why a row per (reader, period)):

1. **claim** the row under a lease: a second scheduler, or this one after a restart, finds it taken or done;
2. **compose** outside any transaction (it reads the store, trending and the index); an empty digest is marked
   ``empty`` and not sent; an error releases the claim to be tried again by a later round;
3. **freeze**: the composed content, the papers it gives the reader (never repeated later) and the outbox mail
   with key ``digest:{reader}:{period}`` are written in one transaction — the Message-ID derives from that key;
4. **deliver** through the outbox sender (:func:`paperboy.mail.send_pending`), which marks the row sent right
   after the server's 250, retries with backoff, and gives up on permanent refusals.

A kill before step 3 commits loses only the composing (the lease runs out, a later round composes again); a
kill after it leaves a queued mail that the outbox sends once.  The one duplicate SMTP allows — killed between
the server's acceptance and our record — carries the same Message-ID.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from paperboy.digest.schedule import Schedulable, announcement_day, due
from paperboy.periods import Period, zone
from paperboy.store.accounts import Mail
from paperboy.store.digests import Bounces, Digests, digest_key

log = logging.getLogger("paperboy.digest")

#: A claimed digest is another worker's for this long: far longer than composing one digest takes.
LEASE_S = 600.0


class Subscriber(Schedulable, Protocol):
    """A subscription as the sender needs it: the schedule's fields plus the address."""

    email: str


@dataclass(frozen=True, slots=True)
class Rendered:
    """A composed digest ready for the outbox: its frozen JSON, the paper ids it gives, and the message parts."""

    content: str
    papers: list[str]
    subject: str
    text: str
    html: str | None
    headers: tuple[tuple[str, str], ...]


#: Compose and render one reader's digest for a period at ``now``; None when it would be empty (not sent).
Maker = Callable[[Any, Period, datetime], Rendered | None]


@dataclass(slots=True)
class RunReport:
    """What one round did; ``line()`` is the summary both ``paperboy digest`` commands print."""

    composed: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0

    def line(self) -> str:
        return f"composed {self.composed}, sent {self.sent}, skipped {self.skipped}, failed {self.failed}"

    def as_dict(self) -> dict:
        return {"composed": self.composed, "sent": self.sent, "skipped": self.skipped, "failed": self.failed}


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def queue_due(digests: Digests, bounces: Bounces, subscriptions: Iterable[Subscriber], make: Maker,
              now: datetime, *, clock: Callable[[], float], any_hour: bool = False, day: date | None = None,
              dry_run: bool = False, worker: str | None = None, report: RunReport | None = None) -> RunReport:
    """Compose and queue every due digest once.  ``dry_run`` composes and renders but writes nothing.

    ``any_hour`` and ``day`` are :func:`paperboy.digest.schedule.due`'s (``--now`` and ``--date``).
    Readers whose hour has not come are not counted; skipped ones are: a day without an announcement (by their
    choice), a stopped address, a period already done or being done elsewhere, an empty digest.
    """
    worker = worker or worker_name()
    report = report if report is not None else RunReport()
    for sub in subscriptions:
        when = due(sub, now, any_hour=any_hour, day=day)
        if when is None:
            local_day = day or now.astimezone(zone(sub.tz)).date()
            if sub.frequency == "daily" and sub.skip_no_announcement_days and not announcement_day(local_day):
                report.skipped += 1
            continue
        if bounces.stopped(sub.email):
            report.skipped += 1
            continue
        if dry_run:
            _dry_run(digests, sub, when.period, make, now, report)
            continue
        claim = digests.claim(sub.reader_id, when.period.value, sub.email, worker, clock(), LEASE_S)
        if claim is None:
            report.skipped += 1
            continue
        try:
            rendered = make(sub, when.period, now)
        except Exception as exc:  # noqa: BLE001 - one reader's failure must not stop the others' digests
            log.exception("digest for reader %s, %s failed", sub.reader_id, when.period.value)
            digests.mark_failed(claim, f"{type(exc).__name__}: {exc}", clock())
            report.failed += 1
            continue
        if rendered is None:
            digests.mark_empty(claim, clock())
            report.skipped += 1
            continue
        mail = Mail(key=digest_key(sub.reader_id, when.period.value), recipient=sub.email, subject=rendered.subject,
                    text=rendered.text, html=rendered.html, headers=rendered.headers)
        if digests.freeze(claim, rendered.content, rendered.papers, mail, clock()):
            report.composed += 1
        else:
            report.skipped += 1  # the lease ran out mid-compose and another worker took the period over
    return report


def _dry_run(digests: Digests, sub: Subscriber, period: Period, make: Maker, now: datetime,
             report: RunReport) -> None:
    row = digests.get(sub.reader_id, period.value)
    if row is not None and row.state in ("queued", "empty"):
        report.skipped += 1
        return
    try:
        rendered = make(sub, period, now)
    except Exception:  # noqa: BLE001 - reported like a real run's failure
        log.exception("digest for reader %s, %s failed (dry run)", sub.reader_id, period.value)
        report.failed += 1
        return
    if rendered is None:
        report.skipped += 1
    else:
        report.composed += 1
