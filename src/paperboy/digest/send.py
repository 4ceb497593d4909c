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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime

from paperboy.digest.compose import Digest, DigestContext, compose
from paperboy.digest.render import RenderedMail, RenderSettings, render
from paperboy.digest.schedule import announcement_day, due
from paperboy.lease import worker_name
from paperboy.periods import Period, zone
from paperboy.store.digests import Digests, digest_key
from paperboy.store.subscriptions import Subscription

log = logging.getLogger("paperboy.digest")

#: A claimed digest is another worker's for this long: far longer than composing one digest takes.
LEASE_S = 600.0


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


def make(ctx: DigestContext, sub: Subscription, period: Period, now: datetime) -> tuple[Digest, RenderedMail] | None:
    """Compose and render one digest (None: empty, not sent).  ``paperboy digest preview`` shows the same."""
    digest = compose(ctx, sub, period, now)
    if digest is None:
        return None
    return digest, render(digest, RenderSettings.from_context(ctx))


def queue_due(ctx: DigestContext, digests: Digests, now: datetime, *, clock: Callable[[], float],
              subscriptions: Iterable[Subscription] | None = None, any_hour: bool = False, day: date | None = None,
              dry_run: bool = False, worker: str | None = None, report: RunReport | None = None) -> RunReport:
    """Compose and queue every due digest once.  ``dry_run`` composes and renders but writes nothing.

    ``any_hour`` and ``day`` are :func:`paperboy.digest.schedule.due`'s (``--now`` and ``--date``).
    Readers whose hour has not come are not counted; skipped ones are: a day without an announcement (by their
    choice), a period already done or being done elsewhere, an empty digest.  Bounced, paused and unsubscribed
    readers are not active (``Subscriptions.active``), so never looked at.
    """
    worker = worker or worker_name()
    report = report if report is not None else RunReport()
    for sub in ctx.subscriptions.active(now) if subscriptions is None else subscriptions:
        try:
            when = due(sub, now, any_hour=any_hour, day=day)
        except ValueError as exc:  # a stored zone or frequency this version does not know: that reader only
            log.warning("digest for reader %s not scheduled: %s", sub.reader_id, exc)
            report.failed += 1
            continue
        if when is None:
            local_day = day or now.astimezone(zone(sub.tz)).date()
            if sub.frequency == "daily" and sub.skip_no_announcement_days and not announcement_day(local_day):
                report.skipped += 1
            continue
        if dry_run:
            _dry_run(ctx, digests, sub, when.period, now, report)
            continue
        claim = digests.claim(sub.reader_id, when.period.value, sub.email, worker, clock(), LEASE_S)
        if claim is None:
            report.skipped += 1
            continue
        try:
            made = make(ctx, sub, when.period, now)
        except Exception as exc:  # noqa: BLE001 - one reader's failure must not stop the others' digests
            log.exception("digest for reader %s, %s failed", sub.reader_id, when.period.value)
            digests.mark_failed(claim, f"{type(exc).__name__}: {exc}", clock())
            report.failed += 1
            continue
        if made is None:
            digests.mark_empty(claim, clock())
            report.skipped += 1
            continue
        digest, rendered = made
        period, at = when.period, clock()

        def record(sub: Subscription = sub, digest: Digest = digest, period: Period = period, at: float = at) -> None:
            ctx.subscriptions.record_papers(sub.reader_id, period.value, period.since.isoformat(), digest.paper_ids,
                                            at)

        if digests.freeze(claim, digest.to_json(), rendered.mail(digest_key(sub.reader_id, period.value)), at,
                          also=record):
            report.composed += 1
        else:
            report.skipped += 1  # the lease ran out mid-compose and another worker took the period over
    return report


def _dry_run(ctx: DigestContext, digests: Digests, sub: Subscription, period: Period, now: datetime,
             report: RunReport) -> None:
    row = digests.get(sub.reader_id, period.value)
    if row is not None and row.state in ("queued", "empty"):
        report.skipped += 1
        return
    try:
        made = make(ctx, sub, period, now)
    except Exception:  # noqa: BLE001 - reported like a real run's failure
        log.exception("digest for reader %s, %s failed (dry run)", sub.reader_id, period.value)
        report.failed += 1
        return
    if made is None:
        report.skipped += 1
    else:
        report.composed += 1
