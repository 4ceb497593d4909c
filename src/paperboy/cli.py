"""The ``paperboy`` command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from paperboy.config import ConfigError, Settings, load_settings
from paperboy.ingest import FORMATS, HarvestOptions, StrictError, ingest, open_sources
from paperboy.sources.base import SourceError
from paperboy.store import Store, open_store


class Context:
    """Lazily opened settings and store shared by the sub-commands."""

    def __init__(self, home: Path | None) -> None:
        self._home = home
        self._settings: Settings | None = None
        self._store: Store | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self._home)
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from exc
        return self._settings

    @property
    def store(self) -> Store:
        if self._store is None:
            try:
                self._store = open_store(self.settings.database_url)
            except ValueError as exc:
                raise click.ClickException(str(exc)) from exc
        return self._store


pass_ctx = click.make_pass_decorator(Context)


def echo_json(value: object) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


@click.group()
@click.option("--home", type=click.Path(path_type=Path), envvar="PAPERBOY_HOME",
              help="Data folder (default: $PAPERBOY_HOME or ~/.local/share/paperboy).")
@click.version_option(package_name="paperboy")
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """paperboy: find, search and follow research papers."""
    ctx.obj = Context(home)


@main.command("ingest")
@click.argument("sources", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True)
@click.option("--strict", is_flag=True, help="Stop at the first rejected record.")
@click.option("--from", "from_date", help="oai: harvest records changed on or after YYYY-MM-DD.")
@click.option("--until", help="oai: harvest records changed on or before YYYY-MM-DD.")
@click.option("--metadata-prefix", type=click.Choice(["arXiv", "arXivRaw"]), default="arXiv", show_default=True)
@click.option("--restart", is_flag=True, help="oai: ignore a saved resumption point and start over.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_ctx
def ingest_command(ctx: Context, sources: tuple[str, ...], fmt: str, strict: bool, from_date: str | None,
                   until: str | None, metadata_prefix: str, restart: bool, as_json: bool) -> None:
    """Ingest papers from SOURCES: files, globs, - (stdin), oai:[SET], arxiv:ID, arxiv-search:QUERY, rss:CATEGORY.

    Files may be arXiv .abs files, listing files, folders or tar archives of them, arXiv
    metadata snapshots (JSON Lines, plain or gzipped) or generic JSON Lines.
    """
    from tqdm import tqdm

    store = ctx.store
    harvest = HarvestOptions(from_date, until, metadata_prefix, restart)
    try:
        records = open_sources(list(sources), fmt=fmt, settings=ctx.settings, store=store, harvest=harvest)
        with tqdm(unit=" records", file=sys.stderr, disable=None, desc="ingest") as bar:
            summary = ingest(store, records, batch_size=ctx.settings.batch_size, strict=strict, progress=bar.update)
    except StrictError as exc:
        raise click.ClickException(f"rejected record (--strict): {exc}") from exc
    except SourceError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        echo_json(summary.as_dict())
    else:
        for r in summary.rejects:
            click.echo(f"rejected: {r.source}: {r.location}: {r.reason}", err=True)
        if summary.rejected > len(summary.rejects):
            click.echo(f"... and {summary.rejected - len(summary.rejects):,} more rejects (see `paperboy rejects`)",
                       err=True)
        click.echo(summary.line())


@main.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def stats(ctx: Context, as_json: bool) -> None:
    """Counts: papers, versions, rejects, by category and by month."""
    s = ctx.store.stats()
    if as_json:
        echo_json(s)
        return
    for key in ("papers", "with_abstract", "arxiv_papers", "versions", "source_records", "withdrawn", "rejects"):
        click.echo(f"{key:>15}: {s[key]:,}")
    click.echo("top categories: " + ", ".join(f"{c} {n:,}" for c, n in list(s["by_category"].items())[:10]))
    months = s["by_month"]
    if months:
        click.echo(f"months: {min(months)} .. {max(months)} ({len(months)} distinct)")


@main.command()
@click.argument("ident")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def show(ctx: Context, ident: str, as_json: bool) -> None:
    """Show one paper by id, arXiv id, DOI or source id."""
    found = ctx.store.get(ident)
    if found is None:
        raise click.ClickException(f"no paper {ident!r}")
    p = found.paper
    if as_json:
        echo_json(p.to_dict())
        return
    click.echo(f"{p.id}  v{p.version or 1}  {' '.join(p.categories)}")
    click.echo(p.title)
    click.echo(", ".join(a.name for a in p.authors))
    click.echo(f"submitted {p.submitted}  updated {p.updated}" + (f"  doi:{p.doi}" if p.doi else ""))
    if p.abstract:
        click.echo("")
        click.echo(p.abstract)


@main.command()
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def rejects(ctx: Context, limit: int, as_json: bool) -> None:
    """List the most recent rejected records with where they came from and why."""
    items = ctx.store.rejects(limit)
    if as_json:
        echo_json([{"source": r.source, "location": r.location, "reason": r.reason, "raw": r.raw} for r in items])
        return
    for r in items:
        click.echo(f"{r.source}: {r.location}: {r.reason}")
