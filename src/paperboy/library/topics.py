"""Topics: a reader's saved searches, what each matches newest first, and which of those papers are new to them.

* **What a topic shows**, newest first, is the union of two exact-enough sets:

  - the search engine's ``sort="newest"`` with the topic's filters and mode (its 200 best candidates by relevance
    re-sorted by first-submission day: the search page's own "Newest"), which brings papers about the topic that
    lack a word, or match by meaning only;
  - the newest papers holding *every* word of the query (and its filters and operators), from a date-ordered
    index scan (:func:`newest_with_every_word`): exact however many papers match.

  Measured in ``bench/bench_topics.py`` (paperlists, 95 k real papers): of the 10 newest papers holding every
  word of a topic, the engine's 200 candidates held only 55 %: a common word lets thousands of papers match, and
  relevance picks the short ones, not the new ones.  A pure date order
  over every paper sharing *one* word would instead bury a topic under papers mentioning it once.  The union shows
  every new paper holding all the words (so "new since you last looked" misses none of them) and keeps the
  engine's relevant ones.
* **What is "new".**  Each topic remembers the papers it has shown its reader (``topic_seen``).  A paper on the
  topic page that is not there is marked new; opening the page (HTML or its JSON twin) records the page's papers
  as seen.  Saving a topic records its first 100 papers as seen (the reader just saw those results), so after an
  ingest exactly the arrivals are new.  The history belongs to the topic, not to its query: editing the query keeps it.
  ``/api/v1/topics/{id}/papers`` and the feeds report ``new`` without recording anything (feed readers poll).
* **Private feeds.**  One feed token per reader (256-bit secret, stored as its SHA-256; regenerating replaces it,
  revoking removes it) in the path of ``/feeds/private/TOKEN/topics/ID.atom`` (and ``.json``).
* **Digest seam.**  :func:`new_papers` answers "new papers for this topic since day D".
* **Export seam.**  :func:`export_reader` / :func:`import_reader` (composed by the collections' export).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from paperboy.accounts import digest, new_secret
from paperboy.papers import Paper
from paperboy.periods import PeriodError, parse_day
from paperboy.query import MAX_QUERY_CHARS, MODES, Filters, QueryError, SearchRequest, SearchResult, clean_text
from paperboy.search.parse import parse_query
from paperboy.store.base import Store
from paperboy.store.topics import Topic, TopicFields, TopicLimit, Topics

#: Topics per reader.  Each topic page is one search, so a reader with thousands would mostly hold dead searches;
#: 200 is ten times what the issue's benchmark readers keep (20) and a clear refusal beyond it.
MAX_TOPICS = 200
MAX_NAME_CHARS = 200
MAX_FILTER_CHARS = 200
#: How deep a topic lists (pages and the API page through its newest 100 papers).
MAX_DEPTH = 100
#: Papers on a topic page (as on every listing; 50 made the page p50 2.4x slower: more papers loaded, explained
#: and rendered) and in its feed.
PAGE_SIZE = 20
#: Papers recorded as seen when a topic is saved (the reader has just seen those results): deeper than one page,
#: so paging an old topic does not call its older papers new.
SEED_SEEN = 100
EXPORT_VERSION = 1
FEED_PREFIX = "pbf_"  # marks a feed token in logs and pasted URLs


class TopicError(ValueError):
    """A topic that cannot be saved as given; the message says why, for people (the web answers 400)."""


class TopicNotFound(LookupError):
    """No such topic for this reader (another reader's topic is "not found" too: its id tells nothing)."""


def _text(value: object, what: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TopicError(f"{what} must be text")
    if len(value) > limit:
        raise TopicError(f"{what} is too long ({len(value):,} characters; the limit is {limit:,})")
    return clean_text(value, limit, what) or None


def _day(value: object, what: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str):
        raise TopicError(f"{what} must be a date written YYYY-MM-DD")
    try:
        return parse_day(value, what).isoformat()
    except PeriodError as exc:
        raise TopicError(str(exc)) from None


def check_fields(*, name: object = None, query: object, category: object = None, since: object = None,
                 until: object = None, author: object = None, venue: object = None,
                 mode: object = "hybrid") -> TopicFields:
    """A topic's fields, checked and cleaned, or :class:`TopicError` saying what is wrong.

    The query must be a searchable one: not empty, at most 1,000 characters (the search box's limit), and with at
    least one word to look for (``-x``, ``+``, ``""`` alone are only operators).  The name defaults to the query.
    """
    q = _text(query, "the query", MAX_QUERY_CHARS)
    if not q:
        raise TopicError("A topic needs a query: the words to look for.")
    parsed = parse_query(q)
    if parsed.empty:
        if parsed.dropped_only_stopwords and not (parsed.excluded or parsed.excluded_phrases):
            raise TopicError("The query has only very common words; add a more specific term.")
        raise TopicError("The query has only operators (+, -, quotes) and excluded words: no word to look for.")
    mode = "hybrid" if mode in (None, "") else mode
    if mode not in MODES:
        raise TopicError(f"mode must be one of {', '.join(MODES)}")
    fields = TopicFields(
        name=_text(name, "the name", MAX_NAME_CHARS) or q[:80], query=q,
        category=_text(category, "the category", MAX_FILTER_CHARS), since=_day(since, "since"),
        until=_day(until, "until"), author=_text(author, "the author", MAX_FILTER_CHARS),
        venue=_text(venue, "the venue", MAX_FILTER_CHARS), mode=str(mode))
    filters(fields)  # an inverted date range is refused here, not on every page view
    return fields


def filters(fields: TopicFields, since: date | None = None) -> Filters:
    """The search filters of a topic; ``since`` narrows its start further (the digest's "since day D")."""
    start = date.fromisoformat(fields.since) if fields.since else None
    if since is not None and (start is None or since > start):
        start = since
    try:
        return Filters(category=fields.category, since=start, until=date.fromisoformat(fields.until)
                       if fields.until else None, author=fields.author, venue=fields.venue)
    except QueryError as exc:
        raise TopicError(str(exc)) from None


def search_request(fields: TopicFields, *, limit: int = PAGE_SIZE, offset: int = 0,
                   since: date | None = None) -> SearchRequest:
    """The engine request behind a topic: its query, filters and mode, newest first."""
    return SearchRequest(query=fields.query, filters=filters(fields, since), sort="newest",
                         mode=fields.mode, limit=limit, offset=offset)  # type: ignore[arg-type]


def open_topics(store: Store) -> Topics:
    """The topics seam backed by ``store``'s database."""
    from paperboy.store.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        from paperboy.store.sqlite_topics import SQLiteTopics

        return SQLiteTopics(store)
    raise TypeError(f"no topics backend for {type(store).__name__}")


@dataclass(frozen=True, slots=True)
class TopicPaper:
    pid: int
    paper: Paper
    new: bool  # not shown by this topic before


@dataclass(frozen=True, slots=True)
class TopicPage:
    topic: Topic
    papers: list[TopicPaper]
    total: int  # the engine's estimate of matching papers
    notice: str | None  # the engine's notice (e.g. answered by words only)

    @property
    def new_count(self) -> int:
        return sum(p.new for p in self.papers)


Search = Callable[[SearchRequest], SearchResult]
#: ``(fields, k)`` -> the ``k`` newest papers holding every word of the topic, as (pid, paper), hidden ones left out.
EveryWord = Callable[[TopicFields, int], list[tuple[int, Paper]]]


def newest_with_every_word(store: Store, engine: Any, fields: TopicFields, k: int,
                           hidden: frozenset[str] = frozenset()) -> list[tuple[int, Paper]]:
    """The ``k`` newest papers holding every word of the topic's query and meeting its filters and operators: the
    query's bare words made required, answered by the lexical index's date-ordered scan (the empty-query listing)."""
    q = parse_query(fields.query)
    strict = replace(q, required=list(dict.fromkeys([*q.required, *q.should])), should=[])
    pids, _ = engine.indexes.lexical.browse(filters(fields), k + len(hidden), 0, strict)
    return [(sp.pid, sp.paper) for sp in store.get_many(pids) if sp.paper.id not in hidden][:k]


def _newest_first(papers: list[tuple[int, Paper]]) -> list[tuple[int, Paper]]:
    """By first-submission day (the engine's date rule: submitted, else updated), undated last; stable."""
    return sorted(papers, key=lambda item: -(item[1].submitted or item[1].updated or date.min).toordinal())


class TopicService:
    """Topics of readers over a store and a search function (the web passes ``Services.search``, which leaves
    hidden papers out and turns engine errors into answers)."""

    def __init__(self, store: Store, search: Search, every_word: EveryWord,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.topics = open_topics(store)
        self.search = search
        self.every_word = every_word
        self.clock = clock

    # -- topics ---------------------------------------------------------------------------------------------

    def create(self, reader: int, fields: TopicFields) -> Topic:
        """Save a topic and record its newest :data:`SEED_SEEN` papers as seen (the reader has just seen them)."""
        try:
            topic = self.topics.create(reader, fields, self.clock(), MAX_TOPICS)
        except TopicLimit:
            raise TopicError(f"You already have {MAX_TOPICS} topics, the most one reader can keep: delete one "
                             "you no longer read before saving another.") from None
        self.page(topic, limit=SEED_SEEN, look=True)
        return topic

    def get(self, reader: int, topic_id: int) -> Topic:
        topic = self.topics.get(reader, topic_id)
        if topic is None:
            raise TopicNotFound(topic_id)
        return topic

    def list(self, reader: int) -> list[Topic]:
        return self.topics.list(reader)

    def update(self, reader: int, topic_id: int, changes: dict[str, Any]) -> Topic:
        """Change some fields of a topic (the rest stay); its seen papers stay with it."""
        old = self.get(reader, topic_id).fields
        merged = {f: getattr(old, f) for f in TopicFields.__dataclass_fields__} | changes
        fields = check_fields(**merged)
        topic = self.topics.update(reader, topic_id, fields, self.clock())
        if topic is None:
            raise TopicNotFound(topic_id)
        return topic

    def delete(self, reader: int, topic_id: int) -> None:
        if not self.topics.delete(reader, topic_id):
            raise TopicNotFound(topic_id)

    def page(self, topic: Topic, *, limit: int = PAGE_SIZE, offset: int = 0, look: bool = False) -> TopicPage:
        """The topic's newest matching papers, each marked new unless the topic showed it before; ``look``
        records them as shown now (the reader opened the topic)."""
        if not (limit >= 1 and offset >= 0 and offset + limit <= MAX_DEPTH):
            raise TopicError(f"a topic lists its {MAX_DEPTH} newest papers: offset + limit must be at most "
                             f"{MAX_DEPTH}")
        result = self.search(search_request(topic.fields, limit=offset + limit))
        found = {h.pid: h.paper for h in result.hits} | dict(self.every_word(topic.fields, offset + limit))
        chosen = _newest_first(list(found.items()))[offset:offset + limit]
        pids = [pid for pid, _ in chosen]
        seen = self.topics.seen(topic.id, pids)
        papers = [TopicPaper(pid, paper, pid not in seen) for pid, paper in chosen]
        if look:
            now = self.clock()
            self.topics.mark_seen(topic.id, [p for p in pids if p not in seen], now)
            topic = replace(topic, looked_at=now)
        return TopicPage(topic, papers, max(result.total, len(found)), result.notice)

    # -- private feed tokens --------------------------------------------------------------------------------

    def new_feed_token(self, reader: int) -> str:
        """A new feed token for the reader (shown once; the store keeps its digest); the old one stops working."""
        secret = new_secret(FEED_PREFIX)
        self.topics.set_feed_token(reader, digest(secret), self.clock())
        return secret

    def revoke_feed_token(self, reader: int) -> bool:
        return self.topics.revoke_feed_token(reader)

    def feed_reader(self, secret: str) -> int | None:
        """The reader a feed token belongs to (None for unknown, revoked or malformed tokens)."""
        if not secret.startswith(FEED_PREFIX) or len(secret) > 100:
            return None
        return self.topics.feed_token_reader(digest(secret))

    def feed_token_created(self, reader: int) -> float | None:
        return self.topics.feed_token_created(reader)


# -- the digest's seam ----------------------------------------------------------------------------------------


def new_papers(store: Store, engine: Any, topic: Topic, since: date, limit: int = 20) -> list[Paper]:
    """Papers of ``topic`` first submitted on or after ``since``, newest first (at most ``limit``, up to 100).

    For the daily digest's "new for your topics": what the topic page shows (see the module docstring) with the
    topic's start date moved to ``since``.  ``engine`` is a :class:`~paperboy.search.SearchEngine`; admins'
    hidden papers are left out, as on every shared page.
    """
    from paperboy.accounts import open_accounts

    hidden = open_accounts(store).accounts.hidden_paper_ids()
    fields = replace(topic.fields, since=max(since.isoformat(), topic.fields.since or ""))

    def search(req: SearchRequest) -> SearchResult:
        result = engine.search(req)
        return replace(result, hits=[h for h in result.hits if h.paper.id not in hidden])

    service = TopicService(store, search, lambda f, k: newest_with_every_word(store, engine, f, k, hidden))
    limit = max(1, min(limit, MAX_DEPTH))
    return [p.paper for p in service.page(replace(topic, fields=fields), limit=limit).papers]


# -- export / import (composed by paperboy.library.export) ----------------------------------------------------


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts is not None else None


def export_reader(store: Store, reader_id: int) -> dict:
    """The reader's topics as JSON-ready data: fields, times and the papers each has shown (as paper ids)."""
    topics = open_topics(store)
    out = []
    for t in topics.list(reader_id):
        seen = [sp.paper.id for sp in store.get_many(topics.all_seen(t.id))]
        out.append({"name": t.fields.name, "query": t.fields.query, "category": t.fields.category,
                    "since": t.fields.since, "until": t.fields.until, "author": t.fields.author,
                    "venue": t.fields.venue, "mode": t.fields.mode, "created_at": _iso(t.created_at),
                    "seen": seen})
    return {"version": EXPORT_VERSION, "topics": out}


def _search_key(fields: TopicFields) -> tuple:
    """Two topics are the same when they run the same search (their names may differ)."""
    return (fields.query, fields.category, fields.since, fields.until, fields.author, fields.venue, fields.mode)


def import_reader(store: Store, reader_id: int, data: dict) -> list[str]:
    """Merge exported topics into the reader's: a topic running the same search as one they have merges its seen
    papers into it; others are added (up to :data:`MAX_TOPICS`).  Returns notes for people about everything not
    taken as given (bad topics, the cap, seen papers this library does not have)."""
    if not isinstance(data, dict) or not isinstance(data.get("topics", []), list):
        return ["topics: expected an object with a list of topics; nothing imported"]
    version = data.get("version", EXPORT_VERSION)
    if not isinstance(version, int) or version > EXPORT_VERSION:
        return [f"topics: version {version!r} is newer than this server understands ({EXPORT_VERSION}); "
                "nothing imported"]
    topics = open_topics(store)
    mine = {_search_key(t.fields): t for t in topics.list(reader_id)}
    notes: list[str] = []
    now = time.time()
    for n, item in enumerate(data.get("topics", []), 1):
        if not isinstance(item, dict):
            notes.append(f"topic {n}: not an object; skipped")
            continue
        try:
            fields = check_fields(**{k: item.get(k) for k in TopicFields.__dataclass_fields__})
        except TopicError as exc:
            notes.append(f"topic {n} ({str(item.get('name'))[:80]!r}): {exc} Skipped.")
            continue
        topic = mine.get(_search_key(fields))
        if topic is None:
            try:
                topic = mine[_search_key(fields)] = topics.create(reader_id, fields, now, MAX_TOPICS)
            except TopicLimit:
                notes.append(f"topic {n} ({fields.name!r}): you already have {MAX_TOPICS} topics; skipped")
                continue
        seen = item.get("seen") or []
        ids = [s for s in seen if isinstance(s, str)] if isinstance(seen, list) else []
        found = [sp.pid for i in ids if len(i) <= 300 and (sp := store.get(i)) is not None]
        topics.mark_seen(topic.id, found, now, looked=False)
        if missing := len(ids) - len(found):
            notes.append(f"topic {fields.name!r}: {missing} seen paper(s) are not in this library; they will show "
                         "as new if they arrive")
    return notes
