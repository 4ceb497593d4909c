"""Follows on a real SQLite store: identity through the store, the merged Following list, the digest's question,
keys kept in step with paper changes, export/import, and bad input."""

from __future__ import annotations

from datetime import date

import pytest

from paperboy.library import follows as lib
from paperboy.papers import Author, Paper
from paperboy.store.sqlite import SQLiteStore
from paperboy.store.sqlite_accounts import SQLiteAccounts


def paper(n: int, authors: list[str], cats: list[str], day: date, venue: str | None = None) -> Paper:
    return Paper(id=f"p{n}", source="test", title=f"Paper number {n} about things",
                 authors=[Author(a) for a in authors],
                 categories=cats, submitted=day, journal_ref=venue)


PAPERS = [
    paper(1, ["Yoshua Bengio", "Aaron Courville"], ["cs.LG"], date(2024, 1, 1)),
    paper(2, ["Y. Bengio"], ["stat.ML"], date(2024, 1, 2)),
    paper(3, ["Ada Lovelace"], ["cs.LG"], date(2024, 1, 3), "ICLR 2024"),
    paper(4, ["Bengio, Yoshua", "Ada Lovelace"], ["cs.CL"], date(2024, 1, 4)),
    paper(5, ["Grace Hopper"], ["math.CO"], date(2024, 1, 5), "ICLR 2025"),
    paper(6, ["Alan Turing"], ["cs.LG"], None),
]


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "db.sqlite")
    s.write_batch(PAPERS, [])
    yield s
    s.close()


def reader(store: SQLiteStore, email: str = "ada@example.org") -> int:
    return SQLiteAccounts(store).add_reader(email, 0.0).id


def ids(items: list[lib.Item]) -> list[str]:
    return [i.paper.id for i in items]


def test_following_merges_every_follow_newest_first_without_duplicates(store):
    r = reader(store)
    lib.follow(store, r, "author", "Y. Bengio")
    lib.follow(store, r, "category", "cs.LG")
    lib.follow(store, r, "venue", "ICLR")
    page = lib.following(store, r)
    assert ids(page.items) == ["p5", "p4", "p3", "p2", "p1", "p6"]  # undated last
    why = {i.paper.id: [x.text for x in i.reasons] for i in page.items}
    assert why["p1"] == ["new paper by Yoshua Bengio", "in cs.LG"]
    assert why["p4"] == ["new paper by Bengio, Yoshua"]
    assert why["p3"] == ["in cs.LG", "at ICLR 2024"] and why["p5"] == ["at ICLR 2025"]
    first, second = lib.following(store, r, limit=4), lib.following(store, r, limit=4, offset=4)
    assert first.has_more and not second.has_more and ids(first.items) + ids(second.items) == ids(page.items)


def test_an_archive_follow_includes_its_categories(store):
    r = reader(store)
    lib.follow(store, r, "category", "cs")
    assert ids(lib.following(store, r).items) == ["p4", "p3", "p1", "p6"]


def test_a_short_form_stops_folding_when_a_namesake_appears(store):
    r = reader(store)
    lib.follow(store, r, "author", "Y. Bengio")
    assert ids(lib.following(store, r).items) == ["p4", "p2", "p1"]
    store.write_batch([paper(7, ["Yann Bengio"], ["q-bio.NC"], date(2024, 2, 1))], [])
    assert ids(lib.following(store, r).items) == ["p2"]  # "Y. Bengio" could now be either
    other = reader(store, "bob@example.org")
    lib.follow(store, other, "author", "Yoshua Bengio")
    assert ids(lib.following(store, other).items) == ["p4", "p1"]  # never Yann's paper


def test_new_since_is_the_digests_question(store):
    r = reader(store)
    lib.follow(store, r, "category", "cs.LG")
    lib.follow(store, r, "author", "Grace Hopper")
    assert ids(lib.new_since(store, r, date(2024, 1, 3))) == ["p5", "p3"]


def test_hidden_papers_are_left_out(store):
    r = reader(store)
    lib.follow(store, r, "category", "cs.LG")
    pid = store.get("p3").pid
    assert "p3" not in ids(lib.following(store, r, hidden=frozenset({pid})).items)


