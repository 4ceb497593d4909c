"""The lexical index: BM25 search, phrases, +/- terms, filters, paper attributes, incremental sync."""

from __future__ import annotations

from datetime import date

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.search_home import CATS, SEED, build_home, seed_records
from paperboy.config import load_settings
from paperboy.index.attributes import author_matches, category_prefixes
from paperboy.index.lexical import LexicalIndex
from paperboy.ingest import ingest, open_sources
from paperboy.papers import Author, Paper, finish
from paperboy.query import Filters
from paperboy.search.parse import parse_query
from paperboy.store.sqlite import SQLiteStore


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[SQLiteStore, LexicalIndex, list[dict]]:
    if not SEED.exists():
        pytest.skip("seed papers not found")
    root = tmp_path_factory.mktemp("lexical")
    records = seed_records()
    store, _ = build_home(root, records)
    index = LexicalIndex(root / "index")
    assert index.sync(store) == len(records)
    yield store, index, records
    index.close()
    store.close()


def search(index: LexicalIndex, text: str, k: int = 100, **kw) -> tuple[list[int], list[float]]:
    return index.search(parse_query(text), k, **kw)


def titles(store: SQLiteStore, pids: list[int]) -> list[str]:
    return [sp.paper.title for sp in store.get_many(pids)]


def texts(store: SQLiteStore, pids: list[int]) -> list[str]:
    return [f"{sp.paper.title} {sp.paper.abstract}".lower() for sp in store.get_many(pids)]


# -- attributes -----------------------------------------------------------------------------------------------------


def test_category_prefixes():
    assert category_prefixes("cs.LG") == ["cs", "cs.lg"]
    assert category_prefixes("math-ph") == ["math-ph"]


def test_author_matches_needs_one_author():
    p = finish(Paper(id="x", title="t", authors=[Author("Yann LeCun"), Author("Geoffrey Hinton")]))
    assert author_matches(p, "lecun")
    assert author_matches(p, "Yann LeCun")
    assert not author_matches(p, "yann hinton")


# -- searching ----------------------------------------------------------------------------------------------------


def test_bm25_ranks_topical_papers(built):
    store, index, _ = built
    pids, scores = search(index, "graph neural networks", 10)
    assert len(pids) == 10 and scores == sorted(scores, reverse=True)
    assert all("graph" in t for t in texts(store, pids[:5]))


def test_phrase_requires_adjacent_words(built):
    store, index, _ = built
    pids, _ = search(index, '"continual learning"', 50)
    assert pids
    assert all("continual learning" in t for t in texts(store, pids))


def test_required_and_excluded_terms(built):
    store, index, _ = built
    pids, _ = search(index, "learning +graph -node", 100)
    assert pids
    for t in texts(store, pids):
        assert "graph" in t and "node" not in t


def test_category_prefix_and_date_filters(built):
    store, index, _ = built
    pids, _ = search(index, "learning", 300, filters=Filters(category="cs"))
    cats = [sp.paper.categories for sp in store.get_many(pids)]
    assert cats and all(any(c.startswith("cs.") for c in cs) for cs in cats)
    everything = store.get_many(search(index, "learning", 300)[0])
    assert any("math.OC" in sp.paper.categories for sp in everything)
    only_lg, _ = search(index, "learning", 300, filters=Filters(category="cs.LG"))
    assert set(only_lg) < set(pids)
    f = Filters(since=date(2021, 1, 1), until=date(2021, 12, 31))
    dated, _ = search(index, "learning", 300, filters=f)
    assert dated and all(sp.paper.submitted.year == 2021 for sp in store.get_many(dated))
    assert search(index, "learning", 10, filters=Filters(category="no.such"))[0] == []


def test_filter_mask_agrees_with_index(built):
    _, index, _ = built
    f = Filters(category="cs.LG", since=date(2022, 1, 1))
    mask = index.attributes.mask(f)
    in_index, total = index.browse(f, 1000)
    assert total == len(in_index) == int(mask.sum())
    assert set(in_index) == {int(i) for i in mask.nonzero()[0]}


def test_author_filter(built):
    store, index, _ = built
    pids, _ = search(index, "learning", 300, filters=Filters(author="Turing"))
    assert pids and all(any("Turing" in a.name for a in sp.paper.authors) for sp in store.get_many(pids))
    assert index.word_filter_pids(Filters(author="alan turing")) >= set(pids)


def test_venue_filter_matches_words_in_any_case(built):
    store, index, records = built
    iclr = {i for i, r in enumerate(records) if r["journal_ref"] == "ICLR 2024"}
    for venue in ("ICLR", "iclr 2024", " ICLR  2024 "):
        pids, _ = search(index, "learning", 300, filters=Filters(venue=venue))
        got = store.get_many(pids)
        assert got and all(sp.paper.journal_ref == "ICLR 2024" for sp in got), venue
        assert index.word_filter_pids(Filters(venue=venue)) >= set(pids)
    browsed, total = index.browse(Filters(venue="iclr"), 1000)
    assert total == len(iclr) == len(browsed)
    assert search(index, "learning", 10, filters=Filters(venue="ICLR 2023"))[0] == []
    phys, _ = search(index, "learning", 300, filters=Filters(venue="Phys. Rev. D"))
    assert phys and all(sp.paper.journal_ref.startswith("Phys. Rev. D") for sp in store.get_many(phys))
    assert index.word_filter_pids(Filters(venue="...")) == set()  # no words: nothing matches


