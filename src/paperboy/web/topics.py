"""Topics over HTTP: pages, the JSON API, the "Save as topic" form and the private feeds.

* Pages: ``/topics`` (the reader's topics, the new-topic form, the feed token) and ``/topics/{id}`` (the newest
  matching papers, new ones marked; opening it records them as seen), with twins ``/api/v1/topics`` and
  ``/api/v1/topics/{id}``.  Forms post to ``/topics``, ``/topics/{id}``, ``/topics/{id}/delete`` and
  ``/topics/feed-token[/revoke]``, each with the session's CSRF token.
* API (``Authorization: Bearer`` or a session with ``X-CSRF-Token``): ``POST /api/v1/topics``,
  ``PUT|DELETE /api/v1/topics/{id}``, ``GET /api/v1/topics/{id}/papers`` (marks nothing),
  ``POST|DELETE /api/v1/topics/feed-token``.
* Feeds: ``/feeds/private/TOKEN/topics/{id}.atom`` and ``.json``.  The token is the reader's credential, so the
  edge treats ``/feeds/private/`` like a signed-in request (no shared cache, ``private, no-store``) and logs the
  path without the token; the routes stay out of the OpenAPI document (their URL is a secret).

Another reader's topic, or a wrong token, is a 404 that says nothing about whether the id exists.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from pydantic import BaseModel, Field

from paperboy.accounts import Reader
from paperboy.library.topics import (
    MAX_DEPTH,
    MAX_TOPICS,
    PAGE_SIZE,
    TopicError,
    TopicNotFound,
    TopicPage,
    TopicPaper,
    TopicService,
    check_fields,
    newest_with_every_word,
)
from paperboy.papers import Paper
from paperboy.query import MAX_LIMIT, SearchRequest, SearchResult
from paperboy.store.topics import Topic, TopicFields
from paperboy.web.auth import PRIVATE, check_csrf, csrf_for, current_reader, finish_private, form_data, rate_limit
from paperboy.web.errors import WebError
from paperboy.web.feeds import ATOM_TYPE, AtomResponse, build_feed
from paperboy.web.models import JSON_ERRORS, READER_ERRORS, PaperOut, _Out, error_response
from paperboy.web.render import plain
from paperboy.web.services import services
from paperboy.web.shapes import JSONResponseFast, paper_json
from paperboy.web.views import base_url

router = APIRouter()
API_TAGS = ["paperboy API v1: topics"]
FEED_PATH = "/feeds/private/"
#: Topic changes a reader may make per minute (creating, editing, deleting, new feed tokens).
WRITE_LIMIT, WRITE_WINDOW_S = 60, 60
ERRORS = {**JSON_ERRORS, **READER_ERRORS, 404: error_response("No such topic of yours.")}


# -- response models (what the OpenAPI document promises) ------------------------------------------------------


class TopicOut(_Out):
    id: int
    name: str
    query: str
    category: str | None
    since: str | None = Field(description="First submission on or after this day (YYYY-MM-DD).")
    until: str | None
    author: str | None
    venue: str | None
    mode: str = Field(description="`hybrid`, `lexical` or `dense`.")
    created_at: str
    updated_at: str
    looked_at: str | None = Field(description="When you last opened the topic page.")
    url: str = Field(description="The topic page.")
    api_url: str


class TopicsOut(_Out):
    topics: list[TopicOut]
    max_topics: int = Field(description="How many topics one reader may keep.")
    feed_token_created_at: str | None = Field(description="When your private-feed token was made (null: none).")


class TopicPaperOut(_Out):
    paper: PaperOut
    new: bool = Field(description="Not shown by this topic before.")


class TopicPageOut(_Out):
    topic: TopicOut
    papers: list[TopicPaperOut] = Field(description="Newest matching papers first.")
    new: int = Field(description="How many of them are new.")
    total: int = Field(description="About how many papers match.")
    notice: str | None
    limit: int
    offset: int


class FeedTokenOut(_Out):
    token: str = Field(description="Shown once; the server keeps only its digest.")
    feeds: dict[str, str] = Field(description="Atom feed URL of each topic, by topic id.")


class TopicIn(BaseModel):
    """A topic as the API takes it (PUT: only the fields given change)."""

    name: str | None = None
    query: str | None = None
    category: str | None = None
    since: str | None = None
    until: str | None = None
    author: str | None = None
    venue: str | None = None
    mode: str | None = None


# -- helpers -------------------------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """The routes, and ``topic_card`` for templates: a paper card marked "new" when the topic had not shown it."""
    svc = app.state.services

    def topic_card(item: TopicPaper) -> Markup:
        html = str(svc.card(item.paper))
        if item.new:
            html = html.replace('<li class="paper">', '<li class="paper is-new"><span class="new-mark">new</span>', 1)
        return Markup(html)  # noqa: S704 - the card is escaped HTML; only a fixed tag is added

    svc.env.globals["topic_card"] = topic_card
    app.include_router(router)


def topic_service(request: Request) -> TopicService:
    """The process's :class:`TopicService`: the app's store, searches through ``Services.search`` (hidden papers
    left out, engine errors as answers) and the engine's index for the newest papers holding every word."""
    state = request.app.state
    service = getattr(state, "topics", None)
    if service is None:
        svc = services(request)

        def search(req: SearchRequest) -> SearchResult:
            return svc.search(req, "topic")

        def every_word(fields: TopicFields, k: int) -> list[tuple[int, Paper]]:
            return newest_with_every_word(svc.store, svc.require_engine(), fields, k, svc.hidden_ids())

        service = state.topics = TopicService(svc.store, search, every_word)
    return service


