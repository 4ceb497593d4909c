"""The daily cycle: harvest → indexes → trending → due digests, each step resumable and logged.

Why this order and these rules: a digest of stale papers is worthless, so new papers are harvested and indexed
before digests are composed; but a failed harvest (arXiv down, network gone) must never block the digests of
what is already there, so each step runs on its own, records its outcome in the cycle log
(``paperboy cycle status``), and a failed harvest is retried with backoff on later ticks.

Every step resumes after a crash by construction: a harvest restarts from its last committed OAI-PMH page
(the checkpoint is keyed by the ``from`` date, which only moves after a complete harvest), indexing catches up
from the store's change sequence, trending is maintained on write (the step records its state), and digests
are exactly-once per (reader, period) rows (:mod:`paperboy.digest.send`).

``paperboy serve`` runs :class:`BackgroundCycle` (one scheduler among all processes, by a database lease);
``paperboy cycle run`` runs one tick for cron.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from paperboy.config import ConfigError, Settings
from paperboy.digest.compose import DigestContext, open_context
from paperboy.digest.send import RunReport, queue_due
from paperboy.lease import Lease
from paperboy.store.base import Store
from paperboy.store.digests import DigestSeams, StepRun, open_digest_seams

if TYPE_CHECKING:
    from paperboy.mail import SmtpConfig

log = logging.getLogger("paperboy.cycle")

STEPS = ("harvest", "index", "trending", "digests")
RETRY_BASE_S = 300.0  # a failed harvest waits 5 min, then 10, 20, ... capped at 2 h
RETRY_CAP_S = 7200.0
SCHEDULER_LEASE = "scheduler"


def retry_after(failures: int) -> float:
    """Seconds before retrying a step that failed ``failures`` times in a row."""
    return min(RETRY_CAP_S, RETRY_BASE_S * 2 ** max(0, failures - 1))


def harvest_state_key(spec: str) -> str:
    """The store state holding the ``from`` date the next harvest of ``spec`` starts at."""
    return f"cycle:harvest-from:{spec}"


class Cycle:
    """One home's cycle.  ``tick()`` runs every step that is due; each step is also callable on its own."""

    def __init__(self, settings: Settings, store: Store, *, engine: object | None = None,
                 smtp: SmtpConfig | None = None, clock: Callable[[], float] = time.time) -> None:
        self.settings, self.store, self.engine, self.smtp, self.clock = settings, store, engine, smtp, clock
        self.seams: DigestSeams = open_digest_seams(store)
        self.ctx: DigestContext = open_context(store, settings, engine)

    def tick(self, *, force_harvest: bool = False) -> dict[str, StepRun]:
        """Run the steps in order; a failing step is logged and the next one still runs."""
        ran: dict[str, StepRun] = {}
        if self.settings.harvest and (force_harvest or self.harvest_due()):
            ran["harvest"] = self._step("harvest", self._harvest, retry=True)
        if self.index_due():
            ran["index"] = self._step("index", self._index)
        ran["trending"] = self._step("trending", self._trending)
        ran["digests"] = self._step("digests", self._digests)
        return ran

    def harvest_due(self) -> bool:
        """Harvests run every ``harvest_interval_h`` hours after a success, or at the retry time after a failure."""
        last = self.seams.cycle.get("harvest")
        now = self.clock()
        if last is None or last.finished_at is None:
            return True
        if not last.ok:
            return now >= last.next_attempt_at
        return now - (last.last_success_at or 0) >= self.settings.harvest_interval_h * 3600

    def index_due(self) -> bool:
        """Indexing runs when the store changed since the last successful run (opening indexes is not free)."""
        last = self.seams.cycle.get("index")
        return last is None or not last.ok or last.counts.get("seq") != self.store.max_seq()

    def harvest_note(self) -> str | None:
        """A sentence for the digest when the harvest is behind (its last run failed), else None."""
        last = self.seams.cycle.get("harvest")
        if last is None or last.ok is not False:
            return None
        when = (datetime.fromtimestamp(last.last_success_at, UTC).strftime("%-d %B %Y %H:%M UTC")
                if last.last_success_at else "never")
        return f"New papers could not be fetched from arXiv lately (last success: {when}); this digest may miss some."

    def _step(self, name: str, body: Callable[[], dict], *, retry: bool = False) -> StepRun:
        cycle = self.seams.cycle
        cycle.started(name, self.clock())
        try:
            counts = body()
        except Exception as exc:  # noqa: BLE001 - a failed step is recorded; the cycle goes on
            log.exception("cycle step %s failed", name)
            failures = (cycle.get(name) or StepRun(name, None, None, None, None)).failures + 1
            now = self.clock()
            return cycle.finished(name, now, ok=False, counts={}, error=f"{type(exc).__name__}: {exc}",
                                  retry_at=now + retry_after(failures) if retry else 0.0)
        return cycle.finished(name, self.clock(), ok=True, counts=counts, error=None)

    def _harvest(self) -> dict:
        from paperboy.ingest import HarvestOptions, open_sources
        from paperboy.pipeline import run

        counts = {"added": 0, "updated": 0, "unchanged": 0, "rejected": 0}
        for spec in self.settings.harvest:
            key = harvest_state_key(spec)
            started = datetime.fromtimestamp(self.clock(), UTC).date().isoformat()
            from_date = (self.store.get_state(key) or {}).get("from")
            records = open_sources([spec], fmt="auto", settings=self.settings, store=self.store,
                                   harvest=HarvestOptions(from_date=from_date))
            report = run(self.settings, self.store, records, index="none")
            assert report.ingest is not None
            for k, v in report.ingest.as_dict().items():
                counts[k] += v
            # Only a complete harvest moves the start of the next one (a day of overlap: re-ingest is free).
            self.store.set_state(key, {"from": started})
        return counts

    def _index(self) -> dict:
        from paperboy.pipeline import run

        seq = self.store.max_seq()  # read first: papers written while indexing make the next tick index again
        scope = "all" if (self.settings.index_dir / "vectors").exists() else "existing-lexical"
        report = run(self.settings, self.store, None, index=scope)
        if report.index_busy:
            raise RuntimeError(report.index_busy)
        if report.index is None:
            return {"indexed": 0, "scope": "none (no index in this home yet)", "seq": seq}
        return {"lexical": report.index.lexical, "vectors": report.vectors, "seq": seq}

    def _trending(self) -> dict:
        from paperboy.events import open_signals
        from paperboy.trending import period_bounds

        # Trending is kept on write (paperboy.store.sqlite_events): nothing to recompute, only to report.
        events = open_signals(self.store).events
        today = datetime.fromtimestamp(self.clock(), UTC).date()
        return {"events_version": events.version(),
                "ranked_today": events.period_size("day", period_bounds("day", today)[0])}

    def _digests(self) -> dict:
        report = self.send(datetime.fromtimestamp(self.clock(), UTC))
        return report.as_dict()

    def send(self, now: datetime, *, any_hour: bool = False, day: date | None = None,
             dry_run: bool = False) -> RunReport:
        """Queue every due digest, then deliver the outbox (when SMTP is configured and not ``dry_run``)."""
        self.ctx.refresh_hidden()
        self.ctx.notice = self.harvest_note()
        report = queue_due(self.ctx, self.seams.digests, now, clock=self.clock, any_hour=any_hour, day=day,
                           dry_run=dry_run)
        if dry_run or self.smtp is None:
            return report
        from paperboy.accounts import open_accounts
        from paperboy.mail import send_pending

        before = self.seams.digests.sent_total()
        delivered = send_pending(open_accounts(self.store).outbox, self.smtp, clock=self.clock)
        report.failed += delivered.failed
        report.sent = self.seams.digests.sent_total() - before
        return report


def smtp_or_none(settings: Settings) -> SmtpConfig | None:
    """The SMTP settings, or None when mail is not configured (digests then wait in the outbox)."""
    from paperboy.mail import SmtpConfig

    try:
        return SmtpConfig.from_settings(settings)
    except ConfigError:
        return None


class BackgroundCycle:
    """A daemon thread ticking the cycle every ``interval`` seconds while it holds the scheduler lease."""

    def __init__(self, cycle: Cycle, interval: float = 60.0) -> None:
        self.cycle, self.interval = cycle, interval
        self.lease = Lease(cycle.seams.leases, SCHEDULER_LEASE, ttl_s=max(180.0, interval * 3), clock=cycle.clock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="paperboy-scheduler", daemon=True)

    def start(self) -> BackgroundCycle:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.lease.release()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.lease.hold():
                    self.cycle.tick()
            except Exception:  # noqa: BLE001 - a busy database must not end the scheduler for good
                log.exception("scheduler tick failed")
            self._stop.wait(self.interval)
