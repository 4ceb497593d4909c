"""The ingest pipeline: resolve source specs, stream their records, commit them in batches.

One transaction per batch: a batch's papers, its rejects and any checkpoint yielded
after them land together or not at all, so a killed run never leaves a half-written
paper and a resumed harvest starts right after the last committed page.
"""

from __future__ import annotations

import glob
import gzip
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from paperboy.config import Settings
from paperboy.papers import Paper
from paperboy.sources.base import Checkpoint, Records, Reject, SourceError
from paperboy.store.base import Store

FORMATS = ("auto", "abs", "listing", "snapshot", "jsonl")


@dataclass(slots=True)
class IngestSummary:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejects: list[Reject] = field(default_factory=list)  # the first few, for the summary
    changed: list[int] = field(default_factory=list)
    batches: int = 0  # transactions committed so far: what an interrupted or failed run kept

    @property
    def seen(self) -> int:
        return self.added + self.updated + self.unchanged + self.rejected

    def line(self) -> str:
        return (f"added {self.added:,}, updated {self.updated:,}, unchanged {self.unchanged:,}, "
                f"rejected {self.rejected:,}")

    def as_dict(self) -> dict:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged,
                "rejected": self.rejected}


class StrictError(Exception):
    """A reject under ``--strict``; nothing from the failing batch was committed."""

    def __init__(self, reject: Reject) -> None:
        super().__init__(f"{reject.source}: {reject.location}: {reject.reason}")
        self.reject = reject


def ingest(
    store: Store,
    records: Iterable[Paper | Reject | Checkpoint],
    *,
    batch_size: int = 2000,
    strict: bool = False,
    progress: Callable[[int], None] | None = None,
    keep_rejects: int = 20,
    summary: IngestSummary | None = None,
) -> IngestSummary:
    """Write ``records`` to ``store`` in batches and return what happened.

    ``summary``, when given, is filled in as batches commit, so a caller still knows what was kept when
    the run ends early (Ctrl-C, a full disk: the batch in flight is rolled back whole).
    """
    summary = summary if summary is not None else IngestSummary()
    papers: list[Paper] = []
    rejects: list[Reject] = []

    def flush(checkpoints: list[Checkpoint]) -> None:
        if not (papers or rejects or checkpoints):
            return
        result = store.write_batch(papers, rejects, checkpoints)
        summary.added += result.added
        summary.updated += result.updated
        summary.unchanged += result.unchanged
        summary.rejected += result.rejected
        summary.changed.extend(result.changed)
        summary.batches += 1
        if progress:
            progress(len(papers) + len(rejects))
        papers.clear()
        rejects.clear()

    try:
        for record in records:
            if isinstance(record, Paper):
                papers.append(record)
            elif isinstance(record, Reject):
                if strict:
                    raise StrictError(record)
                rejects.append(record)
                if len(summary.rejects) < keep_rejects:
                    summary.rejects.append(record)
            elif isinstance(record, Checkpoint):
                flush([record])
                continue
            if len(papers) + len(rejects) >= batch_size:
                flush([])
    except SourceError:
        flush([])  # keep every good record read before the source failed
        raise
    flush([])
    return summary


# -- source specs ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class HarvestOptions:
    """Options for ``oai:`` sources."""

    from_date: str | None = None
    until: str | None = None
    metadata_prefix: str = "arXiv"
    restart: bool = False


def open_sources(
    specs: list[str], *, fmt: str, settings: Settings, store: Store, harvest: HarvestOptions | None = None
) -> Iterator[Paper | Reject | Checkpoint]:
    """Records of every source spec in turn.  Raises SourceError for an unusable spec before yielding."""
    if fmt not in FORMATS:
        raise SourceError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    plans: list[Callable[[], Records]] = []
    arxiv_ids = [s.removeprefix("arxiv:") for s in specs if s.startswith("arxiv:")]
    if arxiv_ids:
        plans.append(lambda: _arxiv_ids(arxiv_ids, settings))
    for spec in specs:
        if spec.startswith("arxiv:"):
            continue
        plans.extend(_plan(spec, fmt, settings, store, harvest or HarvestOptions()))
    for plan in plans:
        yield from plan()