def test_keys_follow_a_papers_changes_and_old_stores_are_filled_once(store):
    r = reader(store)
    lib.follow(store, r, "author", "Grace Hopper")
    changed = paper(3, ["Grace Hopper"], ["cs.LG"], date(2024, 1, 3), "ICLR 2024")
    changed.source = "other"
    changed.abstract = "Now with an abstract."
    store.write_batch([changed], [])
    assert ids(lib.following(store, r).items) == ["p5", "p3"]
    db = store.db  # a store from before migration 7: no keys, not filled
    db.execute("DELETE FROM paper_people")
    db.execute("UPDATE meta SET value='0' WHERE key='follow_keys_filled'")
    again = SQLiteStore(store.path)
    try:
        assert ids(lib.following(again, r).items) == ["p5", "p3"]
        assert lib.open_follows(again).fill_keys() == 0  # once
    finally:
        again.close()


def test_following_twice_is_one_follow_and_unfollow_says_whether_it_was_followed(store):
    r = reader(store)
    assert lib.follow(store, r, "author", "Yoshua Bengio")[1] is True
    assert lib.follow(store, r, "author", "yoshua  BENGIO")[1] is False  # the same key
    assert [f.value for f in lib.follows_of(store, r)] == ["Yoshua Bengio"]
    assert lib.unfollow(store, r, "author", "Bengio, Yoshua")[1] is True
    assert lib.unfollow(store, r, "author", "Yoshua Bengio")[1] is False


@pytest.mark.parametrize(("kind", "value", "message"), [
    ("person", "Ada", "kind must be one of"),
    ("author", "", "must not be empty"),
    ("author", "x" * 10_000, "at most 200"),
    ("author", "...", "not an author name"),
    ("category", "cs.LG; DROP TABLE", "not a category"),
    ("venue", "2024", "names no venue"),
    ("author", 42, "must be a string"),
])
def test_bad_follows_are_refused_with_a_reason(store, kind, value, message):
    with pytest.raises(lib.FollowError, match=message):
        lib.follow(store, reader(store), kind, value)


def test_follows_are_capped(store, monkeypatch):
    monkeypatch.setattr(lib, "MAX_FOLLOWS", 2)
    r = reader(store)
    lib.follow(store, r, "category", "cs.LG")
    lib.follow(store, r, "category", "cs.CL")
    with pytest.raises(lib.FollowError, match="at most 2"):
        lib.follow(store, r, "category", "math.CO")
    assert lib.follow(store, r, "category", "cs.LG")[1] is False  # following again is still fine


def test_deleting_the_reader_deletes_their_follows(store):
    r = reader(store)
    lib.follow(store, r, "category", "cs.LG")
    store.db.execute("DELETE FROM users WHERE id=?", (r,))
    assert store.db.execute("SELECT count(*) FROM follows").fetchone()[0] == 0


def test_export_import_round_trip_and_merge_without_duplicates(store):
    r = reader(store)
    lib.follow(store, r, "author", "Y. Bengio")
    lib.follow(store, r, "venue", "ICLR")
    doc = lib.export_reader(store, r)
    assert [(f["kind"], f["value"]) for f in doc["follows"]] == [("author", "Y. Bengio"), ("venue", "ICLR")]
    fresh = reader(store, "new@example.org")
    assert lib.import_reader(store, fresh, doc) == []
    assert lib.export_reader(store, fresh) == doc
    assert lib.import_reader(store, fresh, doc) == [] and lib.export_reader(store, fresh) == doc  # merged, no twins
    notes = lib.import_reader(store, fresh, {"follows": [{"kind": "planet", "value": "Mars"}, "x",
                                                         {"kind": "category", "value": "cs.CL"}]})
    assert notes == ["follows[0] skipped: kind must be one of author, category, venue",
                     "follows[1] skipped: not an object"]
    assert len(lib.export_reader(store, fresh)["follows"]) == 3
    assert lib.import_reader(store, fresh, {"follows": "nope"}) == ["follows: expected a list; nothing imported"]


def test_papers_stored_since_the_look_before_are_marked_new(store):
    r = reader(store)
    lib.follow(store, r, "category", "cs.LG")
    assert not any(i.new for i in lib.following(store, r, look=True).items)  # a first look: nothing to compare
    store.write_batch([paper(8, ["Alan Turing"], ["cs.LG"], date(2023, 5, 1))], [])  # new, yet listed earlier
    page = lib.following(store, r, look=True)
    assert [i.paper.id for i in page.items if i.new] == ["p8"]
    assert [i.paper.id for i in lib.following(store, r, limit=1, offset=2).items if i.new] == ["p8"]  # paging agrees
    assert not any(i.new for i in lib.following(store, r, look=True).items)  # seen now
