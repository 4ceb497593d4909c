"""The query layer: parsing, modes, fusion, pinning, filters, sorts, paging, explanations, spelling, fallback,
hostile input, and the `paperboy similar` command."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import date

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.search_home import MODEL_CACHE, SEED, build_home, embedder_ready, link_models, seed_records
from paperboy.cli import main
from paperboy.index import Indexes
from paperboy.query import MAX_LIMIT, MAX_OFFSET, MAX_QUERY_CHARS, Filters, QueryError, SearchRequest
from paperboy.search import FusionParams, SearchEngine, highlights, parse_query
from paperboy.search.spelling import NO_MATCH, NO_MATCH_LEXICAL, edits1

EXTRA = [
    {"id": "x-arxiv", "arxiv": "2401.01234", "doi": "10.1234/pinned.5678", "title": "A pinned paper about zebras",
     "abstract": "Zebras have stripes.", "date": "2024-01-15", "categories": ["q-bio.PE"], "authors": ["Zed Zebra"]},
]


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


# -- parsing ------------------------------------------------------------------------------------------------------


def test_parse_words_phrases_and_operators():
    q = parse_query('"graph neural networks" +transductive -graph learning')
    assert q.phrases == [["graph", "neural", "network"]]
    assert q.required == ["transduct"]
    assert q.excluded == ["graph"]
    assert q.should == ["learn"]
    assert q.semantic_text == "graph neural networks +transductive learning".replace("+", "")


def test_parse_is_safe_for_engine_syntax():
    for text in ['title:foo AND (bar OR baz*)', 'NEAR(a b)', '"unbalanced quote', '*', ':', '((', '"', '-', '+',
                 "'; DROP TABLE papers; --", 'foo" OR 1=1 --', "a\x00b", "\ud800 lone surrogate"]:
        q = parse_query(text)
        assert isinstance(q.should, list)
    q = parse_query('"graph neural')
    assert q.should == ["graph", "neural"] and not q.phrases


def test_only_stop_words_is_empty_and_flagged():
    q = parse_query("the of and a")
    assert q.empty and q.dropped_only_stopwords
    assert not parse_query("").dropped_only_stopwords


def test_hyphenated_word_is_not_an_operator():
    q = parse_query("state-of-the-art")
    assert not q.excluded and "state" in q.should and "art" in q.should


# -- lexical behaviour --------------------------------------------------------------------------------------------


def test_lexical_search_explains_and_highlights(engine):
    res = ask(engine, "graph neural networks", mode="lexical", limit=5)
    assert res.mode_used == "lexical" and len(res.hits) == 5 and res.total >= 5
    top = res.hits[0]
    assert top.explain == {"pinned": None, "fields": ["title"], "lexical_rank": 1, "dense_rank": None}
    assert top.why == "Matches the title."
    spans = top.highlights["title"]
    words = [top.paper.title[a:b].lower() for a, b in spans]
    assert words and all(w.startswith(("graph", "neural", "network")) for w in words)
    assert [h.score for h in res.hits] == sorted((h.score for h in res.hits), reverse=True)


def test_highlights_follow_stems():
    hl = highlights("Learning graphs", "We learned a graph; learners graph it.", {"learn", "graph"})
    assert hl["title"] == [(0, 8), (9, 15)]
    assert len(hl["abstract"]) == 3  # learned, graph, graph: "learners" stems to "learner", not "learn"


def test_pins_arxiv_id_doi_and_title(engine):
    for query, how, why in [("2401.01234", "arxiv_id", "Exact arXiv id."),
                            ("arXiv:2401.01234v2", "arxiv_id", "Exact arXiv id."),
                            ("https://doi.org/10.1234/PINNED.5678", "doi", "Exact DOI."),
                            ("a pinned paper about ZEBRAS.", "title", "Exact title.")]:
        res = ask(engine, query, mode="lexical")
        assert res.hits and res.hits[0].paper.arxiv_id == "2401.01234", query
        assert (res.hits[0].why, res.hits[0].explain["pinned"]) == (why, how)


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
    """Operators and injection attempts are just words (or nothing, which lists the newest papers): a full page."""
    for mode in ("lexical", "hybrid"):
        res = ask(engine, query, mode=mode, limit=5)
        assert len(res.hits) == 5 and len({h.pid for h in res.hits}) == 5, (query, mode)
        assert "\x00" not in res.request.query and "\ud800" not in res.request.query
    assert engine.store.get_many([1])  # the store is intact


def test_non_utf8_bytes(engine):
    res = engine.search(SearchRequest(query=b"graph \xff\xfe neural", mode="lexical", limit=3))  # type: ignore[arg-type]
    assert res.hits and "\ufffd" in res.request.query


def test_unknown_category_is_empty(engine):
    res = ask(engine, "learning", filters=Filters(category="no.such"))
    assert res.hits == [] and res.total == 0
    assert ask(engine, "", filters=Filters(category="no.such")).hits == []


def test_inverted_date_range_is_a_query_error():
    with pytest.raises(QueryError, match="inverted"):
        Filters(since=date(2024, 1, 2), until=date(2024, 1, 1))
    with pytest.raises(QueryError, match="filters"):
        SearchRequest(query="graph", filters={"since": "2024-01-02"})  # type: ignore[arg-type]


def test_bad_mode_sort_and_limits_are_refused_by_the_request():
    """One validation for every surface: the request refuses what the API answers with 400 (no silent clamping)."""
    with pytest.raises(QueryError, match="mode"):
        SearchRequest(query="graph", mode="magic")  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="sort"):
        SearchRequest(query="graph", sort="oldest")  # type: ignore[arg-type]
    for limit, offset in [(10_000, 0), (0, 0), (-5, 0), (10, -5), (10, 10**9), ("ten", 0)]:
        with pytest.raises(QueryError, match="limit|offset"):
            SearchRequest(query="learning", limit=limit, offset=offset)  # type: ignore[arg-type]
    ok = SearchRequest(query="learning", limit=MAX_LIMIT, offset=MAX_OFFSET, filters=Filters(author=" \x00 "))
    assert (ok.limit, ok.offset, ok.filters.author) == (MAX_LIMIT, MAX_OFFSET, None)


def test_last_page_past_the_results_is_empty(engine):
    res = ask(engine, "learning", limit=1, offset=MAX_OFFSET)
    assert res.hits == [] and res.total > 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_hostile_text_never_crashes(engine, text):
    res = ask(engine, text, mode="lexical", limit=5)
    scores = [h.score for h in res.hits]
    assert len({h.pid for h in res.hits}) == len(res.hits) and scores == sorted(scores, reverse=True)
    assert all(h.why.endswith(".") and set(h.explain) == {"pinned", "fields", "lexical_rank", "dense_rank"}
               for h in res.hits)


# -- dense and hybrid ---------------------------------------------------------------------------------------------


@needs_embedder
def test_dense_and_hybrid_answer(engine):
    dense = ask(engine, "teaching a model new tasks without forgetting old ones", mode="dense", limit=5)
    assert dense.mode_used == "dense" and dense.notice is None
    assert any("continual" in (h.paper.title + h.paper.abstract).lower() for h in dense.hits)
    assert [h.explain["dense_rank"] for h in dense.hits] == [1, 2, 3, 4, 5]
    assert all("close in meaning" in h.why for h in dense.hits)
    hybrid = ask(engine, "continual learning catastrophic forgetting", mode="hybrid", limit=10)
    assert hybrid.mode_used == "hybrid" and len(hybrid.hits) == 10
    assert [h.score for h in hybrid.hits] == sorted((h.score for h in hybrid.hits), reverse=True)


@needs_embedder
def test_rrf_fusion_is_available(engine):
    """The scores are reciprocal-rank sums of the explained ranks, so RRF (not weighted fusion) ran."""
    original = engine.params
    engine.params = replace(original, method="rrf")
    try:
        hits = ask(engine, "graph neural networks", limit=10).hits
    finally:
        engine.params = original
    assert len(hits) == 10
    w, k = original.lexical_weight, original.rrf_k
    for h in hits:
        lr, dr = h.explain["lexical_rank"], h.explain["dense_rank"]
        want = (w / (k + lr) if lr else 0.0) + ((1 - w) / (k + dr) if dr else 0.0)
        assert h.score == pytest.approx(want, abs=1e-6)
    weighted = ask(engine, "graph neural networks", limit=10).hits
    assert [h.score for h in weighted] != [h.score for h in hits]


@needs_embedder
def test_similar_papers(engine):
    some = ask(engine, "graph attention networks", mode="lexical", limit=1).hits[0]
    sims = engine.similar(some.paper.id, limit=5)
    assert len(sims) == 5 and some.pid not in {h.pid for h in sims}
    assert [h.explain["dense_rank"] for h in sims] == [1, 2, 3, 4, 5]
    assert all(h.why == "Close in meaning to this paper." for h in sims)
    assert engine.similar("no-such-paper") == []


def test_fallback_to_lexical_without_embedder(engine):
    lex = lexical_engine(engine)
    res = lex.search(SearchRequest(query="graph neural networks", mode="hybrid", limit=5))
    assert res.mode_used == "lexical" and res.notice and len(res.hits) == 5
    sims = lex.similar(res.hits[0].paper.id, limit=3)
    assert len(sims) == 3 and all(h.explain["dense_rank"] for h in sims)  # stored vectors need no embedder
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


# -- words that match nothing, spelling, explanations, venues ------------------------------------------------------


def test_nonsense_says_no_paper_matches(engine):
    """Not "About 161 results" of whatever is nearest: the reader is told no paper has these words."""
    lexical = ask(engine, "zzzzqqqxxyy", mode="lexical")
    assert (lexical.hits, lexical.total, lexical.notice, lexical.suggestion) == ([], 0, NO_MATCH_LEXICAL, None)
    hybrid = ask(engine, "zzzzqqqxxyy")
    assert hybrid.total == 0 and hybrid.notice.startswith(NO_MATCH_LEXICAL[:-1]) and hybrid.suggestion is None
    if hybrid.mode_used == "hybrid":
        assert hybrid.hits and hybrid.notice == NO_MATCH


def test_typos_get_a_suggestion_from_the_index_vocabulary(engine):
    res = ask(engine, "grpah nueral netwroks")
    assert res.suggestion == "graph neural networks"
    assert res.notice
    fixed = ask(engine, res.suggestion)
    assert fixed.notice is None and fixed.suggestion is None and fixed.total > 0


def test_one_unknown_word_gets_a_suggestion_without_a_notice(engine):
    res = ask(engine, "graph neural netwroks", mode="lexical")
    assert res.hits and res.notice is None and res.suggestion == "graph neural networks"


def test_real_words_get_no_notice_or_suggestion(engine):
    for query in ("graph neural networks", "zebras", "continual learning +forgetting"):
        res = ask(engine, query, mode="lexical")
        assert res.hits and res.notice is None and res.suggestion is None, query


def test_edits1():
    assert {"graph", "grpa", "grpahs", "gpah"} <= edits1("grpah")
    assert "grpah" not in edits1("grpah")


@needs_embedder
def test_hybrid_explanations_read_as_sentences(engine):
    res = ask(engine, "continual learning catastrophic forgetting", limit=10)
    top = res.hits[0]
    assert top.explain["fields"] and top.explain["lexical_rank"] and top.explain["dense_rank"]
    assert top.why.startswith("Matches the ") and top.why.endswith("; close in meaning.")
    assert "rank" not in " ".join(h.why for h in res.hits)


def test_venue_filter_in_every_mode(engine):
    for mode in ("lexical", "hybrid", "dense"):
        res = ask(engine, "learning", mode=mode, filters=Filters(venue="iclr"), limit=30)
        assert len(res.hits) == 30, mode
        assert all(h.paper.journal_ref == "ICLR 2024" for h in res.hits), mode


# -- the `paperboy similar` command -------------------------------------------------------------------------------


def test_cli_similar(tmp_path, monkeypatch):
    if not SEED.exists():
        pytest.skip("seed papers not found")
    home = tmp_path / "home"
    monkeypatch.setenv("PAPERBOY_HOME", str(home))
    embed = embedder_ready()
    if embed:
        link_models(home)
    records = seed_records()[:40]
    src = tmp_path / "papers.jsonl"
    src.write_bytes(b"\n".join(orjson.dumps(r) for r in records) + b"\n")
    runner = CliRunner()
    assert runner.invoke(main, ["ingest", str(src)]).exit_code == 0
    assert runner.invoke(main, ["index"] if embed else ["index", "--no-embed"]).exit_code == 0
    out = runner.invoke(main, ["similar", records[2]["id"], "--limit", "3", "--json"])
    assert out.exit_code == 0, out.output
    hits = orjson.loads(out.stdout)
    assert len(hits) == 3 and records[2]["id"] not in {h["id"] for h in hits}
    assert {h["why"] for h in hits} == {"Close in meaning to this paper." if embed else "Shares words with this paper."}
    text = runner.invoke(main, ["similar", records[2]["id"], "--limit", "2"])
    assert text.exit_code == 0 and text.output.count("\n") >= 2
    missing = runner.invoke(main, ["similar", "no-such-paper"])
    assert missing.exit_code != 0 and "no paper" in missing.output
