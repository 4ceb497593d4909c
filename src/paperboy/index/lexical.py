"""The lexical (BM25) index: tantivy over title, abstract and author names, kept in step with the store.

Just over ~450 lines on purpose: schema, analyzers, writes and query assembly share the field names and must agree.

Why tantivy (measured in ``bench/bench_search.py``, figures in BENCHMARKS.md): its block-max WAND top-k
pruning keeps frequent-term queries ("learning", "neural network") in the low milliseconds at a million
papers, where SQLite FTS5's ``ORDER BY bm25()`` must score every matching row; it is incremental
(delete + add by pid, segments merged in the background), persisted in a folder beside the store, supports
phrase queries from token positions, and evaluates category/date filters *inside* the query (a fast-field
range and a term clause), so a filter never turns a millisecond query into a scan.

Safety: user text never reaches tantivy's query parser: the query layer (:mod:`paperboy.search.parse`) splits it
into analyzed terms and this module assembles tantivy term/phrase objects from them.  The analyzers live here
because documents and queries must be analyzed identically.

The index also writes the :class:`~paperboy.index.attributes.PaperAttributes` arrays (dates, categories by pid)
beside each commit, since it sees every indexed paper; rankers read them through :attr:`LexicalIndex.attributes`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import tantivy

from paperboy.index.attributes import PaperAttributes, category_prefixes, day_number, paper_day
from paperboy.papers import Paper, normalise_title
from paperboy.query import Filters
from paperboy.store.base import Store, StoredPaper

if TYPE_CHECKING:  # the query layer imports this module, never the other way round at run time
    from paperboy.search.parse import ParsedQuery

#: Bump when the schema or analyzers change: an index built by another version is rebuilt from the store.
SCHEMA_VERSION = 3  # 3: venue field
EN = "paperboy_en"
NAME = "paperboy_name"


class LexicalBusy(RuntimeError):
    """Another process holds the index writer (e.g. ``paperboy index`` while the server syncs)."""


def _en_analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stopword("english"))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def _name_analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .build()
    )


_ANALYZERS_LOCK = threading.Lock()
_ANALYZERS: dict[str, tantivy.TextAnalyzer] = {}


def analyzer(name: str = EN) -> tantivy.TextAnalyzer:
    """The shared analyzer instances (they are immutable, so one per process is enough)."""
    with _ANALYZERS_LOCK:
        if name not in _ANALYZERS:
            _ANALYZERS[name] = _en_analyzer() if name == EN else _name_analyzer()
        return _ANALYZERS[name]


def analyze(text: str, name: str = EN) -> list[str]:
    """Index terms of ``text``: exactly what the index stores for it, so queries and documents agree."""
    if not text:
        return []
    try:
        return analyzer(name).analyze(text)
    except UnicodeEncodeError:  # lone surrogates (e.g. undecodable command-line bytes)
        return analyzer(name).analyze(text.encode("utf-8", "replace").decode("utf-8"))


# ---------------------------------------------------------------------------------------------------------------
# the index
# ---------------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class LexicalParams:
    """BM25 field weights (tantivy's BM25 uses k1=1.2, b=0.75); defaults chosen on the train sets."""

    body_boost: float = 1.0  # "body" = title + abstract as one field: one BM25 length norm, like bm25s/Lucene
    title_boost: float = 0.35  # extra weight for a match in the title alone
    author_boost: float = 1.0


def _build_schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("pid", stored=True, indexed=True, fast=True)
    sb.add_text_field("title", tokenizer_name=EN)
    sb.add_text_field("body", tokenizer_name=EN)
    sb.add_text_field("authors", tokenizer_name=NAME)
    sb.add_text_field("cat", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("venue", tokenizer_name=NAME, index_option="basic")
    sb.add_text_field("title_key", tokenizer_name="raw", index_option="basic")
    sb.add_integer_field("date", indexed=True, fast=True)
    return sb.build()


class LexicalIndex:
    """BM25 search over a tantivy index in ``path``.  Thread-safe for searching; one writer per process."""

    def __init__(self, path: Path, *, params: LexicalParams | None = None, heap_bytes: int = 128_000_000) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.params = params or LexicalParams()
        self._heap = heap_bytes
        self._state_file = self.path / "paperboy-state.json"
        self._attrs_file = self.path / "paperboy-side.npz"
        state = self._read_state()
        if state.get("schema") != SCHEMA_VERSION:
            self._wipe()
            state = {"schema": SCHEMA_VERSION, "seq": 0}
            self._write_state(state)
        self._seq = int(state.get("seq", 0))
        self.schema = _build_schema()
        self.index = tantivy.Index(self.schema, path=str(self.path), reuse=True)
        self.index.register_tokenizer(EN, _en_analyzer())
        self.index.register_tokenizer(NAME, _name_analyzer())
        self._attrs = PaperAttributes.load(self._attrs_file)
        self._writer: tantivy.IndexWriter | None = None
        self._write_lock = threading.RLock()
        self._searcher = self.index.searcher()
        self._state_mtime = self._mtime()

    # -- bookkeeping ----------------------------------------------------------------------------------------------

    def _read_state(self) -> dict:
        try:
            return orjson.loads(self._state_file.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return {}

    def _write_state(self, state: dict) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".state.")
        with os.fdopen(fd, "wb") as fh:
            fh.write(orjson.dumps(state))
        os.replace(tmp, self._state_file)

    def _wipe(self) -> None:
        """Remove an index written by another schema version (it is rebuilt from the store by the next sync)."""
        for child in self.path.iterdir():
            if child.is_file():
                child.unlink(missing_ok=True)

    def _mtime(self) -> float:
        try:
            return self._state_file.stat().st_mtime
        except OSError:
            return 0.0

    @property
    def last_seq(self) -> int:
        """The store change sequence this index has caught up with."""
        return self._seq

    def __len__(self) -> int:
        return self._searcher.num_docs

    def refresh(self) -> bool:
        """Pick up commits made by another process (cheap stat when nothing changed); True if reloaded."""
        mtime = self._mtime()
        if mtime == self._state_mtime:
            return False
        self._state_mtime = mtime
        self.index.reload()
        self._searcher = self.index.searcher()
        self._attrs = PaperAttributes.load(self._attrs_file)
        self._seq = int(self._read_state().get("seq", self._seq))
        return True

    # -- writing --------------------------------------------------------------------------------------------------

    def _get_writer(self) -> tantivy.IndexWriter:
        if self._writer is None:
            try:
                self._writer = self.index.writer(self._heap, 1)
            except ValueError as exc:  # tantivy reports a held lock as a ValueError
                raise LexicalBusy(f"the lexical index at {self.path} is being written by another process") from exc
        return self._writer

    def _document(self, pid: int, paper: Paper) -> tantivy.Document:
        doc = tantivy.Document()
        doc.add_unsigned("pid", pid)
        doc.add_text("title", paper.title)
        doc.add_text("body", f"{paper.title}\n{paper.abstract}" if paper.abstract else paper.title)
        for a in paper.authors:
            doc.add_text("authors", a.name)
        for c in dict.fromkeys(p for cat in paper.categories for p in category_prefixes(cat)):
            doc.add_text("cat", c)
        key = normalise_title(paper.title)
        if key:
            doc.add_text("title_key", key)
        if paper.journal_ref:
            doc.add_text("venue", paper.journal_ref)
        day = paper_day(paper)
        if day is not None:
            doc.add_integer("date", day)
        return doc

    def upsert(self, papers: Iterable[StoredPaper]) -> int:
        """Replace the documents of these papers (delete by pid, add); visible after :meth:`commit`."""
        batch = list(papers)
        if not batch:
            return 0
        with self._write_lock:
            writer = self._get_writer()
            writer.delete_documents_by_query(
                tantivy.Query.term_set_query(self.schema, "pid", [int(sp.pid) for sp in batch])
            )
            for sp in batch:
                writer.add_document(self._document(sp.pid, sp.paper))
                self._attrs.set(sp.pid, sp.paper)
        return len(batch)

    def commit(self, seq: int | None = None) -> None:
        """Make upserts durable and visible, then record ``seq`` as caught up (after the commit, never before)."""
        with self._write_lock:
            if self._writer is not None:
                self._writer.commit()
                self._writer.wait_merging_threads()
                self._writer = None
            self._attrs.save(self._attrs_file)
            if seq is not None:
                self._seq = max(self._seq, int(seq))
            self._write_state({"schema": SCHEMA_VERSION, "seq": self._seq})
            self._state_mtime = self._mtime()
            self.index.reload()
            self._searcher = self.index.searcher()

    def sync(self, store: Store, progress: Callable[[int], None] | None = None, batch: int = 2000) -> int:
        """Index every paper the store changed since the last sync; returns how many were (re)indexed."""
        seq, done = self._seq, 0
        while True:
            changed = store.changed_since(seq, limit=batch)
            if not changed:
                break
            self.upsert(changed)
            seq = changed[-1].seq
            done += len(changed)
            if progress:
                progress(len(changed))
        if done or seq != self._seq:
            self.commit(seq)
        return done

    def close(self) -> None:
        with self._write_lock:
            if self._writer is not None:
                with contextlib.suppress(Exception):
                    self._writer.rollback()
                self._writer = None

    # -- query building -------------------------------------------------------------------------------------------

    def _term(self, fieldname: str, term: str) -> tantivy.Query:
        return tantivy.Query.term_query(self.schema, fieldname, term, index_option="freq")

    def _field_clauses(self, term: str, name_term: str | None = None,
                       weight: float = 1.0) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        """One query term as flat Should clauses over body, title (boosted) and (unstemmed) authors.

        Flat, not a nested boolean per term: tantivy prunes a top-level union of (boosted) term queries with
        block-max WAND, but scores a nested one exhaustively, which at 1 M papers made frequent-term queries
        several times slower.  The scores are the same sums either way.
        """
        p = self.params
        parts = [(self._term("body", term), p.body_boost)]
        if p.title_boost > 0:
            parts.append((self._term("title", term), p.title_boost))
        if name_term and p.author_boost > 0:
            parts.append((self._term("authors", name_term), p.author_boost))
        return [(tantivy.Occur.Should, tantivy.Query.boost_query(q, b * weight)) for q, b in parts]

    def _any_field(self, term: str) -> tantivy.Query:
        """A term matching in any field, as one clause (for required and excluded terms)."""
        return tantivy.Query.boolean_query(self._field_clauses(term))

    def _phrase(self, terms: list[str]) -> tantivy.Query:
        return tantivy.Query.phrase_query(self.schema, "body", terms)

    def _word_filters(self, filters: Filters) -> list[tuple[tantivy.Occur, tantivy.Query]] | None:
        """The author and venue filters: every word required in its (unstemmed) field; None matches nothing."""
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        for fieldname, text in (("authors", filters.author), ("venue", filters.venue)):
            if text:
                words = analyze(text, NAME)
                if not words:
                    return None
                clauses += [(tantivy.Occur.Must, self._term(fieldname, w)) for w in words]
        return clauses

    def filter_query(self, filters: Filters | None) -> tantivy.Query | None:
        """Category/date/author/venue constraints as a zero-score query (None when there are none)."""
        if filters is None or not filters.active:
            return None
        parts: list[tuple[tantivy.Occur, tantivy.Query]] = []
        if filters.category:
            parts.append((tantivy.Occur.Must, self._term("cat", filters.category.strip().lower())))
        if filters.since or filters.until:
            lo = day_number(filters.since) if filters.since else -(2**31)
            hi = day_number(filters.until) if filters.until else 2**31
            parts.append((tantivy.Occur.Must, tantivy.Query.range_query(
                self.schema, "date", tantivy.FieldType.Integer, lo, hi)))
        words = self._word_filters(filters)
        if words is None:
            return tantivy.Query.empty_query()
        parts += words
        return tantivy.Query.const_score_query(tantivy.Query.boolean_query(parts), 0.0)

    def constraint_query(self, q: ParsedQuery) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        """The required / excluded parts of a parsed query as boolean clauses."""
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        for t in q.required:
            clauses.append((tantivy.Occur.Must, self._any_field(t)))
        for ph in q.phrases:
            clauses.append((tantivy.Occur.Must, self._phrase(ph)))
        for t in q.excluded:
            clauses.append((tantivy.Occur.MustNot, self._any_field(t)))
        for ph in q.excluded_phrases:
            clauses.append((tantivy.Occur.MustNot, self._phrase(ph)))
        return clauses

    def build_query(self, q: ParsedQuery, filters: Filters | None = None) -> tantivy.Query | None:
        """The full query: should-terms, constraints and filters."""
        names = {analyze(w)[0] if analyze(w) else w: w for w in q.name_terms}
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        for t in q.should:
            clauses += self._field_clauses(t, names.get(t))
        clauses += self.constraint_query(q)
        if not any(occ != tantivy.Occur.MustNot for occ, _ in clauses):
            return None
        if (fq := self.filter_query(filters)) is not None:
            clauses.append((tantivy.Occur.Must, fq))
        return tantivy.Query.boolean_query(clauses)

    # -- searching ------------------------------------------------------------------------------------------------

    def _run(self, query: tantivy.Query, k: int, **kw: object) -> tuple[list[int], list]:
        searcher = self._searcher
        res = searcher.search(query, k, count=False, **kw)
        hits = res.hits
        if not hits:
            return [], []
        pids = searcher.fast_field_values("pid", [a for _, a in hits])
        return [int(p) for p in pids], [s for s, _ in hits]

    def search(self, q: ParsedQuery, k: int = 100, *,
               filters: Filters | None = None) -> tuple[list[int], list[float]]:
        """Top-``k`` pids by BM25 with their scores, filters applied inside the query."""
        query = self.build_query(q, filters)
        if query is None or k <= 0:
            return [], []
        pids, scores = self._run(query, k)
        # A paper that passes the (zero-score) filters but has none of the words scores 0: it is no match, and a
        # newest-first sort would otherwise lift it above the real ones.  Scores are sorted, so it is a cut.
        keep = next((i for i, s in enumerate(scores) if s <= 0.0), len(scores))
        return pids[:keep], [float(s) for s in scores[:keep]]

    def satisfying(self, q: ParsedQuery, pids: Sequence[int], filters: Filters | None = None) -> set[int]:
        """The subset of ``pids`` that meets the query's +/-/phrase constraints and the filters."""
        if not pids:
            return set()
        clauses = self.constraint_query(q)
        if (fq := self.filter_query(filters)) is not None:
            clauses.append((tantivy.Occur.Must, fq))
        if not clauses:
            return set(pids)
        restrict = tantivy.Query.term_set_query(self.schema, "pid", [int(p) for p in pids])
        query = tantivy.Query.boolean_query([(tantivy.Occur.Must, restrict), *clauses])
        got, _ = self._run(query, len(pids))
        return set(got)

    def constrained_pids(self, q: ParsedQuery, limit: int) -> set[int]:
        """Papers meeting the query's +required / phrase / -excluded parts (at most ``limit``; all if fewer)."""
        clauses = self.constraint_query(q)
        if not any(occ == tantivy.Occur.Must for occ, _ in clauses):
            return set()
        pids, _ = self._run(tantivy.Query.boolean_query(clauses), limit)
        return set(pids)

    def browse(self, filters: Filters | None, k: int, offset: int = 0,
               q: ParsedQuery | None = None) -> tuple[list[int], int]:
        """Newest papers matching the filters (and a query's constraints): the empty-query listing."""
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = [(tantivy.Occur.Must, tantivy.Query.all_query())]
        if (fq := self.filter_query(filters)) is not None:
            clauses.append((tantivy.Occur.Must, fq))
        if q is not None:
            clauses += self.constraint_query(q)
        query = tantivy.Query.boolean_query(clauses)
        searcher = self._searcher
        res = searcher.search(query, k, count=True, order_by_field="date", offset=offset)
        pids = searcher.fast_field_values("pid", [a for _, a in res.hits]) if res.hits else []
        return [int(p) for p in pids], int(res.count or 0)

    def find_title(self, title: str, k: int = 5) -> list[int]:
        """Papers whose normalised title equals ``title``'s (exact-title pinning)."""
        key = normalise_title(title or "")
        if not key:
            return []
        pids, _ = self._run(self._term("title_key", key), k)
        return pids

    def estimate_total(self, q: ParsedQuery) -> int:
        """A cheap upper-bound-ish estimate of how many papers match (largest term document frequency)."""
        searcher = self._searcher
        best = 0
        for t in q.positive_terms[:16]:
            best = max(best, searcher.doc_freq("body", t))
        return min(best, searcher.num_docs)

    def doc_freq(self, term: str) -> int:
        """Papers whose title or abstract holds the index term ``term`` (0 for a word the index never saw)."""
        return self._searcher.doc_freq("body", term)

    @property
    def num_docs(self) -> int:
        return self._searcher.num_docs

    # -- attributes and word filters ------------------------------------------------------------------------------

    @property
    def attributes(self) -> PaperAttributes:
        """Dates and categories by pid of the indexed papers (in step with the last commit)."""
        return self._attrs

    def word_filter_pids(self, filters: Filters, limit: int = 200_000) -> set[int] | None:
        """Papers passing the author and venue filters by words (None when neither is set).

        The author filter is confirmed per author name by the caller (:func:`~paperboy.index.attributes.
        author_matches`); venue words are the whole rule.
        """
        if not (filters.author or filters.venue):
            return None
        clauses = self._word_filters(filters)
        if clauses is None:
            return set()
        pids, _ = self._run(tantivy.Query.boolean_query(clauses), limit)
        return set(pids)
