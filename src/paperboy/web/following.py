"""Follows over HTTP: the Following page and its JSON twin, the follow API, and the follow buttons.

* ``GET /following`` (HTML) and ``GET /api/v1/following`` (JSON): the reader's follows and the newest papers of all
  of them, de-duplicated, each with why it is there; paged by ``limit``/``offset``.  Personal: ``private,
  no-store`` always (the edge already bypasses its shared cache for requests with a session or Authorization).
  Signed out, the page asks to sign in and the twin answers 401.
* ``POST|DELETE /api/v1/follows`` with JSON ``{"kind": "author"|"category"|"venue", "value": ...}``: follow and
  unfollow (bearer tokens need no CSRF token; cookie sessions send ``X-CSRF-Token``).
* ``POST /follows``: the same for plain HTML forms (fields ``kind``, ``value``, ``on`` = 1 or 0, ``csrf_token``,
  ``next``), answered with a redirect back to the page (a local path only).
* :func:`follow_button`: what the author and category pages' button shows for the signed-in reader.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from pydantic import BaseModel, Field

from paperboy.accounts import Reader
from paperboy.library import follows as lib
from paperboy.web.auth import PRIVATE, check_csrf, csrf_for, current_reader, display_reader, form_data, rate_limit
from paperboy.web.errors import WebError
from paperboy.web.models import READER_ERRORS, PaperOut, _Out
from paperboy.web.services import services
from paperboy.web.shapes import JSONResponseFast, paper_json
from paperboy.web.votes import hidden_from

router = APIRouter()
API_TAGS = ["paperboy API v1: readers"]
FOLLOW_LIMIT, FOLLOW_WINDOW_S = 60, 60  # follow changes per reader and minute
PAGE_LIMIT = 20


class FollowIn(BaseModel):
    kind: Literal["author", "category", "venue"]
    value: str = Field(min_length=1, max_length=lib.MAX_VALUE)


class FollowOut(_Out):
    kind: str
    value: str
    url: str | None = Field(description="This site's page of the author or category (None for venues).")


class FollowChangeOut(_Out):
    follow: FollowOut
    following: bool = Field(description="Whether the reader follows it now.")
    changed: bool = Field(description="False when it was already so.")


class ReasonOut(_Out):
    kind: str
    follow: str = Field(description="The follow, as the reader wrote it.")
    text: str = Field(description="Why the paper is here: 'new paper by Yoshua Bengio', 'in cs.LG', 'at ICLR 2024'.")


class FollowingPaperOut(PaperOut):
    new: bool = Field(description="Stored since your look before the latest at the Following page.")
    why: list[ReasonOut]


class FollowingOut(_Out):
    follows: list[FollowOut]
    limit: int
    offset: int
    next: str | None
    prev: str | None
    papers: list[FollowingPaperOut]


def install(app: FastAPI) -> None:
    app.include_router(router)


def _reader(request: Request) -> Reader:
    reader = current_reader(request)
    if reader is None:
        raise WebError(401, "Sign in first (a session, or Authorization: Bearer TOKEN).")
    return reader


_GUARDS = [Depends(_reader), Depends(check_csrf), Depends(rate_limit("follow", FOLLOW_LIMIT, FOLLOW_WINDOW_S))]


def base_url(request: Request) -> str:
    from paperboy.web.views import base_url as site_base  # views imports this module (the follow button)

    return site_base(request)


def _follow_json(kind: str, value: str, base: str) -> dict:
    from paperboy.web.render import author_path, category_path

    url = {"author": author_path, "category": category_path}.get(kind)
    return {"kind": kind, "value": value, "url": base + url(value) if url else None}


def _change(request: Request, kind: Any, value: Any, on: bool) -> tuple[lib.Target, bool]:
    reader = current_reader(request)
    assert reader is not None  # the route's guards required one
    try:
        return (lib.follow if on else lib.unfollow)(services(request).store, reader.id, kind, value)
    except lib.FollowError as exc:
        raise WebError(400, str(exc)) from exc


def _api_change(on: bool):  # noqa: ANN202 - a route function
    def change(request: Request, body: FollowIn) -> JSONResponseFast:
        t, changed = _change(request, body.kind, body.value, on)
        out = {"follow": _follow_json(t.kind, t.value, base_url(request)), "following": on, "changed": changed}
        return JSONResponseFast(out, headers={"Cache-Control": PRIVATE})
    return change


for _method, _on in (("POST", True), ("DELETE", False)):
    router.add_api_route("/api/v1/follows", _api_change(_on), methods=[_method], dependencies=_GUARDS, tags=API_TAGS,
                         response_class=JSONResponseFast, response_model=FollowChangeOut,
                         responses={**READER_ERRORS, 400: READER_ERRORS[422]},
                         summary=f"{'Follow' if _on else 'Unfollow'} an author, category or venue")


def _local(path: str | None) -> str:
    """Where a form may send the reader back to: a path on this site, else the Following page."""
    return path if path and path.startswith("/") and not path.startswith(("//", "/\\")) else "/following"


@router.post("/follows", dependencies=_GUARDS, include_in_schema=False)
async def form_follow(request: Request) -> Response:
    fields = await form_data(request)
    await run_in_threadpool(_change, request, fields.get("kind"), fields.get("value"), fields.get("on", "1") != "0")
    return RedirectResponse(_local(fields.get("next")), status_code=303, headers={"Cache-Control": PRIVATE})


def follow_button(request: Request, kind: str, value: str) -> dict | None:
    """The follow button of an author or category page for the signed-in reader (None when signed out)."""
    reader = display_reader(request)
    if reader is None:
        return None
    try:
        on = lib.is_following(services(request).store, reader.id, kind, value)
    except lib.FollowError:
        return None
    return {"kind": kind, "value": value, "following": on, "csrf": csrf_for(request),
            "next": request.url.path + (f"?{request.url.query}" if request.url.query else "")}


# -- the Following page ---------------------------------------------------------------------------------------------


def _page_data(request: Request, reader: Reader, limit: int, offset: int, look: bool) -> tuple[lib.Page, dict]:
    if not 1 <= limit <= 100 or not 0 <= offset <= lib.MAX_OFFSET:
        raise WebError(400, f"limit must be 1 to 100 and offset 0 to {lib.MAX_OFFSET}")
    page = lib.following(services(request).store, reader.id, limit=limit, offset=offset,
                         hidden=hidden_from(request, reader), look=look)
    url = "/following?limit={}&offset={}".format
    links = {"next": url(limit, offset + limit) if page.has_more and offset + limit <= lib.MAX_OFFSET else None,
             "prev": url(limit, max(0, offset - limit)) if offset else None}
    return page, links


@router.get("/api/v1/following", tags=API_TAGS, response_class=JSONResponseFast, response_model=FollowingOut,
            responses=READER_ERRORS, summary="The newest papers of everything you follow, each with why it is here")
def following_json(request: Request, limit: int = Query(PAGE_LIMIT, description="Papers per page, 1 to 100."),
                   offset: int = Query(0, description=f"Papers to skip, at most {lib.MAX_OFFSET:,}.")) -> Response:
    page, links = _page_data(request, _reader(request), limit, offset, look=False)
    base = base_url(request)
    body = {"follows": [_follow_json(f.kind, f.value, base) for f in page.follows], "limit": limit, "offset": offset,
            **{k: base + "/api/v1" + v if v else None for k, v in links.items()},
            "papers": [{**paper_json(item.paper, base), "new": item.new,
                        "why": [{"kind": r.kind, "follow": r.follow, "text": r.text} for r in item.reasons]}
                       for item in page.items]}
    return JSONResponseFast(body, headers={"Cache-Control": PRIVATE})


def _reasons_html(item: lib.Item) -> Markup:
    parts = [Markup("{} <em>{}</em>").format(r.text.removesuffix(r.subject).strip(), r.subject) for r in item.reasons]
    new = Markup('<span class="tag new">new</span> ') if item.new else Markup("")
    return Markup('<p class="why following-why">') + new + Markup("; ").join(parts) + Markup("</p>")


@router.get("/following", response_class=HTMLResponse, include_in_schema=False)
def following_page(request: Request, limit: int = Query(PAGE_LIMIT), offset: int = Query(0)) -> Response:
    svc = services(request)
    reader = display_reader(request)
    context: dict[str, Any] = {"reader": reader, "heading": "Following", "json_url": "/api/v1/following",
                               "items": [], "follows": [], "offset": offset, "prev_url": None, "next_url": None}
    status = 200
    if reader is None:
        status = 401
    else:
        page, links = _page_data(request, reader, limit, offset, look=offset == 0)
        cards = []
        for item in page.items:  # the card's own <li>, with the reasons before its end
            card = str(svc.env.globals["card"](item.paper, True))
            head, _, tail = card.rpartition("</li>")
            cards.append(Markup(head) + _reasons_html(item) + Markup("</li>" + tail))
        json_url = "/api/v1" + f"/following?limit={limit}&offset={offset}"
        context.update(items=cards, follows=page.follows, prev_url=links["prev"], next_url=links["next"],
                       csrf_token=csrf_for(request), json_url=json_url)
    html = svc.env.get_template("following.html").render(**context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": PRIVATE})



