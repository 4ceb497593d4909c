"""The ``paperboy digest`` and ``paperboy cycle`` command groups (registered by :mod:`paperboy.cli`).

``digest send`` is the scheduler's digest step run once (for cron): it queues every due digest exactly once
per reader and period, then delivers the outbox; ``digest preview`` composes one reader's digest and prints
it without writing anything.  Both end with the summary line ``composed N, sent N, skipped N, failed N``.
``cycle run`` is one tick of the whole daily cycle; ``cycle status`` shows each step's last run.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import click
import orjson

from paperboy.config import Settings
from paperboy.periods import PeriodError, parse_day
from paperboy.store import Store

if TYPE_CHECKING:
    from paperboy.cli import Context
    from paperboy.cycle import BackgroundCycle, Cycle


def open_engine(settings: Settings, store: Store) -> object | None:
    """The search engine for topic sections, when this home has a lexical index (else topics are left out)."""
    if not (settings.index_dir / "lexical" / "meta.json").exists():
        return None
    from paperboy.search import SearchEngine

    return SearchEngine(settings, store, warm=False)


def _cycle(ctx: Context, *, deliver: bool = True) -> Cycle:
    from paperboy.cycle import Cycle, smtp_or_none

    smtp = smtp_or_none(ctx.settings) if deliver else None
    return Cycle(ctx.settings, ctx.store, engine=open_engine(ctx.settings, ctx.store), smtp=smtp)


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return parse_day(text, "--date")
    except PeriodError as exc:
        raise click.BadParameter(str(exc), param_hint="--date") from None


@click.group("digest")
def digest_group() -> None:
    """The daily digest: send what is due, preview a reader's, record bounces."""


@digest_group.command("send")
@click.option("--dry-run", is_flag=True, help="Compose and render, but write and send nothing.")
@click.option("--date", "day", metavar="YYYY-MM-DD", help="Send the digests of this day (or its week) for every "
              "reader, whatever their hour.")
