"""The one catalogue: "papers in a window / category / author, newest first", for every surface.

Pages, the JSON API, feeds, the Hugging Face–compatible endpoints and the CLI all list papers through
:func:`newest`, so they agree on order and totals at any offset.  The store answers it: each listing is
one index range scan (``paper_categories`` carries the listing date for category listings, ``papers``
for the rest), so no search index is involved and deep pages cost what the first does.

The date rule, in one place (:func:`paperboy.papers.listing_span`): a paper is listed at its first
submission date, or at its last update when a source gave no submission date, at the precision the
source gave.  A window ``since`` .. ``until`` (inclusive days) holds a paper only when it holds the
paper's whole span: a year-only paper ("2025") appears in a window covering all of 2025 and never in a
day, week or month window; a month-only paper appears in month (or longer) windows.  Papers with no date
at all come last in unwindowed listings and in no window.  Ties are broken by newest pid first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from paperboy.papers import Paper
from paperboy.store.base import Store

MAX_LIMIT = 1000  # one page; the web layer caps lower


class CatalogueError(ValueError):
    """A listing request that cannot be answered (negative offset, limit out of range, window reversed)."""


@dataclass(frozen=True)
class Listing:
    """One page of a listing and how many papers the whole listing has."""

    papers: list[Paper]
    total: int


def newest(store: Store, *, category: str | None = None, author: str | None = None,
           since: date | None = None, until: date | None = None, limit: int = 20, offset: int = 0) -> Listing:
    """Papers newest first, optionally in a category (an archive such as ``cs`` includes ``cs.LG``), by an
    author (matched by normalised name), and listed within ``since`` .. ``until`` (see the module's rule)."""
    if not 0 <= limit <= MAX_LIMIT:
        raise CatalogueError(f"limit must be between 0 and {MAX_LIMIT}, not {limit}")
    if offset < 0:
        raise CatalogueError(f"offset must not be negative, not {offset}")
    if since and until and since > until:
        raise CatalogueError(f"the window starts ({since}) after it ends ({until})")
    where = {"category": category or None, "author": author or None, "since": since, "until": until}
    total = store.count(**where)
    if limit == 0 or offset >= total:
        return Listing([], total)
    return Listing([sp.paper for sp in store.latest(**where, limit=limit, offset=offset)], total)
