"""The one catalogue: newest first by the one listing date rule, windows that respect date precision."""

from datetime import date

import pytest

from paperboy.catalogue import CatalogueError, Listing, newest
from paperboy.papers import Author, Paper, finish


def paper(pid: str, when: date | None, precision: str = "day", *, cats=("cs.LG",), author="Ada Lovelace",
          updated: date | None = None) -> Paper:
    return finish(Paper(id=pid, title=f"Paper {pid}", authors=[Author(author)], categories=list(cats),
                        submitted=when, updated=updated, date_precision=precision, source="jsonl"))


@pytest.fixture
def filled(store):
    store.write_batch([
        paper("d1", date(2025, 3, 13)),
        paper("d2", date(2025, 3, 14), cats=("math.AG",), author="Emmy Noether"),
        paper("m1", date(2025, 3, 1), "month"),
        paper("y1", date(2025, 1, 1), "year", cats=("cs.CL",)),
        paper("u1", None, updated=date(2025, 3, 20)),  # only an update date: listed by it
        paper("n1", None),  # no date at all
        paper("d0", date(2024, 12, 31)),
    ], [])
    return store


def ids(listing: Listing) -> list[str]:
    return [p.id for p in listing.papers]


def test_newest_first_by_submission_else_update_undated_last(filled):
    listing = newest(filled)
    assert ids(listing) == ["u1", "d2", "d1", "m1", "y1", "d0", "n1"] and listing.total == 7


def test_windows_hold_a_paper_only_for_its_whole_date_span(filled):
    day = newest(filled, since=date(2025, 1, 1), until=date(2025, 1, 1))
    assert ids(day) == []  # the year-only paper is not "today" on 1 January
    week = newest(filled, since=date(2025, 3, 10), until=date(2025, 3, 16))
    assert ids(week) == ["d2", "d1"]  # the month-only paper is in no week
    march = newest(filled, since=date(2025, 3, 1), until=date(2025, 3, 31))
    assert ids(march) == ["u1", "d2", "d1", "m1"] and march.total == 4
    year = newest(filled, since=date(2025, 1, 1), until=date(2025, 12, 31))
    assert ids(year) == ["u1", "d2", "d1", "m1", "y1"]
    assert ids(newest(filled, until=date(2024, 12, 31))) == ["d0"]
    assert ids(newest(filled, since=date(2025, 3, 14))) == ["u1", "d2"]


def test_category_prefix_author_and_paging(filled):
    assert ids(newest(filled, category="cs")) == ["u1", "d1", "m1", "y1", "d0", "n1"]
    assert ids(newest(filled, category="cs.CL")) == ["y1"]
    assert ids(newest(filled, author="emmy noether")) == ["d2"]
    assert ids(newest(filled, category="cs.LG", author="Ada Lovelace", since=date(2025, 3, 1))) == ["u1", "d1", "m1"]
    page = newest(filled, category="cs", limit=2, offset=2)
    assert ids(page) == ["m1", "y1"] and page.total == 6
    assert newest(filled, limit=5, offset=100) == Listing([], 7)


def test_bad_requests_are_refused(filled):
    for kwargs in ({"limit": -1}, {"offset": -5}, {"since": date(2025, 2, 1), "until": date(2025, 1, 1)}):
        with pytest.raises(CatalogueError):
            newest(filled, **kwargs)