@click.option("--now", "any_hour", is_flag=True, help="Send every reader's digest for the current period now, "
              "whatever their hour.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def digest_send(ctx: Context, dry_run: bool, day: str | None, any_hour: bool, as_json: bool) -> None:
    """Queue the digests that are due (each reader once per period) and deliver them."""
    cycle = _cycle(ctx, deliver=not dry_run)
    if cycle.smtp is None and not dry_run:
        click.echo("paperboy: mail is off (smtp_host is not set); digests wait in the outbox", err=True)
    report = cycle.send(datetime.now(UTC), any_hour=any_hour, day=_day(day), dry_run=dry_run)
    click.echo(orjson.dumps(report.as_dict()).decode() if as_json else report.line())
    if report.failed:
        raise SystemExit(1)


@digest_group.command("preview")
@click.argument("email")
@click.option("--date", "day", metavar="YYYY-MM-DD", help="The day (or its week) to compose (default: today).")
@click.option("--html", is_flag=True, help="Print the HTML part instead of the plain text.")
@click.pass_obj
def digest_preview(ctx: Context, email: str, day: str | None, html: bool) -> None:
    """Compose EMAIL's digest and print it (nothing is recorded or sent)."""
    from paperboy.accounts import InvalidEmail, normalise_email
    from paperboy.digest.compose import open_context
    from paperboy.digest.schedule import period_for
    from paperboy.digest.send import RunReport, make
    from paperboy.periods import today

    try:
        address = normalise_email(email)
    except InvalidEmail as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from None
    digest_ctx = open_context(ctx.store, ctx.settings, open_engine(ctx.settings, ctx.store))
    sub = digest_ctx.subscriptions.by_email(address)
    if sub is None:
        raise click.ClickException(f"{address} has no digest subscription")
    now = datetime.now(UTC)
    period = period_for(sub, _day(day) or today(sub.tz, now))
    report = RunReport()
    made = make(digest_ctx, sub, period, now)
    if made is None:
        report.skipped += 1
        click.echo(f"(the digest of {period.label} for {address} is empty: it would not be sent)", err=True)
    else:
        rendered = made[1]
        report.composed += 1
        click.echo(f"Subject: {rendered.subject}\n")
        click.echo(rendered.html if html else rendered.text)
    click.echo(report.line(), err=True)


@digest_group.command("bounce")
@click.argument("email")
@click.option("--kind", type=click.Choice(["hard", "soft", "complaint"]), default="hard", show_default=True)
@click.option("--detail", default="", help="What the report said (kept for the admin page).")
@click.pass_obj
def digest_bounce(ctx: Context, email: str, kind: str, detail: str) -> None:
    """Record a bounce or complaint for EMAIL; a hard bounce or complaint stops all mail to it."""
    from paperboy.accounts import InvalidEmail, normalise_email

    try:
        address = normalise_email(email)
    except InvalidEmail as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from None
    click.echo(record_bounce(ctx.store, address, kind, detail))


def record_bounce(store: Store, address: str, kind: str, detail: str = "") -> str:
    """Record a bounce (the command and the web endpoint share this); returns a sentence saying what changed."""
    from paperboy.digest.compose import open_subscriptions
    from paperboy.store.digests import open_digest_seams
    from paperboy.store.subscriptions import STOPPING_BOUNCES

    now = time.time()
    stopping = kind in STOPPING_BOUNCES
    stopped = open_subscriptions(store).mark_bounced(address, kind, now)
    dropped = open_digest_seams(store).bounces.record(address, kind, stopping, now, detail)
    if not stopping:
        return f"{kind} bounce recorded for {address}; mail continues"
    return (f"{kind} recorded for {address}: no more mail ({'digests stopped' if stopped else 'no active digest'}"
            f", {dropped} unsent mail given up)")


@click.group("cycle")
def cycle_group() -> None:
    """The daily cycle: harvest, indexes, trending, digests."""


@cycle_group.command("run")
@click.option("--harvest", "force_harvest", is_flag=True, help="Harvest now even if the last one is recent.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def cycle_run(ctx: Context, force_harvest: bool, as_json: bool) -> None:
    """Run one tick of the cycle (for cron; ``paperboy serve`` runs it every minute)."""
    ran = _cycle(ctx).tick(force_harvest=force_harvest)
    rows = [_step_json(r) for r in ran.values()]
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
    else:
        for row in rows:
            click.echo(_step_line(row))
    if any(not r.ok for r in ran.values()):
        raise SystemExit(1)


@cycle_group.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def cycle_status(ctx: Context, as_json: bool) -> None:
    """Each step's last run, duration, counts and error; who holds the scheduler lease."""
    from paperboy.cycle import SCHEDULER_LEASE, STEPS
    from paperboy.store.digests import open_digest_seams

    seams = open_digest_seams(ctx.store)
    known = {r.step: r for r in seams.cycle.all()}
    rows = [_step_json(known[s]) if s in known else {"step": s, "last_run": None} for s in STEPS]
    status = {"steps": rows, "scheduler": seams.leases.holder(SCHEDULER_LEASE, time.time()),
              "harvest": ctx.settings.harvest}
    if as_json:
        click.echo(orjson.dumps(status, option=orjson.OPT_INDENT_2).decode())
        return
    for row in rows:
        click.echo(_step_line(row))
    harvests = ", ".join(ctx.settings.harvest) or "none"
    click.echo(f"scheduler: {status['scheduler'] or 'not running'}; harvests: {harvests}")


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts else None


def _step_json(run: object) -> dict:
    from paperboy.store.digests import StepRun

    assert isinstance(run, StepRun)
    return {"step": run.step, "last_run": _iso(run.started_at), "finished": _iso(run.finished_at),
            "duration_s": None if run.duration_s is None else round(run.duration_s, 3), "ok": run.ok,
            "counts": run.counts, "error": run.error, "failures": run.failures,
            "retry_at": _iso(run.next_attempt_at), "last_success": _iso(run.last_success_at)}


def _step_line(row: dict) -> str:
    if row.get("last_run") is None:
        return f"{row['step']:<9} never run"
    state = "ok" if row["ok"] else f"FAILED ({row['failures']} in a row): {row['error']}"
    counts = ", ".join(f"{k} {v}" for k, v in row["counts"].items())
    return f"{row['step']:<9} {row['last_run']}  {row['duration_s']} s  {state}{'  ' + counts if counts else ''}"


def start_scheduler(settings: Settings, store: Store) -> BackgroundCycle:
    """The background cycle for ``paperboy serve`` (one scheduler among all processes: a database lease)."""
    from paperboy.cycle import BackgroundCycle, Cycle

    # Delivery stays with the server's outbox sender (one per server); the cycle only queues.
    return BackgroundCycle(Cycle(settings, store, engine=open_engine(settings, store))).start()
