"""The query engine: modes, fusion, pinning, filters, sorts, paging, fallback, and hostile input."""

from __future__ import annotations

import tempfile
import threading
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperboy.index import Indexes
from paperboy.query import MAX_LIMIT, MAX_OFFSET, MAX_QUERY_CHARS, Filters, QueryError, SearchRequest
from paperboy.search import FusionParams, SearchEngine, highlights
from test_lexical import SEED, build_home, seed_records

MODEL_CACHE = Path(tempfile.gettempdir()) / "paperboy-test-models"  # built once per machine, shared by test modules

EXTRA = [
    {"id": "x-arxiv", "arxiv": "2401.01234", "doi": "10.1234/pinned.5678", "title": "A pinned paper about zebras",
     "abstract": "Zebras have stripes.", "date": "2024-01-15", "categories": ["q-bio.PE"], "authors": ["Zed Zebra"]},
]


def embedder_ready() -> bool:
    from paperboy.index.embed import available

    return available()


def link_models(home: Path) -> None:
    MODEL_CACHE.mkdir(parents=True, exist_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "models").exists():
        (home / "models").symlink_to(MODEL_CACHE, target_is_directory=True)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> SearchEngine:
    if not SEED.exists():
        pytest.skip("seed papers not found")
    root = tmp_path_factory.mktemp("search")
    store, cfg = build_home(root, seed_records() + EXTRA)
    link_models(cfg.home)
    indexes = Indexes(cfg, threads=2)
    embed_fn = None
    if embedder_ready() and indexes.embedder is not None:
        from paperboy.evaluate import CachedEmbedder

        embed_fn = CachedEmbedder(indexes.embedder, MODEL_CACHE / f"seed-vectors-{indexes.embedder.model_id}.npz")
    indexes.sync(store, embed_fn=embed_fn)
    if embed_fn is not None:
        embed_fn.save()
    eng = SearchEngine(cfg, store, indexes=indexes)
    yield eng
    eng.close()
    store.close()


def lexical_engine(engine: SearchEngine) -> SearchEngine:
    """The same indexes, embeddings switched off: what a machine without the model gets."""
    idx = Indexes(engine.settings, embed=False)
    return SearchEngine(engine.settings, engine.store, indexes=idx)


needs_embedder = pytest.mark.skipif(not embedder_ready(), reason="embedding model not installed")


def ask(engine: SearchEngine, query: str, **kw) -> object:
    return engine.search(SearchRequest(query=query, **kw))


# -- lexical behaviour --------------------------------------------------------------------------------------------


def test_lexical_search_explains_and_highlights(engine):
    res = ask(engine, "graph neural networks", mode="lexical", limit=5)
    assert res.mode_used == "lexical" and len(res.hits) == 5 and res.total >= 5
    top = res.hits[0]
    assert "keyword rank 1" in top.why
    spans = top.highlights["title"]
    words = [top.paper.title[a:b].lower() for a, b in spans]
    assert words and all(w.startswith(("graph", "neural", "network")) for w in words)
    assert [h.score for h in res.hits] == sorted((h.score for h in res.hits), reverse=True)


def test_highlights_follow_stems():
    hl = highlights("Learning graphs", "We learned a graph; learners graph it.", {"learn", "graph"})
    assert hl["title"] == [(0, 8), (9, 15)]
    assert len(hl["abstract"]) == 3  # learned, graph, graph: "learners" stems to "learner", not "learn"


def test_pins_arxiv_id_doi_and_title(engine):
    for query, why in [("2401.01234", "exact arXiv id"), ("arXiv:2401.01234v2", "exact arXiv id"),
                       ("https://doi.org/10.1234/PINNED.5678", "exact DOI"),
                       ("a pinned paper about ZEBRAS.", "exact title")]:
        res = ask(engine, query, mode="lexical")
        assert res.hits and res.hits[0].paper.arxiv_id == "2401.01234", query
        assert res.hits[0].why == why