def _arxiv_ids(ids: list[str], settings: Settings) -> Records:
    from paperboy.sources import arxiv_api

    return arxiv_api.fetch_ids(ids, base_url=settings.arxiv_api_url)


def _plan(spec: str, fmt: str, settings: Settings, store: Store,
          harvest: HarvestOptions) -> list[Callable[[], Records]]:
    if spec == "-":
        return [lambda: _read_stream(fmt)]
    if spec.startswith("arxiv-search:"):
        from paperboy.sources import arxiv_api

        query = spec.removeprefix("arxiv-search:")
        return [lambda: arxiv_api.search(query, base_url=settings.arxiv_api_url)]
    if spec.startswith("rss:"):
        from paperboy.sources import arxiv_api

        target = spec.removeprefix("rss:")
        url = target if target.startswith(("http://", "https://")) else f"https://rss.arxiv.org/rss/{target}"
        return [lambda: arxiv_api.fetch_rss(url)]
    if spec.startswith("oai:"):
        return [lambda: _harvest(spec.removeprefix("oai:") or None, settings, store, harvest)]
    paths = [Path(p) for p in sorted(glob.glob(spec))] if glob.has_magic(spec) else [Path(spec)]
    if not paths:
        raise SourceError(f"no files match {spec!r}")
    for path in paths:
        if not path.exists():
            raise SourceError(f"no such file or directory: {path}")
    return [lambda path=path: _read_path(path, fmt) for path in paths]


def _harvest(set_spec: str | None, settings: Settings, store: Store, opts: HarvestOptions) -> Records:
    from paperboy.sources import oai

    key = oai.checkpoint_key(settings.oai_base_url, opts.metadata_prefix, set_spec, opts.from_date, opts.until)
    resume = None if opts.restart else store.get_state(key)  # harvest() restarts a finished ("done") list itself
    return oai.harvest(settings.oai_base_url, metadata_prefix=opts.metadata_prefix, set_spec=set_spec,
                       from_date=opts.from_date, until=opts.until, resume=resume, delay=settings.harvest_delay)


def _read_stream(fmt: str) -> Records:
    from paperboy.sources import jsonl

    if fmt in ("abs", "listing"):
        raise SourceError("standard input takes JSON Lines (--format jsonl or snapshot)")
    return jsonl.read_file("<stdin>", fmt, stream=sys.stdin.buffer)


def detect_format(path: Path) -> str:
    """Guess a file's format from its name, then from its first bytes."""
    name = path.name.lower()
    if path.is_dir() or name.endswith((".tar", ".tar.gz", ".tgz", ".abs")) or "listings" in path.parts:
        return "arxiv-files"
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
            if head[:2] == b"\x1f\x8b":
                f.seek(0)
                with gzip.GzipFile(fileobj=f) as gz:
                    head = gz.read(4096)
    except (OSError, EOFError) as exc:
        raise SourceError(f"cannot read {path}: {exc}") from exc
    if len(head) > 262 and head[257:262] == b"ustar":
        return "arxiv-files"
    stripped = head.lstrip()
    if stripped.startswith(b"{") or not stripped:
        return "jsonl"
    if stripped.startswith((b"---", b"\\\\")):
        return "arxiv-files"
    raise SourceError(f"cannot tell the format of {path}: use --format")


def _read_path(path: Path, fmt: str) -> Records:
    kind = fmt
    if fmt == "auto":
        kind = detect_format(path)
    if kind in ("abs", "listing", "arxiv-files"):
        from paperboy.sources import arxiv_files

        return arxiv_files.iter_path(path, "auto" if kind == "arxiv-files" else kind)
    from paperboy.sources import jsonl

    return jsonl.read_file(path, "auto" if fmt == "auto" else kind)
