"""The ``paperboy user`` and ``paperboy mail`` command groups (registered by :mod:`paperboy.cli`).

A module of their own so the main CLI stays small; they receive the CLI's lazily opened settings and store
(``paperboy.cli.Context``) as the click context object.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click
import orjson

from paperboy.accounts import AccountService, InvalidEmail, open_accounts
from paperboy.config import ConfigError, Settings
from paperboy.store import Store

if TYPE_CHECKING:
    from paperboy.cli import Context
    from paperboy.mail import BackgroundSender


def _service(ctx: Context) -> AccountService:
    return AccountService(open_accounts(ctx.store), ctx.settings)


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts else None


@click.group("user")
def user_group() -> None:
    """Readers: add them (and admins), give them API tokens, list them."""


@user_group.command("add")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Make the reader an admin (able to hide papers and readers).")
@click.pass_obj
def user_add(ctx: Context, email: str, admin: bool) -> None:
    """Add the reader EMAIL (or promote an existing one with --admin)."""
    try:
        reader = _service(ctx).add_reader(email, is_admin=admin)
    except InvalidEmail as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from None
    click.echo(f"reader {reader.id}: {reader.email}{' (admin)' if reader.is_admin else ''}")


@user_group.command("token")
@click.argument("email")
@click.option("--name", default="cli", show_default=True, help="A label to recognise the token by.")
@click.pass_obj
def user_token(ctx: Context, email: str, name: str) -> None:
    """Create an API token for EMAIL and print it (once: only its hash is kept)."""
    service = _service(ctx)
    try:
        reader = service.reader(email)
    except InvalidEmail as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from None
    if reader is None:
        raise click.ClickException(f"no reader {email!r}: add one with `paperboy user add EMAIL`")
    token, secret = service.create_token(reader, name)
    click.echo(f"token {token.id} ({token.name}) for {reader.email}; use it as 'Authorization: Bearer TOKEN'. "
               "It is shown only now:", err=True)
    click.echo(secret)


@user_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def user_list(ctx: Context, as_json: bool) -> None:
    """List readers."""
    readers = open_accounts(ctx.store).accounts.readers()
    rows = [{"id": r.id, "email": r.email, "is_admin": r.is_admin, "hidden": r.hidden, "created": _iso(r.created_at)}
            for r in readers]
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    for row in rows:
        flags = ", ".join(f for f in ("admin" if row["is_admin"] else "", "hidden" if row["hidden"] else "") if f)
        click.echo(f"{row['id']:>6}  {row['email']}{f'  ({flags})' if flags else ''}  since {row['created']}")
    if not rows:
        click.echo("no readers yet", err=True)


@click.group("mail")
def mail_group() -> None:
    """The mail outbox."""


@mail_group.command("send-pending")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def mail_send_pending(ctx: Context, as_json: bool) -> None:
    """Deliver the mail that is due now, once, and exit (``paperboy serve`` does this in the background)."""
    from paperboy.mail import SmtpConfig, send_pending

    try:
        cfg = SmtpConfig.from_settings(ctx.settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    outbox = open_accounts(ctx.store).outbox
    report = send_pending(outbox, cfg)
    counts = outbox.counts()
    summary = {"sent": report.sent, "retrying": report.retried, "failed": report.failed, "pending": counts.pending}
    if as_json:
        click.echo(orjson.dumps(summary).decode())
    else:
        click.echo(", ".join(f"{k} {v}" for k, v in summary.items()))


def start_mail_sender(settings: Settings, store: Store) -> BackgroundSender | None:
    """The background sender for ``paperboy serve``, or None (with a note) when SMTP is not configured."""
    from paperboy.mail import BackgroundSender, SmtpConfig

    try:
        cfg = SmtpConfig.from_settings(settings)
    except ConfigError as exc:
        click.echo(f"paperboy: mail is off ({exc}); sign-in links wait in the outbox", err=True)
        return None
    seams = open_accounts(store)
    return BackgroundSender(seams.outbox, cfg, housekeeping=AccountService(seams, settings).purge).start()
