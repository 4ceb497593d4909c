"""Topics below the web: checks on what a topic may be, "new" against the papers a topic has shown, history kept
across edits, the cap, feed tokens, the digest's ``new_papers``, export / import, and deletion with the account.
Real SQLite and a real (lexical) search engine over a handful of papers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path

import pytest

from paperboy.accounts import AccountService, open_accounts
from paperboy.config import Settings, load_settings
from paperboy.index import Indexes
from paperboy.library import topics as lib
from paperboy.library.topics import MAX_TOPICS, TopicError, TopicNotFound, TopicService, check_fields, new_papers
from paperboy.papers import Author, Paper
from paperboy.search import SearchEngine
from paperboy.store import open_store
from paperboy.store.sqlite import SQLiteStore


def paper(n: int, title: str, day: date, category: str = "cs.LG") -> Paper:
    ident = f"2401.{n:05d}"
    return Paper(id=ident, source="test", arxiv_id=ident, title=title, abstract=f"{title}. We study it.",
                 authors=[Author("Ada Lovelace")], categories=[category], submitted=day)


FIRST = [paper(1, "Sparse attention for long documents", date(2024, 1, 2)),
         paper(2, "Sparse attention in vision transformers", date(2024, 1, 5)),
         paper(3, "Graph neural networks on a budget", date(2024, 1, 3)),
         paper(4, "Sparse attention for protein folding", date(2024, 1, 4), "q-bio.BM")]
LATER = [paper(5, "Sparse attention kernels on GPUs", date(2024, 2, 1)),
         paper(6, "Dense retrieval with sparse attention", date(2024, 2, 3))]


@dataclass
class World:
    store: SQLiteStore
    indexes: Indexes
    engine: SearchEngine
    service: TopicService
    reader: int

    def ingest(self, papers: list[Paper]) -> None:
        self.store.write_batch(papers, [])
        self.indexes.sync(self.store, embed=False)
        self.indexes.refresh()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    settings = load_settings(tmp_path)
    store = open_store(settings.database_url)
    assert isinstance(store, SQLiteStore)
    store.write_batch(FIRST, [])
    indexes = Indexes(settings, embed=False)
    indexes.sync(store, embed=False)
    engine = SearchEngine(settings, store, indexes=indexes)
    reader = AccountService(open_accounts(store), settings).add_reader("reader@example.org").id
    every_word = partial(lib.newest_with_every_word, store, engine)
    yield World(store, indexes, engine, TopicService(store, engine.search, every_word), reader)
    store.close()


def titles(page: lib.TopicPage) -> list[tuple[str, bool]]:
    return [(p.paper.title, p.new) for p in page.papers]


@pytest.mark.parametrize(("query", "message"), [
    ("", "A topic needs a query"),
    ("   \t ", "A topic needs a query"),
    ("x" * 10_000, "too long (10,000 characters; the limit is 1,000)"),
    ("-", "only operators"),
    ('+ - "" -"" ', "only operators"),
    ("-sparse -attention", "only operators"),
    ("the of and", "only very common words"),
])
def test_unsearchable_queries_are_refused_with_a_reason(query: str, message: str) -> None:
    with pytest.raises(TopicError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_fields(query=query)


def test_fields_are_checked_and_cleaned() -> None:
    fields = check_fields(query="  sparse\x00  attention ", category="cs.LG", since="2024-01-01", mode="lexical")
    assert (fields.name, fields.query, fields.since, fields.mode) == ("sparse attention", "sparse attention",
                                                                     "2024-01-01", "lexical")
    for bad, message in (({"mode": "fuzzy"}, "mode must be"), ({"since": "2024-13-01"}, "not a day"),
                         ({"since": "2024-02-01", "until": "2024-01-01"}, "inverted"),
                         ({"name": "n" * 201}, "the name is too long"), ({"author": 5}, "must be text")):
        with pytest.raises(TopicError, match=message):
            check_fields(query="sparse", **bad)


def test_a_new_topic_has_seen_its_first_page_and_an_ingest_brings_new_papers(world: World) -> None:
    topic = world.service.create(world.reader, check_fields(name="Sparse", query="sparse attention",
                                                            category="cs"))
    first = world.service.page(topic)
    assert titles(first) == [("Sparse attention in vision transformers", False),
                             ("Sparse attention for long documents", False)]  # newest first, cs only
    world.ingest(LATER)
    page = world.service.page(topic, look=True)
    assert titles(page)[:2] == [("Dense retrieval with sparse attention", True),
                                ("Sparse attention kernels on GPUs", True)]
    assert page.new_count == 2 and page.topic.looked_at is not None
    assert world.service.page(topic).new_count == 0  # looking recorded them
    assert world.service.get(world.reader, topic.id).looked_at == page.topic.looked_at


def test_editing_the_query_keeps_the_history_of_seen_papers(world: World) -> None:
    topic = world.service.create(world.reader, check_fields(query="sparse attention"))
    edited = world.service.update(world.reader, topic.id, {"query": "sparse attention protein", "name": "Proteins"})
    assert edited.fields.name == "Proteins" and edited.fields.category is None
    page = world.service.page(edited)
    assert page.papers and not any(p.new for p in page.papers)  # all shown before the edit
    world.ingest(LATER)
    assert {p.paper.id for p in world.service.page(edited).papers if p.new} == {"2401.00005", "2401.00006"}
    with pytest.raises(TopicError, match="only operators"):
        world.service.update(world.reader, topic.id, {"query": "-protein"})


def test_topics_belong_to_their_reader(world: World) -> None:
    topic = world.service.create(world.reader, check_fields(query="graph networks"))
    other = AccountService(open_accounts(world.store), Settings(home=Path("/nonexistent"))).add_reader(
        "other@example.org").id
    for call in (lambda: world.service.get(other, topic.id), lambda: world.service.delete(other, topic.id),
                 lambda: world.service.update(other, topic.id, {"name": "mine"})):
        with pytest.raises(TopicNotFound):
            call()
    assert world.service.list(other) == [] and world.service.get(world.reader, topic.id).fields.name == "graph networks"


def test_a_thousand_topics_stop_at_the_cap_with_a_clear_message(world: World) -> None:
    saved = 0
    for i in range(1000):
        try:
            world.service.topics.create(world.reader, check_fields(query=f"sparse topic{i}"), 0.0, MAX_TOPICS)
            saved += 1
        except lib.TopicLimit:
            break
    assert saved == MAX_TOPICS == 200
    with pytest.raises(TopicError) as refused:
        world.service.create(world.reader, check_fields(query="one more"))
    assert str(refused.value).startswith("You already have 200 topics, the most one reader can keep")
    assert world.service.topics.count(world.reader) == 200


def test_feed_tokens_are_stored_hashed_regenerated_and_revoked(world: World) -> None:
    service = world.service
    first = service.new_feed_token(world.reader)
    assert first.startswith("pbf_") and service.feed_reader(first) == world.reader
    stored = world.store.db.execute("SELECT token_hash FROM topic_feed_tokens").fetchall()
    assert len(stored) == 1 and first.encode() not in stored[0][0]
    second = service.new_feed_token(world.reader)
    assert service.feed_reader(first) is None and service.feed_reader(second) == world.reader
    assert service.feed_reader("pbf_" + "x" * 43) is None and service.feed_reader("x" * 1000) is None
    accounts = AccountService(open_accounts(world.store), Settings(home=Path("/nonexistent")))
    admin = accounts.add_reader("admin@example.org", is_admin=True)
    accounts.hide_reader(admin, world.reader)
    assert service.feed_reader(second) is None  # a hidden reader's feeds stop
    accounts.hide_reader(admin, world.reader, hidden=False)
    assert service.revoke_feed_token(world.reader) and service.feed_reader(second) is None
    assert not service.revoke_feed_token(world.reader)


def test_new_papers_since_a_day_for_the_digest(world: World) -> None:
    topic = world.service.create(world.reader, check_fields(query="sparse attention"))
    world.ingest(LATER)
    got = new_papers(world.store, world.engine, topic, date(2024, 1, 4))
    assert [p.id for p in got] == ["2401.00006", "2401.00005", "2401.00002", "2401.00004"]
    assert [p.id for p in new_papers(world.store, world.engine, topic, date(2024, 2, 2))] == ["2401.00006"]


def test_export_then_import_round_trips_and_merges_without_duplicates(world: World, tmp_path: Path) -> None:
    service = world.service
    service.create(world.reader, check_fields(name="<script>alert(1)</script>", query="sparse attention",
                                              category="cs", since="2024-01-01"))
    service.create(world.reader, check_fields(query="graph networks", mode="lexical"))
    data = lib.export_reader(world.store, world.reader)
    assert data["version"] == 1 and [t["name"] for t in data["topics"]] == ["<script>alert(1)</script>",
                                                                             "graph networks"]
    assert data["topics"][0]["seen"] == ["2401.00001", "2401.00002"]  # paper ids, never store pids
    accounts = AccountService(open_accounts(world.store), Settings(home=tmp_path))
    fresh = accounts.add_reader("fresh@example.org").id
    assert lib.import_reader(world.store, fresh, data) == []
    again = lib.export_reader(world.store, fresh)
    strip = [{k: v for k, v in t.items() if k != "created_at"} for t in data["topics"]]
    assert [{k: v for k, v in t.items() if k != "created_at"} for t in again["topics"]] == strip
    # Merging the same document again adds nothing; unknown papers and bad topics are reported, not dropped quietly.
    data["topics"][0]["seen"].append("9999.99999")
    data["topics"].append({"name": "empty", "query": "   "})
    data["topics"].append("not a topic")
    notes = lib.import_reader(world.store, fresh, data)
    assert len(lib.export_reader(world.store, fresh)["topics"]) == 2
    assert notes == ["topic '<script>alert(1)</script>': 1 seen paper(s) are not in this library; they will show "
                     "as new if they arrive",
                     "topic 3 ('empty'): A topic needs a query: the words to look for. Skipped.",
                     "topic 4: not an object; skipped"]
    assert "newer than this server" in lib.import_reader(world.store, fresh, {"version": 2, "topics": []})[0]
    assert "expected an object" in lib.import_reader(world.store, fresh, {"topics": "x"})[0]


def test_deleting_the_account_deletes_its_topics_seen_papers_and_feed_token(world: World) -> None:
    topic = world.service.create(world.reader, check_fields(query="sparse attention"))
    world.service.new_feed_token(world.reader)
    db = world.store.db
    assert db.execute("SELECT count(*) FROM topic_seen WHERE topic_id=?", (topic.id,)).fetchone()[0] == 3
    db.execute("DELETE FROM users WHERE id=?", (world.reader,))
    for table in ("topics", "topic_seen", "topic_feed_tokens"):
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table  # noqa: S608


def test_a_paper_matching_only_the_filters_is_no_hit_even_newest_first(world: World) -> None:
    """Regression: the filters are a zero-score Must clause, so a cs paper without any query word came back with
    score 0; sorted by date it led the search page's "Newest" results and every topic with a filter."""
    from paperboy.query import Filters, SearchRequest

    for sort in ("relevance", "newest"):
        result = world.engine.search(SearchRequest("sparse attention", Filters(category="cs"), sort=sort))
        assert {h.paper.id for h in result.hits} == {"2401.00001", "2401.00002"}, sort


def test_the_newest_papers_with_every_word_show_even_beyond_the_engines_candidates(world: World) -> None:
    """With many matches the engine's newest-first sort sees only its best candidates by relevance (200; here 1),
    so a new paper holding every word could miss the page and never be "new": the topic adds a date-ordered scan."""
    from paperboy.search.engine import FusionParams

    narrow = SearchEngine(world.engine.settings, world.store, indexes=world.indexes,
                          params=FusionParams(depth=1, newest_depth=1))
    service = TopicService(world.store, narrow.search, partial(lib.newest_with_every_word, world.store, narrow))
    world.ingest(LATER)
    topic = service.create(world.reader, check_fields(query="sparse attention"))
    assert len(narrow.search(lib.search_request(topic.fields)).hits) == 1
    assert [p.paper.id for p in service.page(topic).papers] == ["2401.00006", "2401.00005", "2401.00002",
                                                                "2401.00004", "2401.00001"]
    with pytest.raises(TopicError, match="offset \\+ limit must be at most 100"):
        service.page(topic, limit=20, offset=90)