def _reader(request: Request) -> Reader:
    reader = current_reader(request)
    if reader is None:
        raise WebError(401, "Sign in first (a session, or Authorization: Bearer TOKEN).")
    return reader


GUARDS = [Depends(_reader), Depends(check_csrf), Depends(rate_limit("topics", WRITE_LIMIT, WRITE_WINDOW_S))]


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts is not None else None


def topic_json(topic: Topic, base: str) -> dict:
    f = topic.fields
    return {"id": topic.id, "name": f.name, "query": f.query, "category": f.category, "since": f.since,
            "until": f.until, "author": f.author, "venue": f.venue, "mode": f.mode,
            "created_at": _iso(topic.created_at), "updated_at": _iso(topic.updated_at),
            "looked_at": _iso(topic.looked_at), "url": f"{base}/topics/{topic.id}",
            "api_url": f"{base}/api/v1/topics/{topic.id}"}


def page_json(page: TopicPage, base: str, limit: int, offset: int) -> dict:
    return {"topic": topic_json(page.topic, base), "new": page.new_count, "total": page.total,
            "notice": page.notice, "limit": limit, "offset": offset,
            "papers": [{"paper": paper_json(p.paper, base), "new": p.new} for p in page.papers]}


def _private(content: Any, status: int = 200) -> JSONResponseFast:
    return JSONResponseFast(content, status_code=status, headers={"Cache-Control": PRIVATE})


def _get(request: Request, reader: Reader, topic_id: int) -> Topic:
    try:
        return topic_service(request).get(reader.id, topic_id)
    except TopicNotFound:
        raise WebError(404, "No such topic of yours.") from None


def _check(**values: Any) -> Any:
    try:
        return check_fields(**values)
    except TopicError as exc:
        raise WebError(400, str(exc)) from None


def _create(request: Request, reader: Reader, values: dict[str, Any]) -> Topic:
    try:
        return topic_service(request).create(reader.id, _check(**values))
    except TopicError as exc:  # the cap
        raise WebError(400, str(exc)) from None


def _update(request: Request, reader: Reader, topic_id: int, changes: dict[str, Any]) -> Topic:
    try:
        return topic_service(request).update(reader.id, topic_id, changes)
    except TopicError as exc:
        raise WebError(400, str(exc)) from None
    except TopicNotFound:
        raise WebError(404, "No such topic of yours.") from None


def _delete(request: Request, reader: Reader, topic_id: int) -> None:
    try:
        topic_service(request).delete(reader.id, topic_id)
    except TopicNotFound:
        raise WebError(404, "No such topic of yours.") from None


def _feeds(request: Request, reader: Reader, token: str) -> dict[str, str]:
    base = base_url(request)
    return {str(t.id): f"{base}{FEED_PATH}{token}/topics/{t.id}.atom" for t in topic_service(request).list(reader.id)}


_FORM_FIELDS = ("name", "q", "category", "since", "until", "author", "venue", "mode")


def _form_values(form: dict[str, str]) -> dict[str, Any]:
    """A form's topic fields (the search form's names: ``q`` is the query); absent fields are left out."""
    return {("query" if k == "q" else k): form[k] for k in _FORM_FIELDS if k in form}


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": PRIVATE})