def test_browse_sorts_newest_first(built):
    store, index, _ = built
    pids, total = index.browse(Filters(category="cs.CL"), 20)
    assert total == sum(1 for i in range(230) if CATS[i % 5] == ["cs.CL"])
    dates = [sp.paper.submitted for sp in store.get_many(pids)]
    assert dates == sorted(dates, reverse=True)


def test_exact_title_lookup(built):
    store, index, records = built
    pids = index.find_title(records[2]["title"].upper() + "!")
    assert titles(store, pids) == [records[2]["title"]]


def test_term_scores_add_up_across_terms(built):
    """Flat per-field clauses (pruned with block-max WAND) score a paper as the sum of its per-term scores."""
    _, index, _ = built
    both = dict(zip(*search(index, "federated privacy", 50), strict=True))
    one = dict(zip(*search(index, "federated", 200), strict=True))
    two = dict(zip(*search(index, "privacy", 200), strict=True))
    assert both
    for pid, score in both.items():
        assert score == pytest.approx(one.get(pid, 0.0) + two.get(pid, 0.0), rel=1e-5)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)
       | st.sampled_from(['"', '+"', '-"a b"', "+-+", "AND OR NOT", "a:b*c(d)", "NEAR/3", "\\", "''"]))
def test_hostile_queries_never_crash(built, text):
    _, index, _ = built
    pids, scores = search(index, text, 5)
    assert len(pids) == len(scores) <= 5


# -- incremental sync ---------------------------------------------------------------------------------------------


def test_incremental_sync_updates_without_duplicates(tmp_path):
    records = seed_records()[:20]
    store, _ = build_home(tmp_path, records)
    index = LexicalIndex(tmp_path / "index")
    assert index.sync(store) == 20
    assert index.sync(store) == 0  # nothing changed
    seq = index.last_seq
    assert seq == store.max_seq()
    # a changed paper is re-indexed (delete + add), a new one added
    changed = dict(records[0], abstract="A completely different zyzzyva abstract.")
    new = {"id": "new-1", "title": "Quokka behaviour under observation", "abstract": "Marsupials.",
           "date": "2024-02-02", "categories": ["q-bio.PE"]}
    cached = index.attributes.mask(Filters(category="q-bio"))
    assert cached.sum() == 4 and not cached.flags.writeable  # cached per category, so callers cannot change it
    src = tmp_path / "more.jsonl"
    src.write_bytes(orjson.dumps(changed) + b"\n" + orjson.dumps(new) + b"\n")
    settings = load_settings(tmp_path / "home")
    ingest(store, open_sources([str(src)], fmt="jsonl", settings=settings, store=store))
    assert index.sync(store) == 2
    assert index.attributes.mask(Filters(category="q-bio")).sum() == 5  # the cached mask was dropped on update
    assert len(index) == 21
    assert len(search(index, "zyzzyva", 5)[0]) == 1
    assert len(search(index, "quokka", 5)[0]) == 1
    # the caught-up sequence survives a reopen
    index.close()
    reopened = LexicalIndex(tmp_path / "index")
    assert reopened.last_seq == store.max_seq() and len(reopened) == 21
    assert reopened.sync(store) == 0
    assert reopened.attributes.mask(Filters(category="q-bio")).sum() == 4 + 1  # every fifth seed paper + the new one


def test_cli_ingest_keeps_existing_lexical_index_in_step(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from paperboy.cli import main

    monkeypatch.setenv("PAPERBOY_HOME", str(tmp_path / "home"))
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_bytes(b"\n".join(orjson.dumps(r) for r in seed_records()[:10]) + b"\n")
    second.write_bytes(orjson.dumps({"id": "late", "title": "Wombat burrow engineering", "abstract": "Cubes."}))
    runner = CliRunner()
    assert runner.invoke(main, ["ingest", str(first)]).exit_code == 0
    assert runner.invoke(main, ["index", "--no-embed"]).exit_code == 0
    assert runner.invoke(main, ["ingest", str(second)]).exit_code == 0
    assert len(search(LexicalIndex(tmp_path / "home" / "index" / "lexical"), "wombat")[0]) == 1  # no `index` needed
    out = runner.invoke(main, ["search", "wombat", "--mode", "lexical", "--json"])
    assert out.exit_code == 0, out.output
    assert [h["paper"]["id"] for h in orjson.loads(out.stdout)["hits"]] == ["late"]  # the API's shape
