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
