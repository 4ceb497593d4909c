"""Compose one reader's digest for one period: what goes in it and why, frozen as plain JSON-ready data.

A :class:`Digest` holds text only (titles, teasers, reasons; no markup, no links, no secrets), so the sender can
freeze it in its digest row when it is composed and render it again byte for byte after a crash; links are
signed at render time (:mod:`paperboy.digest.render`).  Three sections, each optional per reader:

1. **trending** — the trending formula's ranking for the reader's period (today's UTC day, topped up with
   yesterday's while the day is young; for weekly digests this ISO week topped up with the last), limited to the
   reader's categories;
2. **follows** — new papers since the reader's previous digest for each saved topic (what the topic page shows:
   ``library.topics.new_papers``; needs the search engine), for the followed authors, categories and venues
   (``library.follows.new_since``), and for the subscription's own categories; each list is capped, with
   "and N more" linking to the site;
3. **recommended** — empty until the recommendations issue lands: :data:`RECOMMENDERS` is the seam.

A paper appears once per digest and never again in a later one (``Subscriptions.seen_papers``).
An empty digest is ``None``: it is not sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

from paperboy import catalogue, trending
from paperboy.config import Settings
from paperboy.papers import Paper
from paperboy.periods import Period
from paperboy.store import Store
from paperboy.store.events import Events
from paperboy.store.subscriptions import Subscription, Subscriptions

TRENDING_LIMIT = 10
#: Papers per list of the follows section; the rest is "and N more" with a link to the site.
LIST_LIMIT = 10
#: How many trending papers are read to find TRENDING_LIMIT in the reader's categories and not yet sent.
TRENDING_POOL = 200
#: Most entries kept by DigestContext.shared (lists and formatted papers): bounds memory on long-lived servers.
SHARED_ENTRIES = 100_000
TEASER_CHARS = 220  # about two lines of a mail client's reading pane
MAX_AUTHORS = 3
#: How far back "new since the previous digest" looks when there was none: arXiv lists a paper a day or two
#: after submission, so a digest looks a little further back than its own period; repeats are filtered anyway.
LOOKBACK = {"daily": timedelta(days=3), "weekly": timedelta(days=9)}


@dataclass(frozen=True, slots=True)
class DigestPaper:
    """One paper as the mail shows it: plain text (math as readable text), escaped by the renderer."""

    id: str
    title: str
    authors: str
    teaser: str
    why: str


@dataclass(frozen=True, slots=True)
class Section:
    """``key`` is one of the subscription sections; ``more`` papers matched beyond those shown, at ``more_path``
    (``more_estimated``: the search engine's "about N", not a count)."""

    key: str
    title: str
    papers: tuple[DigestPaper, ...]
    more: int = 0
    more_path: str | None = None
    more_estimated: bool = False


@dataclass(frozen=True, slots=True)
class Digest:
    """One reader's digest for one period, JSON-serialisable (:meth:`to_json` / :meth:`from_json`)."""

    reader_id: int
    email: str
    period_kind: str
    period: str  # the Period's value: "2026-12-03" or "2026-W49"
    label: str  # "3 December 2026"
    composed_at: str  # ISO 8601, UTC
    sections: tuple[Section, ...]
    notice: str | None = None  # e.g. "arXiv harvest is behind: newest papers from 1 December"

    @property
    def paper_ids(self) -> list[str]:
        return [p.id for s in self.sections for p in s.papers]

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Digest:
        data = json.loads(text)
        sections = tuple(Section(**{**s, "papers": tuple(DigestPaper(**p) for p in s["papers"])})
                         for s in data.pop("sections"))
        return cls(**data, sections=sections)


#: Recommendation providers: ``(ctx, sub, exclude, limit) -> [(paper, why)]``.  Empty until that issue lands.
Recommender = Callable[["DigestContext", Subscription, set[str], int], list[tuple[Paper, str]]]
RECOMMENDERS: list[Recommender] = []


@dataclass(slots=True)
class DigestContext:
    """What composing needs: the store, reader signals, subscriptions, settings and (optionally) the search engine
    (topics run their own search; without an engine the topic lists are left out).  ``notice`` is put into every
    digest (the cycle sets it when a harvest is behind).  Build it with :func:`open_context`."""

    store: Store
    events: Events
    subscriptions: Subscriptions
    settings: Settings
    engine: object | None = None
    notice: str | None = None
    hidden_ids: frozenset[str] = field(default_factory=frozenset)
    hidden_pids: frozenset[int] = field(default_factory=frozenset)
    #: Lists every reader of a cycle shares (a period's trending papers, a category's new papers), keyed by the
    #: data versions they were read at, so 10,000 digests read each list once and never a stale one.
    _shared: dict[tuple, object] = field(default_factory=dict)

    def shared(self, key: tuple, build: Callable[[], object]) -> object:
        if key not in self._shared:
            if len(self._shared) > SHARED_ENTRIES:
                self._shared.clear()
            self._shared[key] = build()
        return self._shared[key]

    def refresh_hidden(self) -> None:
        """Re-read what admins hid (call once per cycle: hidden papers never go out)."""
        from paperboy.accounts import open_accounts

        accounts = open_accounts(self.store).accounts
        self.hidden_pids, self.hidden_ids = accounts.hidden_papers(), accounts.hidden_paper_ids()


def open_subscriptions(store: Store) -> Subscriptions:
    """The subscriptions seam of ``store``'s database."""
    from paperboy.store.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        from paperboy.store.sqlite_subscriptions import SQLiteSubscriptions

        return SQLiteSubscriptions(store)
    raise TypeError(f"no subscriptions backend for {type(store).__name__}")


def open_context(store: Store, settings: Settings, engine: object | None = None) -> DigestContext:
    """A :class:`DigestContext` over ``store`` (hidden papers read now)."""
    from paperboy.events import open_signals

    ctx = DigestContext(store=store, events=open_signals(store).events, subscriptions=open_subscriptions(store),
                        settings=settings, engine=engine)
    ctx.refresh_hidden()
    return ctx


def compose(ctx: DigestContext, sub: Subscription, period: Period, now: datetime) -> Digest | None:
    """The reader's digest for ``period`` as of ``now``, or None when it would be empty (nothing is sent)."""
    exclude = ctx.subscriptions.seen_papers(sub.reader_id, except_period=period.value) | set(ctx.hidden_ids)
    sections: list[Section] = []
    if "trending" in sub.sections:
        sections.extend(_trending(ctx, sub, period, now, exclude))
    if "follows" in sub.sections:
        sections.extend(_follows(ctx, sub, period, exclude))
    if "recommended" in sub.sections:
        sections.extend(_recommended(ctx, sub, exclude))
    if not any(s.papers for s in sections):
        return None
    return Digest(reader_id=sub.reader_id, email=sub.email, period_kind=period.kind, period=period.value,
                  label=period.label, composed_at=now.astimezone(UTC).isoformat(timespec="seconds"),
                  sections=tuple(s for s in sections if s.papers), notice=ctx.notice)


# -- sections ------------------------------------------------------------------------------------------------------


def _in_categories(paper: Paper, wanted: tuple[str, ...]) -> bool:
    """A category filter as the site's: "cs" takes every cs.* paper, "cs.LG" only cs.LG."""
    return not wanted or any(c == w or c.startswith(w + ".") for c in paper.categories for w in wanted)


def _trending(ctx: DigestContext, sub: Subscription, period: Period, now: datetime,
              exclude: set[str]) -> list[Section]:
    # A digest at 7 in the morning finds today young (and a Monday's weekly digest finds the week young): the
    # previous day's (week's) ranking tops it up.
    today = now.astimezone(UTC).date()
    weekly = sub.frequency == "weekly"
    window = "week" if weekly else "day"
    days = [today, today - timedelta(days=7 if weekly else 1)]
    picked: list[DigestPaper] = []
    version = ctx.events.version()
    for day in days:
        ranked = ctx.shared(("trending", window, day, now.astimezone(UTC).date(), version, ctx.hidden_pids),
                            lambda day=day: _ranked(ctx, window, day, now))
        for paper, why in ranked:  # type: ignore[attr-defined]
            if paper.id in exclude or not _in_categories(paper, sub.categories):
                continue
            picked.append(_paper(paper, why))
            exclude.add(paper.id)
            if len(picked) == TRENDING_LIMIT:
                break
        if len(picked) == TRENDING_LIMIT:
            break
    title = "Trending this week" if window == "week" else "Trending today"
    return [Section("trending", title, tuple(picked))]


def _ranked(ctx: DigestContext, window: str, day: date, now: datetime) -> list[tuple[Paper, str]]:
    """The period's top papers with their "why" sentences (shared by every reader of the cycle)."""
    ranking = trending.rank(ctx.events, window, day, now, limit=TRENDING_POOL, exclude=ctx.hidden_pids)
    by_pid = {s.pid: s.paper for s in ctx.store.get_many([i.pid for i in ranking.items])}
    return [(by_pid[i.pid], i.why or "trending") for i in ranking.items if i.pid in by_pid]


def _since(ctx: DigestContext, sub: Subscription, period: Period) -> date:
    last = ctx.subscriptions.last_day(sub.reader_id, before_period=period.value)
    start = date.fromisoformat(last) if last else period.since
    return start - LOOKBACK.get(sub.frequency, LOOKBACK["daily"])


def _follows(ctx: DigestContext, sub: Subscription, period: Period, exclude: set[str]) -> list[Section]:
    since = _since(ctx, sub, period)
    sections = [*_topic_sections(ctx, sub, since, exclude), *_followed(ctx, sub, since, exclude)]
    from paperboy.web.render import category_path

    for category in sub.categories:
        listing = ctx.shared(("category", category, since, ctx.store.max_seq()),
                             lambda c=category: catalogue.newest(ctx.store, category=c, since=since,
                                                                 limit=3 * LIST_LIMIT))
        fresh = [p for p in listing.papers if p.id not in exclude]
        shown = fresh[:LIST_LIMIT]
        exclude.update(p.id for p in shown)
        more = max(0, listing.total - len(shown) - (len(listing.papers) - len(fresh)))
        sections.append(Section("follows", f"New in {category}",
                                tuple(_paper(p, f"new in {category}") for p in shown), more=more,
                                more_path=f"{category_path(category)}"))
    return sections


def _topic_sections(ctx: DigestContext, sub: Subscription, since: date, exclude: set[str]) -> list[Section]:
    """One list per saved topic of the reader: the topic's own search, newest first, since ``since``."""
    from paperboy.library.topics import new_papers, open_topics, search_request

    if ctx.engine is None:
        return []
    sections = []
    for topic in open_topics(ctx.store).list(sub.reader_id):
        found = new_papers(ctx.store, ctx.engine, topic, since, limit=LIST_LIMIT + min(len(exclude), 90))
        fresh = [p for p in found if p.id not in exclude]
        shown = fresh[:LIST_LIMIT]
        exclude.update(p.id for p in shown)
        # The engine's estimate of all the topic's matches since ``since`` ("about N": one more, cheap search).
        estimate = ctx.engine.search(search_request(topic.fields, limit=1, since=since))  # type: ignore[attr-defined]
        total = estimate.total
        more = max(len(fresh) - len(shown), total - len(found))
        name = topic.fields.name
        sections.append(Section("follows", f"New for your topic “{name}”",
                                tuple(_paper(p, f"matches your topic “{name}”") for p in shown), more=more,
                                more_path=f"/topics/{topic.id}", more_estimated=True))
    return sections


def _followed(ctx: DigestContext, sub: Subscription, since: date, exclude: set[str]) -> list[Section]:
    """The reader's followed authors, categories and venues, newest first, with the follow each is there for."""
    from paperboy.library.follows import new_since

    items = new_since(ctx.store, sub.reader_id, since, limit=LIST_LIMIT + min(len(exclude), 90),
                      hidden=ctx.hidden_pids)
    fresh = [i for i in items if i.paper.id not in exclude]
    shown = fresh[:LIST_LIMIT]
    exclude.update(i.paper.id for i in shown)
    papers = tuple(_paper(i.paper, "; ".join(r.text for r in i.reasons) or "you follow this") for i in shown)
    return [Section("follows", "New from what you follow", papers, more=max(0, len(fresh) - len(shown)),
                    more_path="/following")]


def _recommended(ctx: DigestContext, sub: Subscription, exclude: set[str]) -> list[Section]:
    papers: list[DigestPaper] = []
    for recommend in RECOMMENDERS:
        for paper, why in recommend(ctx, sub, exclude, LIST_LIMIT - len(papers)):
            if paper.id not in exclude:
                papers.append(_paper(paper, why))
                exclude.add(paper.id)
    return [Section("recommended", "Recommended for you", tuple(papers[:LIST_LIMIT]))]


# -- one paper -----------------------------------------------------------------------------------------------------


def _paper(paper: Paper, why: str) -> DigestPaper:
    key = (paper.id, why, paper.title, paper.abstract, len(paper.authors),
           *(a.name for a in paper.authors[:MAX_AUTHORS]))
    return _SHAPED.get(key) or _shape(key, paper, why)


#: Formatted papers by their shown content: math conversion and teasers are the same for every reader.
_SHAPED: dict[tuple, DigestPaper] = {}


def _shape(key: tuple, paper: Paper, why: str) -> DigestPaper:
    from paperboy.web.render import plain

    names = [a.name for a in paper.authors[:MAX_AUTHORS]]
    authors = ", ".join(names) + (" et al." if len(paper.authors) > MAX_AUTHORS else "")
    shaped = DigestPaper(id=paper.id, title=_one_line(plain(paper.title)), authors=_one_line(plain(authors)),
                         teaser=teaser(plain(paper.abstract)), why=why)
    if len(_SHAPED) > SHARED_ENTRIES:
        _SHAPED.clear()
    _SHAPED[key] = shaped
    return shaped


def _one_line(text: str) -> str:
    return " ".join(text.split())


def teaser(text: str, limit: int = TEASER_CHARS) -> str:
    """The first ``limit`` characters of an abstract, cut at a word, with an ellipsis when cut."""
    text = _one_line(text)
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:.")
    return cut + "…"

