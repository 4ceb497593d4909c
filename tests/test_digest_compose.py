"""Composing digests on a real SQLite store: sections and reasons, categories, caps, no repeats, empty = None."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from paperboy.accounts import open_accounts
from paperboy.config import Settings
from paperboy.digest import Digest, compose, open_context
from paperboy.papers import Author, Paper
from paperboy.periods import period
from paperboy.store.accounts import Mail
from paperboy.store.events import Kind

NOW = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
DAY = period("date", "2026-12-03")


def paper(i: int, category: str = "cs.LG", day: date = date(2026, 12, 2), **extra: object) -> Paper:
    values = {"title": f"Paper number {i} about learning", "abstract": "We study things. " * 30,
              "authors": [Author(n) for n in ("Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra")],
              **extra}
    return Paper(id=f"2612.{i:05d}", source="test", arxiv_id=f"2612.{i:05d}", categories=[category],
                 submitted=day, **values)


def subscribe(ctx, email: str = "reader@example.org", **settings: object):
    subs = ctx.subscriptions
    token = email.encode().ljust(32, b"\0")
    subs.request(email, "daily", "UTC", token, time.time() + 60, Mail(f"k:{email}", email, "s", "t"), time.time())
    sub = subs.confirm(token, time.time())
    return subs.update(sub.reader_id, **settings) if settings else sub


@pytest.fixture
def ctx(store, tmp_path: Path):
    return open_context(store, Settings(home=tmp_path, base_url="https://papers.example.org"))


def pids(store, n: int) -> list[int]:
    return [store.get(f"2612.{i:05d}").pid for i in range(n)]


def test_trending_and_category_sections_with_reasons(store, ctx):
    store.write_batch([paper(i) for i in range(3)] + [paper(3, "math.AG")], [])
    sub = subscribe(ctx)
    p = pids(store, 4)
    for reader in (101, 102):
        ctx.events.set_mark(reader, p[1], Kind.UPVOTE, True, NOW - timedelta(hours=1))
    ctx.events.set_mark(101, p[3], Kind.UPVOTE, True, NOW - timedelta(hours=2))
    digest = compose(ctx, sub, DAY, NOW)
    trending = digest.sections[0]
    assert trending.key == "trending" and trending.title == "Trending today"
    assert [x.id for x in trending.papers] == ["2612.00001", "2612.00003"]
    assert trending.papers[0].why == "2 upvotes today"
    first = trending.papers[0]
    assert first.authors == "Ada Lovelace, Alan Turing, Grace Hopper et al."
    assert first.teaser.endswith("…") and len(first.teaser) <= 221
    # Limited to the reader's categories, with a "new in" list of each of them (papers once per digest).
    sub = ctx.subscriptions.update(sub.reader_id, categories=("cs",))
    digest = compose(ctx, sub, DAY, NOW)
    assert [x.id for x in digest.sections[0].papers] == ["2612.00001"]
    new_in = digest.sections[1]
    assert new_in.title == "New in cs" and new_in.key == "follows"
    assert {x.id for x in new_in.papers} == {"2612.00000", "2612.00002"}
    assert all(x.why == "new in cs" for x in new_in.papers)


def test_yesterdays_trending_tops_up_a_young_day_and_hidden_papers_never_go_out(store, ctx):
    store.write_batch([paper(i) for i in range(3)], [])
    sub = subscribe(ctx)
    p = pids(store, 3)
    ctx.events.set_mark(101, p[0], Kind.UPVOTE, True, NOW - timedelta(hours=1))
    ctx.events.set_mark(101, p[2], Kind.SAVE, True, NOW - timedelta(days=1))
    digest = compose(ctx, sub, DAY, NOW)
    assert [(x.id, x.why) for x in digest.sections[0].papers] == [
        ("2612.00000", "1 upvote today"), ("2612.00002", "1 save on 2 December 2026")]
    admin = open_accounts(store).accounts.add_reader("admin@example.org", 0, is_admin=True)
    open_accounts(store).accounts.set_paper_hidden(p[0], True, admin.id, 0)
    ctx.refresh_hidden()
    assert [x.id for x in compose(ctx, sub, DAY, NOW).sections[0].papers] == ["2612.00002"]


def test_no_paper_is_sent_twice_and_an_empty_digest_is_none(store, ctx):
    store.write_batch([paper(i) for i in range(2)], [])
    sub = subscribe(ctx, categories=("cs.LG",), sections=("follows",))
    first = compose(ctx, sub, DAY, NOW)
    assert sorted(first.paper_ids) == ["2612.00000", "2612.00001"]
    ctx.subscriptions.record_papers(sub.reader_id, DAY.value, DAY.since.isoformat(), first.paper_ids, 0)
    # The same period composes the same digest again (a crash between composing and freezing).
    assert compose(ctx, sub, DAY, NOW).sections == first.sections
    nxt = period("date", "2026-12-04")
    assert compose(ctx, sub, nxt, NOW + timedelta(days=1)) is None  # nothing new: not sent
    store.write_batch([paper(2, day=date(2026, 12, 3))], [])
    assert compose(ctx, sub, nxt, NOW + timedelta(days=1)).paper_ids == ["2612.00002"]


def test_sections_switched_off_and_the_recommended_seam(store, ctx):
    store.write_batch([paper(0)], [])
    sub = subscribe(ctx, categories=("cs.LG",), sections=("trending", "recommended"))
    assert compose(ctx, sub, DAY, NOW) is None  # no votes, and the category list is switched off


def test_a_category_of_ten_thousand_papers_is_capped_with_a_count_of_the_rest(store, ctx):
    store.write_batch([paper(i, title=f"Bulk paper {i} of many") for i in range(10_000)], [])
    sub = subscribe(ctx, categories=("cs.LG",), sections=("follows",))
    section = compose(ctx, sub, DAY, NOW).sections[0]
    assert len(section.papers) == 10
    assert section.more == 9_990 and not section.more_estimated
    assert section.more_path == "/category/cs.LG"


def test_a_digest_is_json_and_math_is_readable_text(store, ctx):
    store.write_batch([paper(0, title=r"Bounds for $\alpha_1 + \beta^2$ in <b>bold</b>")], [])
    sub = subscribe(ctx, categories=("cs.LG",))
    digest = compose(ctx, sub, DAY, NOW)
    assert Digest.from_json(digest.to_json()) == digest
    title = digest.sections[0].papers[0].title
    assert "α" in title and "$" not in title and "<b>bold</b>" in title  # text: the renderer escapes it


def test_a_weekly_digest_on_monday_morning_shows_last_weeks_trending(store, ctx):
    store.write_batch([paper(i) for i in range(2)], [])
    sub = subscribe(ctx, frequency="weekly")
    p = pids(store, 2)
    monday = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    ctx.events.set_mark(101, p[0], Kind.UPVOTE, True, monday - timedelta(days=4))  # last Thursday
    ctx.events.set_mark(101, p[1], Kind.SAVE, True, monday - timedelta(hours=2))
    digest = compose(ctx, sub, period("week", "2026-W49"), monday)
    assert digest.sections[0].title == "Trending this week"
    assert [(x.id, x.why) for x in digest.sections[0].papers] == [
        ("2612.00001", "1 save this week"), ("2612.00000", "1 upvote in the week of 23 November 2026")]


def test_topic_lists_capped_with_the_count_of_the_rest(store, tmp_path):
    from paperboy.config import load_settings
    from paperboy.index import Indexes
    from paperboy.library.topics import check_fields, open_topics
    from paperboy.search import SearchEngine

    settings = load_settings(tmp_path)
    store.write_batch([paper(i, title=f"Sparse attention variant {i}") for i in range(10_000)]
                      + [paper(10_000, title="Graph networks, nothing else")], [])
    indexes = Indexes(settings, embed=False)
    indexes.sync(store, embed=False)
    ctx = open_context(store, settings, engine=SearchEngine(settings, store, indexes=indexes))
    sub = subscribe(ctx, sections=("follows",))
    topic = open_topics(store).create(sub.reader_id, check_fields(name="Sparse <b>", query="sparse attention",
                                                                  mode="lexical"), 0, 50)
    section = compose(ctx, sub, DAY, NOW).sections[0]
    assert section.title == "New for your topic “Sparse <b>”" and section.more_path == f"/topics/{topic.id}"
    assert len(section.papers) == 10 and all(p.why == "matches your topic “Sparse <b>”" for p in section.papers)
    assert all(p.title.startswith("Sparse attention variant") for p in section.papers)
    # Filtered searches estimate from the engine's candidates (200 deep): "about 190 more", said as an estimate.
    assert section.more == 190 and section.more_estimated
    assert Digest.from_json(compose(ctx, sub, DAY, NOW).to_json()).sections[0] == section


def test_followed_authors_bring_their_new_papers_with_the_reason(store, ctx):
    from paperboy.library import follows

    store.write_batch([paper(0, authors=[Author("Ada Lovelace")]), paper(1, authors=[Author("Alan Turing")])], [])
    sub = subscribe(ctx, sections=("follows",))
    follows.follow(store, sub.reader_id, "author", "Ada Lovelace")
    section = compose(ctx, sub, DAY, NOW).sections[0]
    assert section.title == "New from what you follow" and section.more_path == "/following"
    assert [(p.id, p.why) for p in section.papers] == [("2612.00000", "new paper by Ada Lovelace")]
