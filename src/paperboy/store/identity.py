"""Who is who: the rules that match an incoming record to a paper already stored.

Pure functions and plain data, beside :mod:`paperboy.store.merge`: a backend only answers the bulk
lookups named by :class:`Keys` (one query per kind of key for a whole batch) and fills a
:class:`Known`; the matching rules live here once, so a second backend (PostgreSQL) cannot drift
from the first.  The order: canonical id or alias, arXiv id, DOI, then normalised title (long titles
only, with no conflicting arXiv id or DOI and at least one shared author surname).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from paperboy.papers import Author, Paper, normalise_author

MIN_TITLE_WORDS_FOR_MATCH = 4  # shorter normalised titles ("Introduction") are too generic to merge on


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored paper whose normalised title equals an incoming record's."""

    pid: int
    arxiv_id: str | None
    doi: str | None
    surnames: frozenset[str]


@dataclass(slots=True)
class Keys:
    """What a backend must look up for a batch: ids (matched against canonical ids AND aliases), arXiv ids,
    DOIs (each against the papers' own columns) and titles long enough to match on."""

    ids: list[str]
    arxiv_ids: list[str]
    dois: list[str]
    titles: list[str]


@dataclass(slots=True)
class Known:
    """The answers to a batch's :class:`Keys`, plus what the batch itself adds as it goes."""

    by_id: dict[str, int] = field(default_factory=dict)
    by_arxiv: dict[str, int] = field(default_factory=dict)
    by_doi: dict[str, int] = field(default_factory=dict)
    by_title: dict[str, list[Candidate]] = field(default_factory=dict)

    def remember(self, pid: int, paper: Paper) -> None:
        """A paper just added (or re-merged) under ``pid``: later records of the batch can match it."""
        self.by_id[paper.id] = pid
        if paper.arxiv_id:
            self.by_arxiv[paper.arxiv_id] = pid
        if paper.doi:
            self.by_doi[paper.doi] = pid
        if title_key(paper.title_norm):
            self.by_title.setdefault(paper.title_norm, []).append(candidate(pid, paper.arxiv_id, paper.doi,
                                                                            paper.authors))


def keys(papers: Iterable[Paper]) -> Keys:
    """The distinct lookups a batch needs."""
    papers = list(papers)
    return Keys(
        ids=list(dict.fromkeys(p.id for p in papers)),
        arxiv_ids=list(dict.fromkeys(p.arxiv_id for p in papers if p.arxiv_id)),
        dois=list(dict.fromkeys(p.doi for p in papers if p.doi)),
        titles=list(dict.fromkeys(p.title_norm for p in papers if title_key(p.title_norm))),
    )


def title_key(title_norm: str) -> bool:
    """Whether a normalised title is specific enough to match papers on."""
    return len(title_norm.split()) >= MIN_TITLE_WORDS_FOR_MATCH


def surnames(authors: Iterable[Author | str]) -> frozenset[str]:
    """Normalised last names, the evidence a title match needs."""
    names = (normalise_author(a if isinstance(a, str) else a.name) for a in authors)
    return frozenset(n.split()[-1] for n in names if n)


def candidate(pid: int, arxiv_id: str | None, doi: str | None, authors: Iterable[Author | str]) -> Candidate:
    return Candidate(pid, arxiv_id, doi, surnames(authors))


def resolve(paper: Paper, known: Known) -> int | None:
    """The pid ``paper`` belongs to, or None for a new paper."""
    for table, key in ((known.by_id, paper.id), (known.by_arxiv, paper.arxiv_id), (known.by_doi, paper.doi)):
        if key and key in table:
            return table[key]
    candidates = known.by_title.get(paper.title_norm) if title_key(paper.title_norm) else None
    if not candidates:
        return None
    names = surnames(paper.authors)
    for c in candidates:
        if paper.arxiv_id and c.arxiv_id and paper.arxiv_id != c.arxiv_id:
            continue
        if paper.doi and c.doi and paper.doi != c.doi:
            continue
        if names and c.surnames and not names & c.surnames:
            continue
        return c.pid
    return None
