from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paperboy.papers import (
    InvalidId,
    Paper,
    clean_text,
    finish,
    normalise_doi,
    normalise_title,
    paper_from_dict,
    parse_arxiv_id,
    parse_date,
    split_authors,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2401.01234", ("2401.01234", None)),
        ("2401.01234v3", ("2401.01234", 3)),
        ("arXiv:0704.0001v2", ("0704.0001", 2)),
        ("https://arxiv.org/abs/2104.12255v1", ("2104.12255", 1)),
        ("https://arxiv.org/pdf/2104.12255.pdf", ("2104.12255", None)),
        ("hep-th/9901001", ("hep-th/9901001", None)),
        ("math.GT/0309136", ("math/0309136", None)),
        ("math.GT/0309136v2", ("math/0309136", 2)),
        ("  cond-mat/0102536v1 ", ("cond-mat/0102536", 1)),
    ],
)
def test_parse_arxiv_id(text, expected):
    assert parse_arxiv_id(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "2413.01234", "1234", "hep-th/99", "2401.012345678", "../etc/passwd"])
def test_parse_arxiv_id_rejects(text):
    with pytest.raises(InvalidId):
        parse_arxiv_id(text)


@given(st.text())
def test_parse_arxiv_id_only_raises_invalid_id(text):
    try:
        canonical, version = parse_arxiv_id(text)
    except InvalidId:
        return
    assert canonical and (version is None or version >= 0)


def test_normalise_doi():
    assert normalise_doi("https://doi.org/10.1103/PhysRevD.76.013009") == "10.1103/physrevd.76.013009"
    assert normalise_doi("doi:10.1000/xyz.") == "10.1000/xyz"
    assert normalise_doi("not a doi") is None


def test_normalise_title_ignores_tex_case_accents_punctuation():
    a = normalise_title("Calculation of  Prompt Diphoton: Production \\emph{Cross} Sections")
    b = normalise_title("calculation of prompt diphoton production cross sections")
    assert a == b
    assert normalise_title("Étude des équations") == "etude des equations"


def test_clean_text_joins_lines_and_tex_breaks():
    assert clean_text("A fully\n  differential \\\\ calculation\n") == "A fully differential calculation"


def test_split_authors_with_affiliations():
    authors = split_authors("C. Bal\\'azs, E. L. Berger (ANL), P. M. Nadolsky and C.-P. Yuan (MSU)")
    assert [a.name for a in authors] == ["C. Bal\\'azs", "E. L. Berger", "P. M. Nadolsky", "C.-P. Yuan"]
    assert authors[1].affiliation == "ANL"
    assert authors[3].affiliation == "MSU"


def test_parse_date_formats():
    assert parse_date("Mon, 2 Apr 2007 19:18:42 GMT") == date(2007, 4, 2)
    assert parse_date("2007-04-02") == date(2007, 4, 2)
    assert parse_date("2024-01-27T17:53:42Z") == date(2024, 1, 27)
    assert parse_date("2020") == date(2020, 1, 1)
    assert parse_date("yesterday") is None


def test_finish_rejects_missing_title_and_huge_abstract():
    with pytest.raises(ValueError, match="no title"):
        finish(Paper(id="x", title="  \n "))
    with pytest.raises(ValueError, match="abstract is"):
        finish(Paper(id="x", title="t", abstract="a" * 10_000_000))


def test_finish_keeps_original_and_html_verbatim():
    p = finish(Paper(id="x", title="<script>alert(1)</script>  Title\n  two"))
    assert p.title == "<script>alert(1)</script> Title two"
    assert p.original["title"].startswith("<script>")


def test_split_authors_nicknames_and_wrapped_lists():
    assert [(a.name, a.affiliation) for a in split_authors("Zhe (Rita) Liang, Bob Smith (MIT (MA))")] == [
        ("Zhe (Rita) Liang", None), ("Bob Smith", "MIT (MA)")]
    assert [a.name for a in split_authors("(A. Author, B. Buthor)")] == ["A. Author", "B. Buthor"]
    assert [a.name for a in split_authors("Unbalanced (paren, Y")] == ["Unbalanced (paren", "Y"]


def test_dates_keep_the_precision_a_record_gives():
    from paperboy.papers import parse_date_precision

    assert parse_date_precision("2025") == (date(2025, 1, 1), "year")
    assert parse_date_precision("2025-03") == (date(2025, 3, 1), "month")
    assert parse_date_precision("2025-03-13") == (date(2025, 3, 13), "day")
    assert parse_date_precision("2025-13") == (None, "day") and parse_date_precision(None) == (None, "day")


def test_display_date_shows_only_what_is_known_and_never_an_epoch():
    from paperboy.papers import display_date

    def shown(when, precision="day", updated=None):
        return display_date(Paper(id="x", title="t", submitted=when, updated=updated, date_precision=precision))

    assert shown(date(2025, 1, 1), "year") == "2025"
    assert shown(date(2025, 3, 1), "month") == "March 2025"
    assert shown(date(2025, 3, 13)) == "13 March 2025"
    assert shown(None, updated=date(2024, 2, 2)) == "2 February 2024"
    assert shown(None) == ""
    from paperboy.papers import iso_date

    assert [iso_date(Paper(id="x", title="t", submitted=date(2025, 3, 13), date_precision=p))
            for p in ("year", "month", "day")] == ["2025", "2025-03", "2025-03-13"]


def test_listing_span_covers_the_whole_precision():
    from paperboy.papers import listing_span

    def span(when, precision):
        return listing_span(Paper(id="x", title="t", submitted=when, date_precision=precision))

    assert span(date(2025, 1, 1), "year") == (date(2025, 1, 1), date(2025, 12, 31))
    assert span(date(2024, 2, 1), "month") == (date(2024, 2, 1), date(2024, 2, 29))
    assert span(date(2024, 12, 1), "month") == (date(2024, 12, 1), date(2024, 12, 31))
    assert span(None, "day") is None


def test_merge_refines_a_year_with_a_day_inside_it_and_keeps_the_earlier_otherwise():
    from paperboy.store.merge import merge

    year = finish(Paper(id="a", title="t", submitted=date(2025, 1, 1), date_precision="year", source="jsonl"))
    day = finish(Paper(id="a", title="t", submitted=date(2025, 3, 13), source="abs"))
    earlier = finish(Paper(id="a", title="t", submitted=date(2024, 11, 2), source="abs"))
    for records in ([(1, year), (2, day)], [(1, day), (2, year)]):
        m = merge(records)
        assert (m.submitted, m.date_precision) == (date(2025, 3, 13), "day")
    m = merge([(1, year), (2, earlier)])
    assert (m.submitted, m.date_precision) == (date(2024, 11, 2), "day")


def test_generic_year_only_records_are_year_precision(tmp_path):
    from paperboy.sources.jsonl import from_generic

    p = from_generic({"id": "3dv2025-x", "title": "Flash3D", "venue": "3dv", "year": 2025})
    assert (p.submitted, p.date_precision, p.journal_ref) == (date(2025, 1, 1), "year", "3dv 2025")
    assert paper_from_dict({**p.to_dict(), "source": "jsonl"}).date_precision == "year"
    day = from_generic({"id": "d", "title": "Dated", "date": "2025-03-13"})
    assert "date_precision" not in day.to_dict()  # day precision leaves content hashes of old records unchanged
