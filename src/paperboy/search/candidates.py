"""Where candidates come from: pins, BM25 top-N, cosine top-N under the filters, and exact scores for completion.

Filters reach both sides the cheap way: inside the tantivy query for BM25, and for the dense side as an
``allowed`` set (ids when few papers pass, else a boolean mask by pid from
:class:`~paperboy.index.attributes.PaperAttributes` and the word filters) plus an ``accept`` check for the
query's ``+``/``-``/phrase parts.  The vector index over-fetches under them in its one loop, so the ANN never
returns papers a filter would drop afterwards and no results are lost.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from paperboy.index import Indexes
from paperboy.papers import InvalidId, normalise_doi, parse_arxiv_id
from paperboy.query import Filters
from paperboy.search.parse import ParsedQuery
from paperboy.store.base import Store

MAX_TITLE_PIN_CHARS = 400


class Candidates:
    """Candidate generation over one process's opened indexes (thread-safe: it holds no per-request state)."""

    def __init__(self, indexes: Indexes, store: Store, *, exact_below: int = 5_000) -> None:
        """``exact_below``: a filter or ``+``/phrase constraint allowing fewer papers is answered by an exact scan."""
        self.indexes = indexes
        self.store = store
        self.exact_below = exact_below

    @property
    def lexical(self) -> Any:
        return self.indexes.lexical

    def pins(self, text: str, filters: Filters) -> dict[int, str]:
        """Papers the query names exactly, with how: ``arxiv_id``, ``doi`` or ``title`` (first wins)."""
        pins: dict[int, str] = {}
        s = text.strip()
        if not s:
            return pins
        if len(s) < 120 and " " not in s:
            how = None
            try:
                parse_arxiv_id(s)
                how = "arxiv_id"
            except InvalidId:
                if normalise_doi(s):
                    how = "doi"
            if how and (found := self.store.get(s)) is not None:
                pins[found.pid] = how
        if len(s) <= MAX_TITLE_PIN_CHARS:
            for pid in self.lexical.find_title(s):
                pins.setdefault(pid, "title")
        if pins and filters.active:
            keep = self.lexical.satisfying(ParsedQuery(text=""), list(pins), filters)
            pins = {p: how for p, how in pins.items() if p in keep}
        return pins

    def allowed(self, filters: Filters) -> np.ndarray | None:
        """Boolean mask by pid for the filters (None = everything allowed)."""
        if not filters.active:
            return None
        mask = self.lexical.attributes.mask(filters)
        word_pids = self.lexical.word_filter_pids(filters)
        if word_pids is not None:
            pids = np.fromiter(word_pids, dtype=np.int64, count=len(word_pids))
            size = max(len(mask) if mask is not None else 0, int(pids.max(initial=-1)) + 1)
            words = np.zeros(size, dtype=bool)
            words[pids] = True
            if mask is not None:
                n = min(len(mask), len(words))
                mask = mask[:n] & words[:n]
            else:
                mask = words
        return mask

    def dense(self, qvec: np.ndarray, k: int, filters: Filters, q: ParsedQuery,
              expansion: int | None = None) -> tuple[list[int], list[float]]:
        """Top-k by cosine among papers passing the filters and the query's +/-/phrase constraints.

        Exact whenever the allowed set is small (a selective filter, or +required / "phrase" parts matching
        few papers: those are resolved through the lexical index first); otherwise ANN, over-fetched by the
        vector index under the filter mask and the constraint check.
        """
        mask = self.allowed(filters)
        allowed: np.ndarray | None = None
        if q.required or q.phrases:
            cset = self.lexical.constrained_pids(q, self.exact_below + 1)
            if len(cset) <= self.exact_below:
                ids = np.fromiter(cset, dtype=np.int64, count=len(cset))
                if mask is not None:
                    ids = ids[ids < len(mask)]
                    ids = ids[mask[ids]]
                return self._search(qvec, k, allowed=ids)
        if mask is not None:
            allowed_ids = np.flatnonzero(mask)
            allowed = allowed_ids if len(allowed_ids) <= self.exact_below else mask
        accept = None
        if q.has_constraints:
            def accept(ids: np.ndarray) -> np.ndarray:
                keep = self.lexical.satisfying(q, ids.tolist())
                return np.fromiter((int(i) in keep for i in ids), dtype=bool, count=len(ids))
        return self._search(qvec, k, allowed=allowed, accept=accept, expansion=expansion)

    def _search(self, qvec: np.ndarray, k: int, **kw: Any) -> tuple[list[int], list[float]]:
        allowed = kw.get("allowed")
        if allowed is not None and allowed.dtype != bool and not len(allowed):
            return [], []
        ids, scores = self.indexes.vectors().search(qvec, k, **kw)
        return [int(i) for i in ids], [float(x) for x in scores]

    def written(self, word: str, term: str, sample: int = 3) -> bool:
        """Whether papers using the index term ``term`` write it as ``word`` (the index keeps only stems)."""
        pids, _ = self.lexical.search(ParsedQuery(text=word, should=[term]), sample)
        pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE)
        return any(pattern.search(f"{sp.paper.title} {sp.paper.abstract}") for sp in self.store.get_many(pids))

    def cosines(self, qvec: np.ndarray, pids: Sequence[int]) -> dict[int, float]:
        """Exact cosine of ``qvec`` with each of ``pids``' stored vectors, in one call (an id-restricted scan)."""
        if not len(pids):
            return {}
        ids, scores = self.indexes.vectors().search(qvec, len(pids), allowed=np.asarray(pids, dtype=np.uint64))
        return {int(i): float(s) for i, s in zip(ids, scores, strict=True)}

    def vectors_of(self, pids: Sequence[int]) -> list[np.ndarray]:
        """Stored vectors of a few papers (for pseudo-relevance feedback); papers without one are skipped."""
        vectors = self.indexes.vectors()
        found = (vectors.get(int(p)) for p in pids)
        return [np.asarray(v, dtype=np.float32).reshape(-1) for v in found if v is not None]