def test_pin_respects_filters(engine):
    res = ask(engine, "2401.01234", mode="lexical", filters=Filters(category="cs"))
    assert all(h.paper.arxiv_id != "2401.01234" for h in res.hits)


def test_browse_empty_query_lists_newest(engine):
    res = ask(engine, "", filters=Filters(category="cs.CL"), limit=10)
    dates = [h.paper.submitted for h in res.hits]
    assert len(dates) == 10 and dates == sorted(dates, reverse=True)
    assert all("cs.CL" in h.paper.categories for h in res.hits)
    assert res.total == 46
    assert ask(engine, "", limit=3).hits[0].paper.submitted == max(
        date.fromisoformat(r["date"]) for r in seed_records() + EXTRA)


def test_sort_newest(engine):
    res = ask(engine, "learning", mode="lexical", sort="newest", limit=20)
    dates = [h.paper.submitted for h in res.hits]
    assert dates == sorted(dates, reverse=True)


def test_paging_is_consistent(engine):
    full = ask(engine, "learning models", mode="lexical", limit=30).hits
    page2 = ask(engine, "learning models", mode="lexical", limit=10, offset=10).hits
    assert [h.pid for h in page2] == [h.pid for h in full[10:20]]


def test_filters_category_date_author(engine):
    f = Filters(category="cs", since=date(2020, 3, 1), until=date(2020, 12, 31), author="Lovelace")
    for mode in ("lexical", "hybrid", "dense"):
        res = ask(engine, "learning", mode=mode, filters=f, limit=50)
        assert res.hits, mode
        for h in res.hits:
            assert any(c.startswith("cs.") for c in h.paper.categories)
            assert date(2020, 3, 1) <= h.paper.submitted <= date(2020, 12, 31)
            assert any("Lovelace" in a.name for a in h.paper.authors)


def test_phrase_and_exclusion_hold_in_every_mode(engine):
    for mode in ("lexical", "hybrid", "dense"):
        res = ask(engine, '"large language models" -survey', mode=mode, limit=50)
        assert res.hits, mode
        for h in res.hits:
            text = f"{h.paper.title} {h.paper.abstract}".lower()
            assert "large language model" in text and "survey" not in text, (mode, h.paper.title)


# -- bad input ----------------------------------------------------------------------------------------------------


def test_empty_and_stop_word_queries(engine):
    assert ask(engine, "   ").hits  # empty: the newest papers
    res = ask(engine, "the and of")
    assert res.hits == [] and "common words" in res.notice


def test_long_query_is_truncated(engine):
    res = ask(engine, "graph " * 2000, limit=3)
    assert len(res.request.query) <= MAX_QUERY_CHARS and res.hits


@pytest.mark.parametrize("query", [
    '"unbalanced quote graph', 'graph"', '*', 'title:graph', '(graph OR node)', 'graph NEAR/2 node', '"',
    "'; DROP TABLE papers; --", 'graph" OR 1=1 --', "papers MATCH 'x*'", "\x00\x01graph", "+", "-", "+-\"\"",
    "\ud800graph",
])
def test_engine_syntax_and_injection_are_harmless(engine, query):
    for mode in ("lexical", "hybrid"):
        res = ask(engine, query, mode=mode, limit=5)
        assert len(res.hits) <= 5
    assert engine.store.get_many([1])  # the store is intact


def test_non_utf8_bytes(engine):
    res = engine.search(SearchRequest(query=b"graph \xff\xfe neural", mode="lexical", limit=3))  # type: ignore[arg-type]
    assert res.hits and "\ufffd" in res.request.query


def test_unknown_category_is_empty(engine):
    res = ask(engine, "learning", filters=Filters(category="no.such"))
    assert res.hits == [] and res.total == 0
    assert ask(engine, "", filters=Filters(category="no.such")).hits == []


def test_inverted_date_range_is_a_query_error(engine):
    with pytest.raises(QueryError, match="inverted"):
        Filters(since=date(2024, 1, 2), until=date(2024, 1, 1))
    bad = Filters()
    object.__setattr__(bad, "since", date(2024, 1, 2))
    object.__setattr__(bad, "until", date(2024, 1, 1))
    with pytest.raises(QueryError, match="inverted"):
        engine.search(SearchRequest(query="graph", filters=bad))


