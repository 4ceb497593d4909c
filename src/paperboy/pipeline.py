"""The one way a paperboy home is brought up to date: ingest -> index -> notify.

Why one function: three paths used to sync the indexes (``Indexes.sync``, the CLI calling ``lexical.sync``
directly, which skipped the ``.sync.lock`` that keeps two processes from writing one home, and a freshly opened
``LexicalIndex`` after ingest).  Now the CLI (``ingest``, ``index``, ``demo``, and the catch-up before
``search``/``similar``), the evaluation harness and the scheduler to come all call :func:`run` or
:func:`update_indexes`, which always go through :meth:`paperboy.index.Indexes.sync` under that lock.

Progress is reported through one :data:`paperboy.progress.ProgressFn` (stages ``ingest``, ``lexical``,
``embed``); Ctrl-C raises :class:`PipelineInterrupted` carrying what was kept, so a caller can say so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from paperboy.config import Settings
from paperboy.index import EmbedFn, Indexes, LexicalBusy, SyncInterrupted, SyncReport
from paperboy.ingest import IngestSummary, ingest
from paperboy.papers import Paper
from paperboy.progress import ProgressFn
from paperboy.sources.base import Checkpoint, Reject
from paperboy.store.base import Store

#: What to index after ingesting: nothing; the lexical index only if one exists (so a bare ``ingest`` in a home
#: without search stays a pure ingest); the lexical index; or everything (lexical, embeddings, vectors).
IndexScope = Literal["none", "existing-lexical", "lexical", "all"]


@dataclass(slots=True)
class PipelineReport:
    """What one :func:`run` did (or, inside :class:`PipelineInterrupted`, what it kept)."""

    ingest: IngestSummary | None = None  # filled in as batches commit, so an interrupted run knows what it kept
    index: SyncReport | None = None
    index_busy: str | None = None  # why indexing was skipped: another process is updating this home's indexes
    vectors: int = 0  # vectors in the saved index after the run


class PipelineInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run`; ``report`` says what was kept (committed batches, checkpointed vectors)."""

    def __init__(self, report: PipelineReport, stage: str) -> None:
        super().__init__(f"interrupted during {stage}")
        self.report = report
        self.stage = stage

    def kept(self) -> str:
        """One sentence for the user: what survives and that a re-run resumes from it."""
        r = self.report
        parts = []
        if r.ingest is not None:
            b = r.ingest.batches
            parts.append(f"{b:,} committed batch{'es' if b != 1 else ''} ({r.ingest.line()}; re-ingesting skips "
                         "them quickly)" if b else "no ingest batch (none had committed)")
        if r.index is not None:
            parts.append("the lexical index as it was (its pass had not finished)"
                         if r.index.interrupted_in == "lexical" else f"{r.index.lexical:,} papers indexed lexically")
            parts.append(f"{r.vectors:,} vectors, saved at the last checkpoint")
        kept = "; ".join(parts) or "nothing new"
        return f"interrupted during {self.stage}: kept {kept}. Run the same command again to resume."


def update_indexes(indexes: Indexes, store: Store, *, embed: bool = True, progress: ProgressFn | None = None,
                   embed_fn: EmbedFn | None = None) -> SyncReport:
    """Bring ``indexes`` in step with ``store`` under the home's ``.sync.lock`` (raises :class:`LexicalBusy`).

    The one sync entry point below :func:`run`, for callers that hold their own :class:`Indexes` (the catch-up
    before a CLI search, the evaluation harness, the server and scheduler).
    """
    return indexes.sync(store, progress=progress, embed=embed, embed_fn=embed_fn)


def run(settings: Settings, store: Store, records: Iterable[Paper | Reject | Checkpoint] | None = None, *,
        index: IndexScope = "all", indexes: Indexes | None = None, strict: bool = False,
        progress: ProgressFn | None = None, embed_fn: EmbedFn | None = None,
        notify: Sequence[Callable[[PipelineReport], None]] = ()) -> PipelineReport:
    """Ingest ``records`` (if any), update the indexes ``index`` asks for, then call each of ``notify``.

    ``indexes`` is used as given (and left open), else opened here and closed.  When another process holds the
    indexes, ingest still happens and ``report.index_busy`` says why indexing did not (for ``index="all"`` the
    caller usually wants to fail instead: check it).  ``StrictError``/``SourceError`` from ingest propagate.
    """
    report = PipelineReport()
    stage = "ingest"
    try:
        if records is not None:
            def counted(n: int) -> None:
                if progress:
                    progress("ingest", n, None)

            if progress:
                progress("ingest", 0, None)
            report.ingest = IngestSummary()
            ingest(store, records, batch_size=settings.batch_size, strict=strict, progress=counted,
                   summary=report.ingest)
        if index == "none" or (index == "existing-lexical" and not _has_lexical_index(settings)):
            _notify(notify, report)
            return report
        stage = "index"
        own = indexes is None
        ix = indexes if indexes is not None else Indexes(settings, embed=index == "all")
        try:
            report.index = update_indexes(ix, store, embed=index == "all", progress=progress, embed_fn=embed_fn)
        except LexicalBusy as exc:
            report.index_busy = str(exc)
        except SyncInterrupted as exc:
            report.index = exc.report
            report.vectors = _vector_count(ix)
            raise
        else:
            report.vectors = _vector_count(ix)
        finally:
            if own:
                ix.close()
    except KeyboardInterrupt as exc:
        raise PipelineInterrupted(report, stage) from exc
    _notify(notify, report)
    return report


def _has_lexical_index(settings: Settings) -> bool:
    return (settings.index_dir / "lexical" / "meta.json").exists()


def _vector_count(indexes: Indexes) -> int:
    vectors = indexes.vectors()
    return len(vectors) if vectors is not None else 0


def _notify(notify: Sequence[Callable[[PipelineReport], None]], report: PipelineReport) -> None:
    for hook in notify:
        hook(report)


__all__ = ["IndexScope", "PipelineInterrupted", "PipelineReport", "run", "update_indexes"]
