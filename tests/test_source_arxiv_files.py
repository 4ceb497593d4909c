"""arXiv .abs and listing files: real records from the shared fixture tarball, then bad input.

The real-data tests read ``../shared/datasets/arxiv-abs/abs_files.tar.gz`` (beside the repository)
and are skipped when it is absent; the bad-input tests build their own files.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperboy.papers import Paper
from paperboy.sources.arxiv_files import iter_path
from paperboy.sources.arxiv_format import decode, iter_listing, read_abs
from paperboy.sources.base import Reject, SourceError

TARBALL = Path(__file__).resolve().parents[2] / "shared/datasets/arxiv-abs/abs_files.tar.gz"
needs_tarball = pytest.mark.skipif(not TARBALL.exists(), reason=f"shared arXiv fixture tarball not found at {TARBALL}")

# Members whose raw bytes the tests read directly.
MEMBERS = {
    "ftp/arxiv/papers/0704/0704.0001.abs",
    "ftp/arxiv/papers/0704/0704.0044.abs",
    "ftp/hep-th/papers/9901/9901001.abs",
    "orig/hep-th/papers/9901/9901001v1.abs",
    "orig/arxiv/papers/0704/0704.0001v1.abs",
    "ftp/arxiv/papers/1607/1607.08199.abs",
    "ftp/arxiv/papers/2004/2004.02153.abs",
    "ftp/astro-ph/listings/new.CO",
    "ftp/astro-ph/listings/9212",
    "ftp/astro-ph/listings/9501",
    "ftp/astro-ph/listings/pastweek",
    "ftp/math-ph/listings/9701",
    "ftp/math-ph/listings/9712",
    "ftp/q-fin/listings/new",
}


@pytest.fixture(scope="module")
def archive() -> dict:
    """Raw bytes of the members the tests read directly (one cheap streaming pass, no parsing)."""
    if not TARBALL.exists():
        pytest.skip(f"shared arXiv fixture tarball not found at {TARBALL}")
    raw: dict[str, bytes] = {}
    abs_members: list[bytes] = []
    with tarfile.open(TARBALL, "r|gz") as tf:
        for m in tf:
            if not m.isfile():
                continue
            first_abs = m.name.startswith("ftp/arxiv/papers/0704/") and len(abs_members) < 40
            if m.name in MEMBERS or first_abs:
                data = tf.extractfile(m).read()  # type: ignore[union-attr]
                raw[m.name] = data
                if first_abs:
                    abs_members.append(data)
    return {"raw": raw, "abs_members": abs_members}


@pytest.fixture(scope="module")
def whole() -> dict:
    """One full parse of the whole real archive: the slow part (~145,000 records), done once."""
    if not TARBALL.exists():
        pytest.skip(f"shared arXiv fixture tarball not found at {TARBALL}")
    counts: Counter[str] = Counter()
    rejects: list[Reject] = []
    order: list[str] = []
    with_abstract = 0
    for rec in iter_path(TARBALL):
        if isinstance(rec, Reject):
            rejects.append(rec)
            order.append(f"reject {rec.location}")
            continue
        assert isinstance(rec, Paper)
        counts[rec.source] += 1
        order.append(rec.id)
        with_abstract += bool(rec.abstract) and rec.source == "listing"
    return {"counts": counts, "rejects": rejects, "order": order, "with_abstract": with_abstract}


def _abs(archive: dict, member: str) -> Paper:
    return read_abs(archive["raw"][member].decode("utf-8", errors="strict"), source=str(TARBALL), location=member)


def _listing(archive: dict, member: str) -> list[Paper | Reject]:
    return list(iter_listing(decode(archive["raw"][member]), source=member))


# --------------------------------------------------------------------------- the real archive


@needs_tarball
def test_whole_archive_counts(whole: dict) -> None:
    # 1,132 ftp/ .abs files (one empty) + 60 orig/ ones; 144,381 listing entries: the README's
    # 140,225 misses the 4,156 "Paper (*cross-listing*):" entries of the old monthly listings.
    assert whole["counts"] == {"abs": 1131 + 60, "listing": 144_381}
    assert [(r.location, r.reason) for r in whole["rejects"]] == [
        ("member ftp/math-ph/papers/0509/0509037.abs", "empty file")
    ]
    assert whole["with_abstract"] == 169  # only the new* daily listings carry abstracts


@needs_tarball
def test_0704_0001_exact_fields(archive: dict) -> None:
    p = _abs(archive, "ftp/arxiv/papers/0704/0704.0001.abs")
    assert p.id == p.arxiv_id == "0704.0001"
    assert p.source == "abs"
    assert p.title == "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    assert [a.name for a in p.authors] == ["C. Bal\\'azs", "E. L. Berger", "P. M. Nadolsky", "C.-P. Yuan"]
    assert p.categories == ["hep-ph"]
    assert p.version == 2
    assert [(v.version, v.date, v.size) for v in p.versions] == [
        (1, date(2007, 4, 2), "443kb"),
        (2, date(2007, 7, 24), "370kb"),
    ]
    assert (p.submitted, p.updated) == (date(2007, 4, 2), date(2007, 7, 24))
    assert p.doi == "10.1103/physrevd.76.013009"
    assert p.journal_ref == "Phys.Rev.D76:013009,2007"
    assert p.report_no == "ANL-HEP-PR-07-12"
    assert p.comments == "37 pages, 15 figures; published version"
    assert p.submitter == "Pavel Nadolsky"  # the e-mail address is dropped
    assert p.license is None
    assert p.abstract.startswith("A fully differential calculation in perturbative quantum chromodynamics is presented")
    assert p.abstract.endswith("judicious selection of events.")
    assert p.links["abs"] == "https://arxiv.org/abs/0704.0001"
    assert p.links["doi"] == "https://doi.org/10.1103/physrevd.76.013009"


@needs_tarball
def test_old_style_id(archive: dict) -> None:
    p = _abs(archive, "ftp/hep-th/papers/9901/9901001.abs")
    assert p.id == p.arxiv_id == "hep-th/9901001"
    assert p.version == 3 and [v.version for v in p.versions] == [1, 2, 3]
    assert p.updated == date(1999, 5, 10)
    assert p.doi == "10.1143/ptp.101.1155"
    assert p.journal_ref == "Prog.Theor.Phys.101:1155-1164,1999"
    assert p.categories == ["hep-th"]


@needs_tarball
def test_orig_older_version(archive: dict) -> None:
    old = _abs(archive, "orig/hep-th/papers/9901/9901001v1.abs")
    assert old.id == "hep-th/9901001"
    assert old.version == 1 and [(v.version, v.date) for v in old.versions] == [(1, date(1999, 1, 1))]
    assert old.categories == ["hep-th"]  # no Categories line in old files: the id's archive
    assert old.comments == "12 pages + 4 eps figures, LaTeX"
    assert old.doi is None
    v1 = _abs(archive, "orig/arxiv/papers/0704/0704.0001v1.abs")
    assert (v1.id, v1.version, len(v1.versions)) == ("0704.0001", 1, 1)


@needs_tarball
def test_affiliations(archive: dict) -> None:
    p = _abs(archive, "ftp/arxiv/papers/0704/0704.0044.abs")
    assert [(a.name, a.affiliation) for a in p.authors] == [
        ("A. A. Schekochihin", "Oxford"),
        ("S. C. Cowley", "Culham"),
        ("W. Dorland", "Maryland"),  # the affiliation is on the continuation line
        ("G. W. Hammett", "Princeton"),
        ("G. G. Howes", "Iowa"),
        ("E. Quataert", "Berkeley"),
        ("T. Tatsuno", "Maryland"),
    ]
    assert p.categories == ["astro-ph", "nlin.CD", "physics.plasm-ph", "physics.space-ph"]


@needs_tarball
def test_latin1_file(archive: dict, tmp_path: Path) -> None:
    data = archive["raw"]["ftp/arxiv/papers/1607/1607.08199.abs"]
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    (p,) = iter_path_bytes(data, "1607.08199.abs", tmp_path)
    assert isinstance(p, Paper)
    assert p.journal_ref == "Épijournal de Géométrie Algébrique, Volume 1 (September 1, 2017) epiga:3255"
    assert p.version == 5


@needs_tarball
def test_tex_line_breaks_inside_abstract(archive: dict) -> None:
    # A "\\" line inside the abstract (TeX) must not end it.
    p = _abs(archive, "ftp/arxiv/papers/2004/2004.02153.abs")
    assert "v_t = \\Delta v - v + u" in p.abstract
    assert p.abstract.endswith("collapse into a persistent Dirac distribution.")


@needs_tarball
@pytest.mark.parametrize(
    ("member", "entries"),
    [
        ("ftp/astro-ph/listings/9212", 11),
        ("ftp/astro-ph/listings/new.CO", 23),
        ("ftp/astro-ph/listings/pastweek", 320),
        ("ftp/math-ph/listings/9712", 34),  # only "Paper (*cross-listing*):" entries
        ("ftp/q-fin/listings/new", 16),
    ],
)
def test_listing_entry_counts(archive: dict, member: str, entries: int) -> None:
    records = _listing(archive, member)
    assert len(records) == entries
    assert all(isinstance(r, Paper) and r.source == "listing" and r.title for r in records)


@needs_tarball
def test_listing_fields(archive: dict) -> None:
    first = _listing(archive, "ftp/astro-ph/listings/9212")[0]
    assert isinstance(first, Paper)
    assert first.id == "astro-ph/9212001"
    assert first.title == "A rotating black hole in the Galactic Center"
    assert [a.name for a in first.authors][-1] == "Peter G. Mezger"
    assert first.submitted == date(1992, 12, 7) and first.abstract == ""
    assert first.journal_ref == "Astron.Astrophys. 270 (1993) 102-106"
    # Old listings: "Date (revised):" lines without a number count on from v1.
    jain = next(p for p in _listing(archive, "ftp/astro-ph/listings/9501") if p.id == "astro-ph/9501047")
    assert [(v.version, v.date) for v in jain.versions] == [
        (1, date(1995, 1, 14)),
        (2, date(1995, 1, 15)),
        (3, date(1995, 2, 7)),
        (4, date(1996, 5, 30)),
    ]
    # Day markers and section separators of pastweek listings never leak into an abstract.
    assert all(p.abstract == "" for p in _listing(archive, "ftp/astro-ph/listings/pastweek"))


@needs_tarball
def test_daily_listing_new_cross_and_replaced(archive: dict) -> None:
    records = {p.id: p for p in _listing(archive, "ftp/astro-ph/listings/new.CO")}
    new = records["2303.00769"]
    assert new.abstract.startswith("Galaxy-scale strong lenses in galaxy clusters")
    assert new.abstract.endswith("galaxy-scale lensing systems.")  # not the "( https://... )" line
    assert new.versions[0].size == "32463kb,D"
    assert records["2303.00773"].categories == ["astro-ph.GA", "astro-ph.CO"]  # a cross-listing: primary first
    replaced = records["2104.03145"]
    assert replaced.abstract == "" and replaced.version is None and replaced.versions == []
    assert replaced.updated == date(2023, 3, 2)  # "replaced with revised version Thu, 2 Mar 2023"
    assert replaced.categories == ["astro-ph.CO", "hep-ph"]
    assert replaced.doi == "10.1103/physrevd.103.103025"


@needs_tarball
def test_entry_without_date_line_gets_listing_date(archive: dict) -> None:
    # math-ph/listings/9701 has a "kDate:" typo; the listing's "Papers received as of" dates it.
    entry = next(p for p in _listing(archive, "ftp/math-ph/listings/9701") if p.id == "q-alg/9701031")
    assert entry.versions == [] and entry.updated == date(1997, 1, 1)


# --------------------------------------------------------------------------- archives, damaged and not


def iter_path_bytes(data: bytes, name: str, tmp: Path) -> list[Paper | Reject]:
    """Write ``data`` to a file called ``name`` under ``tmp`` and read it back through iter_path."""
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return list(iter_path(path))


def _tar(members: dict[str, bytes], compress: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, compresslevel=1) if compress else raw


@needs_tarball
def test_truncated_real_archive_keeps_records_before_damage(whole: dict, tmp_path: Path) -> None:
    cut = tmp_path / "abs_files.tar.gz"
    cut.write_bytes(TARBALL.read_bytes()[:1_000_000])
    records = list(iter_path(cut))
    *good, last = records
    assert isinstance(last, Reject) and "truncated or corrupt" in last.reason
    assert last.location.startswith("after member ")
    assert len(good) > 100
    assert all(isinstance(r, Paper) for r in good)
    assert [r.id for r in good] == whole["order"][: len(good)]  # exactly what the whole archive starts with


@needs_tarball
def test_truncated_archive_tail_is_not_silently_lost(archive: dict, tmp_path: Path) -> None:
    blob = _tar({f"ftp/arxiv/papers/0704/{i:04d}.abs": d for i, d in enumerate(archive["abs_members"])})
    whole = tmp_path / "whole.tar.gz"
    whole.write_bytes(blob)
    expected = [r.id for r in iter_path(whole)]
    assert len(expected) == 40
    for size in (len(blob) // 2, len(blob) - 10):  # mid-stream, and only the gzip trailer lost
        cut = tmp_path / f"cut{size}.tgz"
        cut.write_bytes(blob[:size])
        *good, last = list(iter_path(cut))
        assert isinstance(last, Reject) and "truncated or corrupt" in last.reason, size
        assert [r.id for r in good] == expected[: len(good)]
    # A plain tar cut exactly at a member boundary: tarfile alone would not notice.
    plain = _tar({"a/0704.0001.abs": archive["abs_members"][0], "a/0704.0002.abs": archive["abs_members"][1]}, False)
    cut = tmp_path / "cut.tar"
    cut.write_bytes(plain[: 512 + -(-len(archive["abs_members"][0]) // 512) * 512])  # header + padded data
    first, damage = list(iter_path(cut))
    assert isinstance(first, Paper) and first.id == "0704.0001"
    assert isinstance(damage, Reject) and "end-of-archive" in damage.reason
    assert damage.location == "after member a/0704.0001.abs"


def test_unreadable_archive_is_a_source_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.tar.gz"
    bad.write_bytes(b"this is not an archive at all" * 10)
    with pytest.raises(SourceError, match="not a readable tar archive"):
        list(iter_path(bad))


def test_missing_path_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file or directory"):
        iter_path(tmp_path / "nope.tar.gz")  # raised at once, before iteration


def test_bad_fmt_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fmt must be one of"):
        iter_path(tmp_path, fmt="json")


# --------------------------------------------------------------------------- bad records

GOOD_ABS = """\
------------------------------------------------------------------------------
\\\\
arXiv:2401.00001
From: Ann Author <ann@example.org>
Date: Mon, 1 Jan 2024 10:00:00 GMT   (10kb)
Date (revised v2): Tue, 2 Jan 2024 10:00:00 GMT   (11kb)

