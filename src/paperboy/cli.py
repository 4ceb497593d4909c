"""The ``paperboy`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
import orjson

from paperboy.cli_digest import cycle_group, digest_group, start_scheduler
from paperboy.cli_readers import mail_group, start_mail_sender, user_group
from paperboy.config import ConfigError, Settings, load_settings
from paperboy.ingest import FORMATS, HarvestOptions, StrictError, open_sources
from paperboy.sources.base import SourceError
from paperboy.store import Store, StoreFull, open_store

if TYPE_CHECKING:  # pragma: no cover - typing only; the pipeline pulls in the index libraries
    from paperboy.pipeline import PipelineReport


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


main.add_command(user_group)
main.add_command(mail_group)
main.add_command(digest_group)
main.add_command(cycle_group)


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
    store = ctx.store
    harvest = HarvestOptions(from_date, until, metadata_prefix, restart)
    try:
        records = open_sources(list(sources), fmt=fmt, settings=ctx.settings, store=store, harvest=harvest)
        report = _run_pipeline(ctx, records, index="existing-lexical", strict=strict)
    except StrictError as exc:
        raise click.ClickException(f"rejected record (--strict): {exc}") from exc
    except SourceError as exc:
        raise click.ClickException(str(exc)) from exc
    except StoreFull as exc:
        raise click.ClickException(f"{exc}. The batch being written was rolled back; everything committed before it "
                                   "is kept. Free some space and run the same command again to continue.") from exc
    summary = report.ingest
    assert summary is not None  # records were given
    if as_json:
        echo_json(summary.as_dict())
    else:
        for r in summary.rejects:
            click.echo(f"rejected: {r.source}: {r.location}: {r.reason}", err=True)
        if summary.rejected > len(summary.rejects):
            click.echo(f"... and {summary.rejected - len(summary.rejects):,} more rejects (see `paperboy rejects`)",
                       err=True)
        click.echo(summary.line())
    if report.index_busy:
        click.echo("note: the search index is busy; it will catch up at the next `paperboy index`", err=True)


@main.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def stats(ctx: Context, as_json: bool) -> None:
    """Counts: papers, versions, rejects, by category and by month."""
    s = ctx.store.stats()
    if as_json:
        echo_json(s.as_dict())
        return
    for key in ("papers", "with_abstract", "arxiv_papers", "versions", "source_records", "withdrawn", "rejects"):
        click.echo(f"{key:>15}: {getattr(s, key):,}")
    click.echo("top categories: " + ", ".join(f"{c} {n:,}" for c, n in list(s.by_category.items())[:10]))
    months = s.by_month
    if months:
        click.echo(f"months: {min(months)} .. {max(months)} ({len(months)} distinct)")


@main.command()
@click.argument("ident")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def show(ctx: Context, ident: str, as_json: bool) -> None:
    """Show one paper by id, arXiv id, DOI or source id."""
    from paperboy.papers import display_date

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
    click.echo(f"listed {display_date(p) or 'without a date'}  updated {p.updated or '-'}"
               + (f"  doi:{p.doi}" if p.doi else ""))
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


# -- indexes, search, evaluation ---------------------------------------------------------------------------------


def _open_indexes(ctx: Context, embed: bool = True) -> object:
    from paperboy.index import Indexes

    return Indexes(ctx.settings, embed=embed)


def _catch_up_lexical(ctx: Context, indexes: object) -> None:
    """Bring the lexical index up to date before answering (cheap after ingest; skipped if another process writes)."""
    from paperboy.index import LexicalBusy
    from paperboy.pipeline import update_indexes

    try:
        update_indexes(indexes, ctx.store, embed=False)  # type: ignore[arg-type]
    except LexicalBusy as exc:
        click.echo(f"note: {exc}; searching the index as it is", err=True)


def _run_pipeline(ctx: Context, records: object, **options: object) -> PipelineReport:
    """:func:`paperboy.pipeline.run` with progress on stderr; Ctrl-C says what was kept and exits with 130."""
    from paperboy.pipeline import PipelineInterrupted, run
    from paperboy.progress import ProgressReporter

    reporter = ProgressReporter()
    try:
        return run(ctx.settings, ctx.store, records, progress=reporter, **options)  # type: ignore[arg-type]
    except PipelineInterrupted as exc:
        reporter.close()
        click.echo(exc.kept(), err=True)
        raise click.exceptions.Exit(130) from None
    finally:
        reporter.close()


@main.command("index")
@click.option("--no-embed", is_flag=True, help="Only the lexical index (skip embeddings).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def index_command(ctx: Context, no_embed: bool, as_json: bool) -> None:
    """Build or update the search indexes (lexical, embeddings, vectors) from the store; incremental.

    Shows progress (counts, rate, ETA) on stderr; the vectors are checkpointed every `index_checkpoint_s` seconds,
    and on Ctrl-C, so a stopped run resumes where it was.
    """
    from paperboy.index import Indexes

    indexes = Indexes(ctx.settings, embed=not no_embed)
    try:
        report = _run_pipeline(ctx, None, index="lexical" if no_embed else "all", indexes=indexes)
        if report.index_busy:
            raise click.ClickException(report.index_busy)
        sync = report.index
        assert sync is not None  # indexing ran
        if as_json:
            echo_json({"lexical": sync.lexical, "embedded": sync.embedded, "unchanged": sync.skipped_unchanged,
                       "embed_error": sync.embed_error, "papers_indexed": indexes.lexical.num_docs})
        else:
            click.echo(sync.line())
    finally:
        indexes.close()


def _hit_dict(h: object) -> dict:
    p = h.paper  # type: ignore[attr-defined]
    return {"id": p.id, "pid": h.pid, "title": p.title, "score": h.score, "why": h.why,  # type: ignore[attr-defined]
            "authors": [a.name for a in p.authors], "categories": p.categories,
            "submitted": p.submitted.isoformat() if p.submitted else None,
            "highlights": {k: [list(s) for s in v] for k, v in h.highlights.items()}}  # type: ignore[attr-defined]


def _echo_hits(hits: list, offset: int = 0) -> None:
    for i, h in enumerate(hits, start=offset + 1):
        p = h.paper
        meta = " ".join(x for x in (p.id, p.submitted.isoformat() if p.submitted else "", " ".join(p.categories[:3]))
                        if x)
        click.echo(f"{i:>3}. {p.title}")
        authors = ", ".join(a.name for a in p.authors[:4]) + (" et al." if len(p.authors) > 4 else "")
        click.echo(f"     {meta}" + (f"  {authors}" if authors else ""))
        click.echo(f"     {h.why}  (score {h.score:.4f})")


@main.command("search")
@click.argument("query", required=False, default="")
@click.option("--category", help="Category or prefix: cs, cs.LG.")
@click.option("--since", help="First submitted on or after YYYY-MM-DD.")
@click.option("--until", help="First submitted on or before YYYY-MM-DD.")
@click.option("--author", help="Author name words (all must match one author).")
@click.option("--venue", help="Venue or journal words (ICLR, Phys. Rev. D).")
@click.option("--mode", default="hybrid", show_default=True, help="hybrid, lexical or dense.")
@click.option("--sort", default="relevance", show_default=True, help="relevance or newest.")
@click.option("--limit", type=int, default=10, show_default=True, help="Results, 1 to 100 (as in the API).")
@click.option("--offset", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="The JSON the API's /api/v1/search returns.")
@pass_ctx
def search_command(ctx: Context, query: str, category: str | None, since: str | None, until: str | None,
                   author: str | None, venue: str | None, mode: str, sort: str, limit: int, offset: int,
                   as_json: bool) -> None:
    """Search papers: words, "phrases", +required, -excluded; an arXiv id, DOI or exact title comes first.

    Parameters are checked exactly as the web API checks them (same limits, same messages)."""
    from paperboy.query import QueryError
    from paperboy.search import SearchEngine
    from paperboy.web.errors import WebError
    from paperboy.web.params import search_params
    from paperboy.web.shapes import jsonable
    from paperboy.web.views import search_data

    try:
        p = search_params(query, category, since, until, author, sort, mode, limit, offset, require_query=False,
                          venue=venue)
        request = p.request()
        indexes = _open_indexes(ctx)
        _catch_up_lexical(ctx, indexes)
        res = SearchEngine(ctx.settings, ctx.store, indexes=indexes).search(request)
    except WebError as exc:
        raise click.ClickException(exc.message) from exc
    except QueryError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        base = ctx.settings.base_url or f"http://{ctx.settings.host}:{ctx.settings.port}"
        echo_json(jsonable(search_data(p, res), base))
        return
    if res.notice:
        click.echo(f"note: {res.notice}", err=True)
    click.echo(f"about {res.total:,} results ({res.mode_used}, {res.took_ms:.1f} ms)")
    _echo_hits(res.hits, res.request.offset)


@main.command("similar")
@click.argument("ident")
@click.option("--limit", type=int, default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def similar_command(ctx: Context, ident: str, limit: int, as_json: bool) -> None:
    """Papers similar to IDENT (id, arXiv id or DOI), from the stored vectors."""
    from paperboy.search import SearchEngine

    if ctx.store.get(ident) is None:
        raise click.ClickException(f"no paper {ident!r}")
    indexes = _open_indexes(ctx)
    _catch_up_lexical(ctx, indexes)
    hits = SearchEngine(ctx.settings, ctx.store, indexes=indexes).similar(ident, limit=limit)
    if as_json:
        echo_json([_hit_dict(h) for h in hits])
        return
    _echo_hits(hits)


@main.command("eval")
@click.option("--beir", "beir_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="A BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.")
@click.option("--split", default="test", show_default=True)
@click.option("--mode", type=click.Choice(["lexical", "dense", "hybrid", "all"]), default="all", show_default=True)
@click.option("--no-cache", is_flag=True, help="Do not read or write cached corpus vectors.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def eval_command(ctx: Context, beir_dir: Path, split: str, mode: str, no_cache: bool, as_json: bool) -> None:
    """Retrieval quality (nDCG@10, Recall@100, MRR@10) on a BEIR folder, through the production search path."""
    from paperboy.evaluate import MODES, EvalError, evaluate_beir
    from paperboy.progress import ProgressReporter

    modes = MODES if mode == "all" else (mode,)
    cache = None if no_cache else ctx.settings.home / "cache"
    reporter = ProgressReporter(units={"queries": "queries"})

    def say(message: str) -> None:
        reporter.close()
        click.echo(message, err=True)

    try:
        results = evaluate_beir(beir_dir, split, modes, cache_dir=cache, progress=say, meter=reporter)
    except EvalError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        say("interrupted: corpus vectors embedded so far are cached; run the same command again to reuse them.")
        raise click.exceptions.Exit(130) from None
    finally:
        reporter.close()
    if as_json:
        echo_json(results)
        return
    click.echo(f"{'mode':<8} {'nDCG@10':>8} {'R@100':>8} {'MRR@10':>8}   ({beir_dir}, split {split})")
    for m, r in results.items():
        click.echo(f"{m:<8} {r['ndcg@10']:>8.4f} {r['recall@100']:>8.4f} {r['mrr@10']:>8.4f}")


@main.command("serve")
@click.option("--host", default=None, help="Interface to listen on (default: the `host` setting, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: the `port` setting, 8000).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes (each loads its own indexes and model).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
@click.option("--no-access-log", is_flag=True, help="Do not write one JSON line per request to stderr.")
@pass_ctx
def serve_command(ctx: Context, host: str | None, port: int | None, workers: int, log_level: str,
                  no_access_log: bool) -> None:
    """Serve the web site, JSON API and feeds (uvicorn; stops gracefully on Ctrl-C / SIGTERM)."""
    from paperboy.web.app import serve

    settings = ctx.settings
    ctx.store  # noqa: B018 - open (and migrate) the store once before the workers start
    click.echo(f"paperboy: serving {settings.home} on http://{host or settings.host}:"
               f"{settings.port if port is None else port}/", err=True)
    sender = start_mail_sender(settings, ctx.store)  # one outbox sender per server, whatever the workers
    scheduler = start_scheduler(settings, ctx.store)  # one scheduler among all servers: a database lease
    try:
        serve(settings, host=host, port=port, workers=workers, log_level=log_level, access_log=not no_access_log)
    finally:
        scheduler.stop()
        if sender is not None:
            sender.stop()


@main.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--no-embed", is_flag=True, help="Skip embeddings (keyword search only; starts faster).")
@pass_ctx
def demo_command(ctx: Context, host: str, port: int, no_embed: bool) -> None:
    """Ingest the bundled sample of real arXiv records, build the indexes, then serve the site."""
    from importlib.resources import as_file, files

    from paperboy.web.app import serve

    _check_port_free(host, port)
    settings = ctx.settings
    with as_file(files("paperboy") / "data" / "sample-arxiv.jsonl.gz") as sample:
        records = open_sources([str(sample)], fmt="auto", settings=settings, store=ctx.store)
        report = _run_pipeline(ctx, records, index="lexical" if no_embed else "all")
    if report.index_busy:
        raise click.ClickException(report.index_busy)
    assert report.ingest is not None and report.index is not None  # records given, indexing ran
    click.echo(f"sample: {report.ingest.line()}", err=True)
    click.echo(report.index.line(), err=True)
    click.echo(f"paperboy demo: open http://{host}:{port}/  (Ctrl-C to stop)", err=True)
    serve(settings, host=host, port=port, workers=1)


def _check_port_free(host: str, port: int) -> None:
    """Fail before the slow set-up, with the flag to change, when ``host:port`` cannot be listened on."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on {host!r}: {exc.strerror}; choose another with --host") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        if hasattr(socket, "SO_REUSEADDR"):  # what uvicorn sets too: a port in TIME_WAIT is free to it
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise click.ClickException(
                f"port {port} on {host} is not available ({exc.strerror}); choose another with --port, "
                f"e.g. `paperboy demo --port {port + 1}`") from exc