def test_bad_mode_sort_and_limits(engine):
    with pytest.raises(QueryError):
        engine.search(SearchRequest(query="graph", mode="magic"))  # type: ignore[arg-type]
    with pytest.raises(QueryError):
        engine.search(SearchRequest(query="graph", sort="oldest"))  # type: ignore[arg-type]
    res = ask(engine, "learning", limit=10_000, offset=-5)
    assert res.request.limit == MAX_LIMIT and res.request.offset == 0
    res = ask(engine, "learning", limit=0, offset=10**9)
    assert res.request.limit == 1 and res.request.offset == MAX_OFFSET and res.hits == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_hostile_text_never_crashes(engine, text):
    res = ask(engine, text, mode="lexical", limit=5)
    assert len(res.hits) <= 5


# -- dense and hybrid ---------------------------------------------------------------------------------------------


@needs_embedder
def test_dense_and_hybrid_answer(engine):
    dense = ask(engine, "teaching a model new tasks without forgetting old ones", mode="dense", limit=5)
    assert dense.mode_used == "dense" and dense.notice is None
    assert any("continual" in (h.paper.title + h.paper.abstract).lower() for h in dense.hits)
    assert all("semantic rank" in h.why for h in dense.hits)
    hybrid = ask(engine, "continual learning catastrophic forgetting", mode="hybrid", limit=10)
    assert hybrid.mode_used == "hybrid" and len(hybrid.hits) == 10
    assert [h.score for h in hybrid.hits] == sorted((h.score for h in hybrid.hits), reverse=True)


@needs_embedder
def test_rrf_fusion_is_available(engine):
    original = engine.params
    engine.params = replace(original, method="rrf")
    try:
        assert len(ask(engine, "graph neural networks", limit=10).hits) == 10
    finally:
        engine.params = original


@needs_embedder
def test_similar_papers(engine):
    some = ask(engine, "graph attention networks", mode="lexical", limit=1).hits[0]
    sims = engine.similar(some.paper.id, limit=5)
    assert len(sims) == 5 and some.pid not in {h.pid for h in sims}
    assert all("similar" in h.why for h in sims)
    assert engine.similar("no-such-paper") == []


def test_fallback_to_lexical_without_embedder(engine):
    lex = lexical_engine(engine)
    res = lex.search(SearchRequest(query="graph neural networks", mode="hybrid", limit=5))
    assert res.mode_used == "lexical" and res.notice and len(res.hits) == 5
    sims = lex.similar(res.hits[0].paper.id, limit=3)
    assert len(sims) == 3
    lex.close()


@needs_embedder
def test_fallback_when_embedding_is_too_slow(engine):
    original = engine.params
    engine.params = FusionParams(dense_budget_ms=0.0)
    try:
        res = ask(engine, "a query never seen before about protein folding dynamics", limit=5)
    finally:
        engine.params = original
    assert res.mode_used == "lexical" and "slow" in res.notice


def test_concurrent_searches(engine):
    errors: list[Exception] = []

    def work(i: int) -> None:
        try:
            for q in ("graph", "language models", "federated privacy", "continual"):
                engine.search(SearchRequest(query=f"{q} {i}", limit=5))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@needs_embedder
def test_broad_filter_and_constraint_paths(engine):
    """With a tiny exact-scan threshold the ANN over-fetch paths run (they are what 1 M papers use)."""
    original = engine.params
    engine.params = replace(original, exact_below=5)
    try:
        res = ask(engine, "learning", mode="dense", filters=Filters(category="cs"), limit=40)
        assert len(res.hits) == 40 and all(any(c.startswith("cs.") for c in h.paper.categories) for h in res.hits)
        res = ask(engine, "models +language -survey", mode="hybrid", limit=30)
        for h in res.hits:
            text = f"{h.paper.title} {h.paper.abstract}".lower()
            assert "language" in text and "survey" not in text
    finally:
        engine.params = original
