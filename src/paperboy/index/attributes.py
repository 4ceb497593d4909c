"""Paper attributes every ranker filters and sorts by, as numpy arrays indexed by pid.

Why a module of its own: the dense (ANN) side needs a filter as a boolean mask by pid, ``sort=newest`` needs
dates of candidates, and trending and recommendations will need both, without a store query per paper.  The
arrays are sized by the largest pid (the store's pids are small dense integers) and written by the lexical
index, which sees every indexed paper and saves them beside its commit so the two never disagree.

Besides the arrays, this module holds the per-paper rule of the one filter the index cannot answer exactly: an
author filter matches when every word is a word of *one* author name (the index narrows by words, the rule
confirms while paging).  Author and venue filters are word filters of the lexical index, not arrays here: a venue
matches when every word of the filter is a word of the paper's ``journal_ref``, which the index answers exactly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
import orjson

from paperboy.papers import Paper, normalise_author
from paperboy.query import Filters

NO_DATE = -(2**31)  # array value for "no first-submission date"
_EPOCH = date(1970, 1, 1).toordinal()
_MAX_CACHED_MASKS = 32


def day_number(d: date | None) -> int | None:
    """Days since 1970-01-01: the integer the indexes store for dates (fast-field range filters)."""
    return None if d is None else d.toordinal() - _EPOCH


def from_day_number(n: int) -> date | None:
    return None if n == NO_DATE else date.fromordinal(int(n) + _EPOCH)


def paper_day(paper: Paper) -> int | None:
    """The one date rule of filters and date sorts: first submission, else the last update."""
    return day_number(paper.submitted or paper.updated)


def category_prefixes(category: str) -> list[str]:
    """``cs.LG`` -> ``["cs", "cs.lg"]`` (lower-cased): what a category filter may name."""
    c = category.strip().lower()
    if not c:
        return []
    out = [c]
    if "." in c:
        out.insert(0, c.split(".", 1)[0])
    return out


def author_matches(paper: Paper, author: str) -> bool:
    """True when every word of ``author`` is a word of one of the paper's author names."""
    want = normalise_author(author).split()
    if not want:
        return False
    return any(all(w in set(normalise_author(a.name).split()) for w in want) for a in paper.authors)


class PaperAttributes:
    """Per-pid first-submission day and category ids; filter masks (cached per category) and date lookups."""

    def __init__(self) -> None:
        self.dates = np.full(0, NO_DATE, dtype=np.int32)
        self.cats = np.zeros((0, 1), dtype=np.uint16)
        self.cat_names: list[str] = [""]  # id 0 = no category
        self._cat_ids: dict[str, int] = {"": 0}
        self._masks: dict[str, np.ndarray] = {}  # category -> mask, until the arrays change

    def _ensure(self, pid: int, width: int) -> None:
        n = len(self.dates)
        if pid >= n:
            grow = max(pid + 1, int(n * 1.5) + 1024)
            self.dates = np.concatenate([self.dates, np.full(grow - n, NO_DATE, dtype=np.int32)])
            self.cats = np.concatenate([self.cats, np.zeros((grow - n, self.cats.shape[1]), dtype=np.uint16)])
        if width > self.cats.shape[1]:
            extra = np.zeros((len(self.cats), width - self.cats.shape[1]), dtype=np.uint16)
            self.cats = np.concatenate([self.cats, extra], axis=1)

    def _cat_id(self, name: str) -> int:
        cid = self._cat_ids.get(name)
        if cid is None:
            if len(self.cat_names) >= 65535:
                return 0  # more distinct categories than uint16 holds: the tantivy filter stays exact
            cid = len(self.cat_names)
            self.cat_names.append(name)
            self._cat_ids[name] = cid
        return cid

    def set(self, pid: int, paper: Paper) -> None:
        """Record (or replace) one paper's attributes."""
        cats = [c.lower() for c in paper.categories if c]
        day = paper_day(paper)
        self._masks.clear()
        self._ensure(pid, len(cats))
        self.dates[pid] = NO_DATE if day is None else day
        self.cats[pid] = 0
        for j, c in enumerate(cats):
            self.cats[pid, j] = self._cat_id(c)

    def category_mask(self, category: str) -> np.ndarray:
        """Read-only boolean array by pid: papers in ``category`` or below it (``cs`` covers ``cs.LG``).

        Cached per category (a service sees the same few categories over and over; at 1 M papers building
        one costs a few milliseconds), column by column rather than ``lut[cats].any(axis=1)``, which
        materialises an (n, width) array and took ~40 ms.
        """
        category = category.strip().lower()
        mask = self._masks.get(category)
        if mask is None:
            lut = np.array([n == category or n.startswith(category + ".") for n in self.cat_names], dtype=bool)
            lut[0] = False
            mask = lut[self.cats[:, 0]]
            for j in range(1, self.cats.shape[1]):
                mask |= lut[self.cats[:, j]]
            mask.flags.writeable = False
            if len(self._masks) >= _MAX_CACHED_MASKS:
                self._masks.pop(next(iter(self._masks)))
            self._masks[category] = mask
        return mask

    def mask(self, filters: Filters | None) -> np.ndarray | None:
        """Boolean array by pid for the category and date filters (None when neither is set; may be read-only).

        Author and venue filters are not attributes: they are resolved through the lexical index by words.
        """
        if filters is None or not (filters.category or filters.since or filters.until):
            return None
        mask = self.category_mask(filters.category) if filters.category else None
        if filters.since or filters.until:
            lo = day_number(filters.since) if filters.since else NO_DATE + 1
            hi = day_number(filters.until) if filters.until else 2**31 - 1
            in_range = (self.dates >= lo) & (self.dates <= hi)
            mask = in_range if mask is None else in_range & mask
        return mask

    def days(self, pids: Sequence[int]) -> np.ndarray:
        """Day numbers of ``pids`` (NO_DATE where unknown), for date sorts."""
        arr = np.asarray(pids, dtype=np.int64)
        out = np.full(len(arr), NO_DATE, dtype=np.int64)
        ok = arr < len(self.dates)
        out[ok] = self.dates[arr[ok]]
        return out

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npz")
        with open(tmp, "wb") as fh:
            np.savez(fh, dates=self.dates, cats=self.cats,
                     cat_names=np.frombuffer(orjson.dumps(self.cat_names), dtype=np.uint8))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> PaperAttributes:
        attrs = cls()
        if path.exists():
            with np.load(path) as z:
                attrs.dates = z["dates"].astype(np.int32)
                attrs.cats = z["cats"].astype(np.uint16)
                attrs.cat_names = orjson.loads(z["cat_names"].tobytes())
            attrs._cat_ids = {n: i for i, n in enumerate(attrs.cat_names)}
        return attrs