Title: A title that is long enough to be wrapped onto
  a continuation line
Authors: Ann Author (Somewhere University), Bob Builder
Categories: cs.LG stat.ML
Comments: 10 pages
MSC-class: 68T05
Frobnicate: an unknown field, ignored
\\\\
  An abstract.
\\\\
"""


def test_good_synthetic_abs() -> None:
    p = read_abs(GOOD_ABS, source="t", location="x")
    assert p.title == "A title that is long enough to be wrapped onto a continuation line"
    assert [(a.name, a.affiliation) for a in p.authors] == [
        ("Ann Author", "Somewhere University"),
        ("Bob Builder", None),
    ]
    assert (p.version, p.categories, p.abstract) == (2, ["cs.LG", "stat.ML"], "An abstract.")


def test_invalid_utf8_in_abs(tmp_path: Path) -> None:
    data = GOOD_ABS.replace("Title: A title", "Title: Caf\u00e9 A title").encode("utf-8")
    data = data.replace(b"Comments: 10 pages", b"Comments: 10 pages \xff\xfe broken")
    (p,) = iter_path_bytes(data, "2401.00001.abs", tmp_path)
    assert isinstance(p, Paper)
    assert p.title.startswith("Café A title")  # the valid UTF-8 line is kept as UTF-8
    assert p.comments == "10 pages \u00ff\u00fe broken"  # the bad line falls back to latin-1: nothing lost


def test_abs_without_id_line(tmp_path: Path) -> None:
    text = GOOD_ABS.replace("arXiv:2401.00001\n", "")
    with pytest.raises(ValueError, match="no 'arXiv:' or 'Paper:' id line"):
        read_abs(text, source="t", location="x")
    (r,) = iter_path_bytes(text.encode(), "x.abs", tmp_path)
    assert isinstance(r, Reject) and "id line" in r.reason and r.location == "whole file" and "Title:" in r.raw


def test_abs_with_invalid_id() -> None:
    with pytest.raises(ValueError, match="not an arXiv id"):
        read_abs(GOOD_ABS.replace("arXiv:2401.00001", "arXiv:not-an-id"), source="t", location="x")


def test_abs_without_title(tmp_path: Path) -> None:
    text = GOOD_ABS.replace("Title: A title that is long enough to be wrapped onto\n  a continuation line\n", "")
    with pytest.raises(ValueError, match="no 'Title:' field"):
        read_abs(text, source="t", location="x")
    text = GOOD_ABS.replace("A title that is long enough to be wrapped onto\n  a continuation line", "  ")
    with pytest.raises(ValueError, match="empty 'Title:' field"):
        read_abs(text, source="t", location="x")


def test_huge_abstract_is_rejected(tmp_path: Path) -> None:
    text = GOOD_ABS.replace("  An abstract.", ("word " * 16 + "\n") * 125_000)  # 10 MB
    assert len(text) > 10_000_000
    (r,) = iter_path_bytes(text.encode(), "2401.00001.abs", tmp_path)
    assert isinstance(r, Reject)
    assert re.fullmatch(r"abstract is 9,99\d,\d{3} characters \(limit 100,000\)", r.reason)
    assert len(r.raw) < 70_000  # Reject keeps a bounded excerpt


def test_html_in_title_is_kept_verbatim() -> None:
    evil = '<script>alert("x")</script> & <b>bold</b>'
    p = read_abs(GOOD_ABS.replace("A title that is long enough to be wrapped onto", evil), source="t", location="x")
    assert p.title == f"{evil} a continuation line"


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty file"):
        read_abs("", source="t", location="x")
    with pytest.raises(ValueError, match="empty file"):
        read_abs(" \n\n", source="t", location="x")
    (r,) = iter_path_bytes(b"", "0509037.abs", tmp_path)
    assert isinstance(r, Reject) and r.reason == "empty file"
    (r,) = iter_path_bytes(b"\n", "listings/9901", tmp_path)
    assert isinstance(r, Reject) and r.reason == "empty file"


def _entry(arxiv_id: str, title: str) -> str:
    return (
        f"\\\\\narXiv:{arxiv_id}\nFrom: A <a@b.c>\nDate: Wed, 1 Mar 2023 19:00:06 GMT   (3kb)\n\n"
        f"Title: {title}\nAuthors: A. Person\nCategories: astro-ph.CO\n\\\\\n" + "-" * 78 + "\n"
    )


def test_listing_duplicates_and_bad_entries() -> None:
    text = (
        "-" * 78
        + "\n"
        + _entry("2303.00001", "First")
        + _entry("2303.00001", "First")
        + _entry("2303.00002", "")
        + _entry("bogus", "Bad id")
    )
    records = list(iter_listing(text, source="t"))
    assert [type(r).__name__ for r in records] == ["Paper", "Paper", "Reject", "Reject"]
    assert records[0] == records[1]  # both duplicates are yielded; the store dedups
    assert records[2].location == "entry 3 (line 23)" and records[2].reason == "empty 'Title:' field"
    assert records[3].location == "entry 4 (line 33)" and "not an arXiv id" in records[3].reason
    assert "Bad id" in records[3].raw


def test_directory_walk_and_unknown_files(tmp_path: Path) -> None:
    (tmp_path / "ftp/x/papers").mkdir(parents=True)
    (tmp_path / "ftp/x/papers/2401.00001.abs").write_text(GOOD_ABS)
    (tmp_path / "ftp/x/listings").mkdir(parents=True)
    (tmp_path / "ftp/x/listings/2303").write_text(_entry("2303.00001", "Listed"))
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "bundle.tar.gz").write_bytes(_tar({"ftp/y/papers/2401.00001.abs": GOOD_ABS.encode()}))
    records = list(iter_path(tmp_path))
    papers = [r for r in records if isinstance(r, Paper)]
    rejects = [r for r in records if isinstance(r, Reject)]
    assert sorted((p.source, p.id) for p in papers) == [
        ("abs", "2401.00001"),
        ("abs", "2401.00001"),
        ("listing", "2303.00001"),
    ]
    assert [(r.location, r.reason) for r in rejects] == [("file notes.txt", "unknown file kind")]
    assert all(r.source == str(tmp_path) for r in rejects)
    # fmt forces the kind: a listing file without a listings/ folder
    plain = tmp_path / "plain"
    plain.write_text(_entry("2303.00003", "Forced"))
    assert [r.id for r in iter_path(plain, fmt="listing")] == ["2303.00003"]  # type: ignore[union-attr]


# --------------------------------------------------------------------------- properties

_LINES = st.sampled_from(
    [
        "\\\\",
        "-" * 78,
        "arXiv:0704.0001",
        "Paper: hep-th/9901001",
        "arXiv:9999.99999v0",
        "Date: Mon, 2 Apr 2007 19:18:42 GMT   (443kb)",
        "Date (revised v2): Tue, 31 Feb 2007 20:10:27 GMT   (370kb)",
        "Date (revised): garbage",
        "Date (revised v99999999999999999999):",
        "Title: x",
        "Title:",
        "  continued",
        "Authors: A (B (C), D",
        "Categories: ",
        "DOI: 10.1/x",
        "replaced with revised version Thu, 99 Mar 2023",
        "\\\\ ( https://arxiv.org/abs/0704.0001 ,  1kb)",
        "",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(), st.lists(st.one_of(_LINES, st.text(max_size=30)), max_size=25).map("\n".join)))
def test_parsers_raise_only_value_error(text: str) -> None:
    try:
        paper = read_abs(text, source="t", location="x")
    except ValueError:
        pass
    else:
        assert paper.title and paper.id
    for rec in iter_listing(text, source="t"):  # never raises: every problem is a Reject
        assert isinstance(rec, Paper | Reject)
