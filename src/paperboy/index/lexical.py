"""The lexical (BM25) index: tantivy over title, abstract and author names, kept in step with the store.

Why tantivy (measured in ``bench/bench_search.py``, figures in BENCHMARKS.md): its block-max WAND top-k
pruning keeps frequent-term queries ("learning", "neural network") in the low milliseconds at a million
papers, where SQLite FTS5's ``ORDER BY bm25()`` must score every matching row; it is incremental
(delete + add by pid, segments merged in the background), persisted in a folder beside the store, supports
phrase queries from token positions, and evaluates category/date filters *inside* the query (a fast-field
range and a term clause), so a filter never turns a millisecond query into a scan.

Safety: user text never reaches tantivy's query parser.  :func:`parse_query` splits it into words, quoted
phrases, ``+required`` and ``-excluded`` parts; every word goes through the same analyzer as the index
(tokenise, lower-case, ASCII-fold, English stop words, Snowball stemmer) and the query is assembled from
term/phrase objects, so ``*``, ``:``, ``(``, ``NEAR`` or a stray quote are just characters.

Besides tantivy, the index keeps two small numpy side arrays indexed by pid (first-submission day and
category ids).  They let the query engine turn a filter into a boolean mask for the dense (ANN) side and
sort candidates by date without touching the store.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import orjson
import tantivy

from paperboy.papers import Paper, normalise_author, normalise_title
from paperboy.query import Filters
from paperboy.store.base import Store, StoredPaper

#: Bump when the schema or analyzers change: an index built by another version is rebuilt from the store.
SCHEMA_VERSION = 2
EN = "paperboy_en"
NAME = "paperboy_name"
NO_DATE = -(2**31)  # side-array value for "no first-submission date"; tantivy docs then carry no date at all
_EPOCH = date(1970, 1, 1).toordinal()
MAX_QUERY_TERMS = 64  # more words than this add cost but no ranking signal


class LexicalBusy(RuntimeError):
    """Another process holds the index writer (e.g. ``paperboy index`` while the server syncs)."""


def day_number(d: date | None) -> int | None:
    """Days since 1970-01-01: the integer the index stores for dates (fast-field range filters)."""
    return None if d is None else d.toordinal() - _EPOCH


def from_day_number(n: int) -> date | None:
    return None if n == NO_DATE else date.fromordinal(int(n) + _EPOCH)


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
# query parsing
# ---------------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ParsedQuery:
    """User text split into parts, each already analyzed into index terms.

    ``should`` are bare words (OR, ranked by BM25); ``required``/``excluded`` are ``+word``/``-word``;
    phrases are quoted strings (a phrase is required unless written ``-"..."``, then it is excluded).
    ``words`` keeps the raw words (for the author field, which is not stemmed).
    """

    text: str
    should: list[str] = field(default_factory=list)
    required: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    phrases: list[list[str]] = field(default_factory=list)
    excluded_phrases: list[list[str]] = field(default_factory=list)
    name_terms: list[str] = field(default_factory=list)
    semantic_text: str = ""  # the text to embed: the query without operators and excluded parts
    dropped_only_stopwords: bool = False

    @property
    def positive_terms(self) -> list[str]:
        """Every term that may match (for highlighting, ranking and the "only stop words" check)."""
        seen = dict.fromkeys([*self.should, *self.required, *(t for p in self.phrases for t in p)])
        return list(seen)

    @property
    def has_constraints(self) -> bool:
        """True when the query restricts the result set (so dense candidates must be checked against it)."""
        return bool(self.required or self.excluded or self.phrases or self.excluded_phrases)

    @property
    def empty(self) -> bool:
        return not self.positive_terms


_PART = re.compile(r'([+-]?)"([^"]*)"|([+-]?)([^\s"]+)')


def parse_query(text: str) -> ParsedQuery:
    """Split user text into a :class:`ParsedQuery`; never raises for any string.

    An unbalanced quote is dropped and the rest is read as words (so ``"graph neural`` searches
    ``graph neural``).  ``-`` or ``+`` only act as operators at the start of a part; ``state-of-the-art``
    is a word.
    """
    text = (text or "").encode("utf-8", "replace").decode("utf-8")
    if text.count('"') % 2:  # unbalanced: drop the last quote
        i = text.rfind('"')
        text = text[:i] + " " + text[i + 1 :]
    q = ParsedQuery(text=text)
    semantic: list[str] = []
    had_words = False
    for m in _PART.finditer(text):
        if m.group(2) is not None:
            sign, body, quoted = m.group(1), m.group(2), True
        else:
            sign, body, quoted = m.group(3), m.group(4), False
        terms = analyze(body)
        if analyze(body, NAME):
            had_words = True
        if sign != "-":
            semantic.append(body)
            q.name_terms.extend(t for t in analyze(body, NAME) if len(t) > 1)
        if not terms:
            continue
        if quoted and len(terms) > 1:
            (q.excluded_phrases if sign == "-" else q.phrases).append(terms)
        elif sign == "-":
            q.excluded.extend(terms)
        elif sign == "+" or quoted:
            q.required.extend(terms)
        else:
            q.should.extend(terms)
    q.should = list(dict.fromkeys(q.should))[:MAX_QUERY_TERMS]
    q.required = list(dict.fromkeys(q.required))[:MAX_QUERY_TERMS]
    q.excluded = list(dict.fromkeys(q.excluded))[:MAX_QUERY_TERMS]
    q.phrases = q.phrases[:8]
    q.excluded_phrases = q.excluded_phrases[:8]
    q.name_terms = list(dict.fromkeys(q.name_terms))[:MAX_QUERY_TERMS]
    q.semantic_text = " ".join(semantic)
    q.dropped_only_stopwords = had_words and q.empty
    return q


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
    sb.add_text_field("title_key", tokenizer_name="raw", index_option="basic")
    sb.add_integer_field("date", indexed=True, fast=True)
    return sb.build()


def category_prefixes(category: str) -> list[str]:
    """``cs.LG`` -> ``["cs", "cs.lg"]`` (lower-cased): what a category filter may name."""
    c = category.strip().lower()
    if not c:
        return []
    out = [c]
    if "." in c:
        out.insert(0, c.split(".", 1)[0])
    return out


class _SideArrays:
    """Per-pid first-submission day and category ids, for filter masks and date sorts without the store."""

    def __init__(self) -> None:
        self.dates = np.full(0, NO_DATE, dtype=np.int32)
        self.cats = np.zeros((0, 1), dtype=np.uint16)
        self.cat_names: list[str] = [""]  # id 0 = no category
        self._cat_ids: dict[str, int] = {"": 0}
        self._masks: dict[str, np.ndarray] = {}  # category -> mask, until the arrays change

    def ensure(self, pid: int, width: int) -> None:
        n = len(self.dates)
        if pid >= n:
            grow = max(pid + 1, int(n * 1.5) + 1024)
            self.dates = np.concatenate([self.dates, np.full(grow - n, NO_DATE, dtype=np.int32)])
            self.cats = np.concatenate([self.cats, np.zeros((grow - n, self.cats.shape[1]), dtype=np.uint16)])
        if width > self.cats.shape[1]:
            extra = np.zeros((len(self.cats), width - self.cats.shape[1]), dtype=np.uint16)
            self.cats = np.concatenate([self.cats, extra], axis=1)

    def cat_id(self, name: str) -> int:
        cid = self._cat_ids.get(name)
        if cid is None:
            if len(self.cat_names) >= 65535:
                return 0  # more distinct categories than uint16 holds: the tantivy filter stays exact
            cid = len(self.cat_names)
            self.cat_names.append(name)
            self._cat_ids[name] = cid
        return cid

    def set(self, pid: int, day: int | None, categories: Sequence[str]) -> None:
        cats = [c.lower() for c in categories if c]
        self._masks.clear()
        self.ensure(pid, len(cats))
        self.dates[pid] = NO_DATE if day is None else day
        self.cats[pid] = 0
        for j, c in enumerate(cats):
            self.cats[pid, j] = self.cat_id(c)

    def category_mask(self, category: str) -> np.ndarray:
        """Read-only boolean array by pid: papers in ``category`` or below it (``cs`` covers ``cs.LG``).

        Cached per category (a service sees the same few categories over and over; at 1 M papers building
        one costs a few milliseconds), column by column rather than ``lut[cats].any(axis=1)``, which
        materialises an (n, width) array and took ~40 ms.
        """
        mask = self._masks.get(category)
        if mask is None:
            lut = np.array([n == category or n.startswith(category + ".") for n in self.cat_names], dtype=bool)
            lut[0] = False
            mask = lut[self.cats[:, 0]]
            for j in range(1, self.cats.shape[1]):
                mask |= lut[self.cats[:, j]]
            mask.flags.writeable = False
            if len(self._masks) >= 32:
                self._masks.pop(next(iter(self._masks)))
            self._masks[category] = mask
        return mask

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npz")
        with open(tmp, "wb") as fh:
            np.savez(fh, dates=self.dates, cats=self.cats,
                     cat_names=np.frombuffer(orjson.dumps(self.cat_names), dtype=np.uint8))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> _SideArrays:
        side = cls()
        if path.exists():
            with np.load(path) as z:
                side.dates = z["dates"].astype(np.int32)
                side.cats = z["cats"].astype(np.uint16)
                side.cat_names = orjson.loads(z["cat_names"].tobytes())
            side._cat_ids = {n: i for i, n in enumerate(side.cat_names)}
        return side


class LexicalIndex:
    """BM25 search over a tantivy index in ``path``.  Thread-safe for searching; one writer per process."""

    def __init__(self, path: Path, *, params: LexicalParams | None = None, heap_bytes: int = 128_000_000) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.params = params or LexicalParams()
        self._heap = heap_bytes
        self._state_file = self.path / "paperboy-state.json"
        self._side_file = self.path / "paperboy-side.npz"
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
        self._side = _SideArrays.load(self._side_file)
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
        self._side = _SideArrays.load(self._side_file)
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
        day = day_number(paper.submitted or paper.updated)
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
                self._side.set(sp.pid, day_number(sp.paper.submitted or sp.paper.updated), sp.paper.categories)
        return len(batch)

    def commit(self, seq: int | None = None) -> None:
        """Make upserts durable and visible, then record ``seq`` as caught up (after the commit, never before)."""
        with self._write_lock:
            if self._writer is not None:
                self._writer.commit()
                self._writer.wait_merging_threads()
                self._writer = None
            self._side.save(self._side_file)
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

    def filter_query(self, filters: Filters | None) -> tantivy.Query | None:
        """Category/date/author constraints as a zero-score query (None when there are none)."""
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
        if filters.author:
            words = analyze(filters.author, NAME)
            if not words:
                return tantivy.Query.empty_query()
            for w in words:
                parts.append((tantivy.Occur.Must, self._term("authors", w)))
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

    def build_query(self, q: ParsedQuery, filters: Filters | None = None,
                    extra: Sequence[tuple[str, float]] = ()) -> tantivy.Query | None:
        """The full query: should-terms (+ weighted expansion terms), constraints and filters."""
        names = {analyze(w)[0] if analyze(w) else w: w for w in q.name_terms}
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        for t in q.should:
            clauses += self._field_clauses(t, names.get(t))
        for t, weight in extra:
            clauses += self._field_clauses(t, weight=weight)
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

    def search(self, q: ParsedQuery | str, k: int = 100, *, filters: Filters | None = None,
               extra: Sequence[tuple[str, float]] = ()) -> tuple[list[int], list[float]]:
        """Top-``k`` pids by BM25 with their scores, filters applied inside the query."""
        if isinstance(q, str):
            q = parse_query(q)
        query = self.build_query(q, filters, extra)
        if query is None or k <= 0:
            return [], []
        pids, scores = self._run(query, k)
        return pids, [float(s) for s in scores]

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

    def doc_freqs(self, terms: Sequence[str]) -> dict[str, int]:
        """Body-field document frequencies (used for pseudo-relevance feedback idf)."""
        s = self._searcher
        return {t: s.doc_freq("body", t) for t in terms}

    @property
    def num_docs(self) -> int:
        return self._searcher.num_docs

    # -- side arrays ----------------------------------------------------------------------------------------------

    def filter_mask(self, filters: Filters | None) -> np.ndarray | None:
        """Boolean array by pid for category and date filters (None when neither is set; may be read-only).

        The author filter is not in the mask: it is resolved through the index (:meth:`author_pids`).
        """
        if filters is None or not (filters.category or filters.since or filters.until):
            return None
        side = self._side
        mask = side.category_mask(filters.category.strip().lower()) if filters.category else None
        if filters.since or filters.until:
            lo = day_number(filters.since) if filters.since else NO_DATE + 1
            hi = day_number(filters.until) if filters.until else 2**31 - 1
            in_range = (side.dates >= lo) & (side.dates <= hi)
            mask = in_range if mask is None else in_range & mask
        return mask

    def author_pids(self, author: str, limit: int = 200_000) -> set[int]:
        """Papers with every word of ``author`` among their author names (checked per author by the caller)."""
        words = analyze(author, NAME)
        if not words:
            return set()
        query = tantivy.Query.boolean_query([(tantivy.Occur.Must, self._term("authors", w)) for w in words])
        pids, _ = self._run(query, limit)
        return set(pids)

    def days(self, pids: Sequence[int]) -> np.ndarray:
        """First-submission day numbers of ``pids`` (NO_DATE where unknown), for date sorts."""
        side = self._side.dates
        arr = np.asarray(pids, dtype=np.int64)
        out = np.full(len(arr), NO_DATE, dtype=np.int64)
        ok = arr < len(side)
        out[ok] = side[arr[ok]]
        return out


def author_matches(paper: Paper, author: str) -> bool:
    """True when every word of ``author`` is a word of one of the paper's author names."""
    want = normalise_author(author).split()
    if not want:
        return False
    for a in paper.authors:
        have = set(normalise_author(a.name).split())
        if all(w in have for w in want):
            return True
    return False


def idf(df: int, n: int) -> float:
    """BM25's idf, the same formula tantivy uses."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))