def _html(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("reader", current_reader(request))
    context.setdefault("csrf_token", csrf_for(request))
    html = services(request).env.get_template(template).render(**context)
    return finish_private(request, HTMLResponse(html, status_code=status))


def _list_page(request: Request, reader: Reader, status: int = 200, new_token: str | None = None) -> HTMLResponse:
    service = topic_service(request)
    feeds = _feeds(request, reader, new_token) if new_token else {}
    return _html(request, "topics.html", status, topics=service.list(reader.id), max_topics=MAX_TOPICS,
                 token_created=_iso(service.feed_token_created(reader.id)), new_token=new_token, feeds=feeds,
                 json_url="/api/v1/topics")


# -- pages and forms -------------------------------------------------------------------------------------------


@router.get("/topics", response_class=HTMLResponse, include_in_schema=False)
def topics_page(request: Request) -> Response:
    reader = current_reader(request)
    if reader is None:
        return _redirect("/auth/login")
    return _list_page(request, reader)


@router.post("/topics", dependencies=GUARDS, include_in_schema=False)
async def create_form(request: Request) -> Response:
    """The "Save as topic" form of the search page (and the form on ``/topics``)."""
    values = _form_values(await form_data(request))
    topic = await run_in_threadpool(_create, request, _reader(request), values)
    return _redirect(f"/topics/{topic.id}")


@router.post("/topics/feed-token", dependencies=GUARDS, include_in_schema=False)
def new_token_form(request: Request) -> Response:
    reader = _reader(request)
    token = topic_service(request).new_feed_token(reader.id)
    return _list_page(request, reader, 201, new_token=token)


@router.post("/topics/feed-token/revoke", dependencies=GUARDS, include_in_schema=False)
def revoke_token_form(request: Request) -> Response:
    topic_service(request).revoke_feed_token(_reader(request).id)
    return _redirect("/topics#feeds")


@router.get("/topics/{topic_id}", response_class=HTMLResponse, include_in_schema=False)
def topic_page(request: Request, topic_id: int) -> Response:
    reader = current_reader(request)
    if reader is None:
        return _redirect("/auth/login")
    page = topic_service(request).page(_get(request, reader, topic_id), look=True)
    return _html(request, "topic.html", topic=page.topic, page=page, json_url=f"/api/v1/topics/{topic_id}")


@router.post("/topics/{topic_id}", dependencies=GUARDS, include_in_schema=False)
async def edit_form(request: Request, topic_id: int) -> Response:
    values = _form_values(await form_data(request))
    await run_in_threadpool(_update, request, _reader(request), topic_id, values)
    return _redirect(f"/topics/{topic_id}")


@router.post("/topics/{topic_id}/delete", dependencies=GUARDS, include_in_schema=False)
def delete_form(request: Request, topic_id: int) -> Response:
    _delete(request, _reader(request), topic_id)
    return _redirect("/topics")


# -- the JSON API ----------------------------------------------------------------------------------------------


@router.get("/api/v1/topics", tags=API_TAGS, response_class=JSONResponseFast, response_model=TopicsOut,
            responses=ERRORS, summary="Your topics (saved searches)")
def api_topics(request: Request) -> JSONResponseFast:
    reader = _reader(request)
    service, base = topic_service(request), base_url(request)
    return _private({"topics": [topic_json(t, base) for t in service.list(reader.id)], "max_topics": MAX_TOPICS,
                     "feed_token_created_at": _iso(service.feed_token_created(reader.id))})


@router.post("/api/v1/topics", tags=API_TAGS, response_class=JSONResponseFast, response_model=TopicOut,
             status_code=201, responses=ERRORS, dependencies=GUARDS,
             summary="Save a search as a topic (query required; filters and mode optional)")
def api_create(request: Request, body: TopicIn) -> JSONResponseFast:
    topic = _create(request, _reader(request), body.model_dump())
    return _private(topic_json(topic, base_url(request)), 201)


@router.post("/api/v1/topics/feed-token", tags=API_TAGS, response_class=JSONResponseFast,
             response_model=FeedTokenOut, status_code=201, responses=ERRORS, dependencies=GUARDS,
             summary="Make a new private-feed token (the old one stops working)")
def api_new_token(request: Request) -> JSONResponseFast:
    reader = _reader(request)
    token = topic_service(request).new_feed_token(reader.id)
    return _private({"token": token, "feeds": _feeds(request, reader, token)}, 201)


@router.delete("/api/v1/topics/feed-token", tags=API_TAGS, status_code=204, response_class=Response,
               responses=ERRORS, dependencies=GUARDS, summary="Revoke your private-feed token")
def api_revoke_token(request: Request) -> Response:
    if not topic_service(request).revoke_feed_token(_reader(request).id):
        raise WebError(404, "You have no feed token.")
    return Response(status_code=204, headers={"Cache-Control": PRIVATE})


@router.get("/api/v1/topics/{topic_id}", tags=API_TAGS, response_class=JSONResponseFast,
            response_model=TopicPageOut, responses=ERRORS,
            summary="A topic and its newest papers, new ones marked (the topic page's twin: records them as seen)")
def api_topic(request: Request, topic_id: int) -> JSONResponseFast:
    page = topic_service(request).page(_get(request, _reader(request), topic_id), look=True)
    return _private(page_json(page, base_url(request), PAGE_SIZE, 0))


@router.put("/api/v1/topics/{topic_id}", tags=API_TAGS, response_class=JSONResponseFast, response_model=TopicOut,
            responses=ERRORS, dependencies=GUARDS,
            summary="Change a topic (fields not given stay; the papers it has shown stay seen)")
def api_update(request: Request, topic_id: int, body: TopicIn) -> JSONResponseFast:
    topic = _update(request, _reader(request), topic_id, body.model_dump(exclude_unset=True))
    return _private(topic_json(topic, base_url(request)))


@router.delete("/api/v1/topics/{topic_id}", tags=API_TAGS, status_code=204, response_class=Response,
               responses=ERRORS, dependencies=GUARDS, summary="Delete a topic")
def api_delete(request: Request, topic_id: int) -> Response:
    _delete(request, _reader(request), topic_id)
    return Response(status_code=204, headers={"Cache-Control": PRIVATE})


@router.get("/api/v1/topics/{topic_id}/papers", tags=API_TAGS, response_class=JSONResponseFast,
            response_model=TopicPageOut, responses=ERRORS,
            summary="A page of a topic's newest papers, new ones marked (records nothing)")
def api_papers(request: Request, topic_id: int,
               limit: int = Query(PAGE_SIZE, ge=1, le=MAX_LIMIT, description=f"Papers, 1 to {MAX_LIMIT}."),
               offset: int = Query(0, ge=0, lt=MAX_DEPTH,
                                   description=f"Papers to skip; offset + limit at most {MAX_DEPTH}.")
               ) -> JSONResponseFast:
    topic = _get(request, _reader(request), topic_id)
    try:
        page = topic_service(request).page(topic, limit=limit, offset=offset)
    except TopicError as exc:
        raise WebError(400, str(exc)) from None
    return _private(page_json(page, base_url(request), limit, offset))


# -- private feeds ---------------------------------------------------------------------------------------------


def _feed_page(request: Request, token: str, topic_id: int) -> TopicPage:
    service = topic_service(request)
    reader = service.feed_reader(token)
    topic = service.topics.get(reader, topic_id) if reader is not None else None
    if topic is None:
        raise WebError(404, "No such feed (the address may have been revoked).")
    return service.page(topic)


@router.get(FEED_PATH + "{token}/topics/{topic_id}.atom", include_in_schema=False, response_class=AtomResponse)
def topic_feed(request: Request, token: str, topic_id: int) -> AtomResponse:
    page = _feed_page(request, token, topic_id)
    base = base_url(request)
    body = build_feed(title=f"paperboy topic: {plain(page.topic.fields.name)}",
                      self_url=f"{base}{FEED_PATH}{token}/topics/{topic_id}.atom",
                      html_url=f"{base}/topics/{topic_id}", papers=[p.paper for p in page.papers], base=base,
                      fallback_updated=services(request).last_modified(),
                      subtitle=f"Newest papers for: {page.topic.fields.query}")
    return AtomResponse(body, media_type=ATOM_TYPE, headers={"Cache-Control": PRIVATE})


@router.get(FEED_PATH + "{token}/topics/{topic_id}.json", include_in_schema=False, response_class=JSONResponseFast)
def topic_feed_json(request: Request, token: str, topic_id: int) -> JSONResponseFast:
    return _private(page_json(_feed_page(request, token, topic_id), base_url(request), PAGE_SIZE, 0))
