"""Why a hit is there, twice: a sentence a reader wants ("Matches the title; close in meaning.") and the same
as data for JSON (``pinned``, ``fields``, ``lexical_rank``, ``dense_rank``), plus the highlight spans of snippets."""

from __future__ import annotations

import functools
import re
from typing import Any

from paperboy.index.lexical import NAME, analyze
from paperboy.papers import Paper

PIN_SENTENCES = {"arxiv_id": "Exact arXiv id.", "doi": "Exact DOI.", "title": "Exact title."}
CLOSE_DENSE_RANK = 10  # within this semantic rank a hit is "close in meaning", below it "related in meaning"
_FIELD_WORDS = {"title": "the title", "abstract": "the abstract", "authors": "the authors"}


def explain(*, paper: Paper, highlights: dict[str, list[tuple[int, int]]], name_terms: set[str],
            lexical_rank: int | None, dense_rank: int | None, pinned: str | None = None) -> tuple[str, dict[str, Any]]:
    """The reader's sentence and the structured explanation of one search hit."""
    fields = [f for f in ("title", "abstract") if highlights.get(f)]
    if "title" in fields and "abstract" in fields:
        fields = ["title"]  # a title match says more; the snippet shows the abstract's words anyway
    if name_terms and any(set(analyze(a.name, NAME)) & name_terms for a in paper.authors[:50]):
        fields.append("authors")
    data = {"pinned": pinned, "fields": fields, "lexical_rank": lexical_rank, "dense_rank": dense_rank}
    if pinned:
        return PIN_SENTENCES.get(pinned, "Named exactly by the query."), data
    parts = []
    if fields:
        parts.append("matches " + " and ".join(_FIELD_WORDS[f] for f in fields))
    elif lexical_rank is not None:
        parts.append("matches the search words")
    if dense_rank is not None:
        parts.append("close in meaning" if dense_rank <= CLOSE_DENSE_RANK else "related in meaning")
    return sentence(parts or ["related in meaning"]), data


def similar_explain(rank: int, by_meaning: bool) -> tuple[str, dict[str, Any]]:
    """A "similar papers" hit: near in meaning (stored vectors) or sharing words (lexical fallback)."""
    data = {"pinned": None, "fields": [], "lexical_rank": None if by_meaning else rank,
            "dense_rank": rank if by_meaning else None}
    return ("Close in meaning to this paper." if by_meaning else "Shares words with this paper."), data


BROWSE = ("Newest matching the filters.", {"pinned": None, "fields": [], "lexical_rank": None, "dense_rank": None})


def sentence(parts: list[str]) -> str:
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


@functools.lru_cache(maxsize=100_000)
def _stem(word: str) -> str | None:
    t = analyze(word)
    return t[0] if t else None


@functools.lru_cache(maxsize=4096)
def _prefix_pattern(prefixes: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(map(re.escape, prefixes)) + r")\w*", re.IGNORECASE)


def highlights(title: str, abstract: str, terms: set[str]) -> dict[str, list[tuple[int, int]]]:
    """Character spans of words in title/abstract whose index term is one of ``terms`` (for snippets).

    Why the prefix regex: stemming only rewrites a word's ending, so every word that stems to ``t`` starts
    with ``t`` minus its last letter; the C regex engine finds those few candidates, and only they are
    stemmed, instead of stemming every word of every abstract in Python.
    """
    out: dict[str, list[tuple[int, int]]] = {}
    if not terms:
        return out
    pattern = _prefix_pattern(tuple(sorted({t[: max(2, len(t) - 1)] for t in terms}, key=lambda p: (-len(p), p))))
    for name, text in (("title", title), ("abstract", abstract)):
        spans = [(m.start(), m.end()) for m in pattern.finditer(text or "") if _stem(m.group().lower()) in terms]
        if spans:
            out[name] = spans
    return out
