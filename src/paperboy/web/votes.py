"""Upvotes, saves and views over HTTP, and the per-paper counts lists and paper pages show.

* ``POST|DELETE /api/v1/papers/{id}/vote`` and ``…/save``: a signed-in reader (``Authorization: Bearer`` needs no
  CSRF token; a cookie session sends ``X-CSRF-Token``) sets or clears a mark; rate limited per reader (429 with
  ``Retry-After``); answers the paper's counts and the reader's own marks.  ``POST /paper/{id}/vote`` and
  ``…/save`` are the same for plain HTML forms (field ``on`` = 1 or 0, plus ``csrf_token``), answered with a
  redirect back to the paper.
* ``POST /api/v1/papers/{id}/view``: the paper page's script reports a view (pages are served from the shared
  cache, so the server cannot count them itself).  It needs no CSRF token: it changes no reader's state and counts
  at most once per viewer and day, i.e. a forged request counts no more than the visit it pretends to be; it is
  still refused when the browser says it comes from another site (``Sec-Fetch-Site``/``Origin``).
* ``GET /api/v1/signals?ids=ID,ID``: counts (and, for a signed-in reader, their own marks) of up to 60 papers,
  which the script fills into cached pages; it reads only the "events" data version.

Hidden papers answer 404 to everybody but admins.  Every answer that depends on the reader is ``private, no-store``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from paperboy.accounts import Reader
from paperboy.events import PaperState, Signals, open_signals
from paperboy.store.base import StoredPaper
from paperboy.store.events import Kind
from paperboy.web.auth import (
    PRIVATE,
    account_service,
    check_csrf,
    client_ip,
    csrf_for,
    current_reader,
    form_data,
    rate_limit,
)
from paperboy.web.errors import WebError
from paperboy.web.models import JSON_ERRORS, READER_ERRORS, PaperSignalsOut, SignalsOut
from paperboy.web.render import paper_path
from paperboy.web.services import reads, services
from paperboy.web.shapes import JSONResponseFast

router = APIRouter()
API_TAGS = ["paperboy API v1: readers"]
#: Upvote and save changes a reader may make per minute (both together); a flood answers 429.
VOTE_LIMIT, VOTE_WINDOW_S = 30, 60
MAX_IDS = 60
_MARK_PATHS = {"vote": Kind.UPVOTE, "save": Kind.SAVE}


#: Trending answers also depend on the time (today's window, decayed scores): they read a "clock" version that
#: moves every few minutes, so a quiet site still turns the page at midnight.
CLOCK_STEP_S = 300


def install(app: FastAPI) -> None:
    """Open the signals of the app's store and register the "events" data version (every event write moves it)
    and the "clock" version; trending views read ("papers", "events", "clock")."""
    svc = app.state.services
    sig = app.state.signals = open_signals(svc.store)
    svc.register_version("events", sig.events.version)
    svc.register_version("clock", lambda: int(sig.clock().timestamp() // CLOCK_STEP_S))
    app.include_router(router)


def signals(request: Request) -> Signals:
    return request.app.state.signals


def hidden_from(request: Request, reader: Reader | None) -> frozenset[int]:
    """Papers this reader may not see: the hidden ones, unless the reader is an admin."""
    if reader is not None and reader.is_admin:
        return frozenset()
    return account_service(request).hidden_papers()


def visible_paper(request: Request, ident: str, reader: Reader | None) -> StoredPaper:
    """The paper named ``ident`` (any id form), or 404 when it is unknown or hidden from this reader."""
    stored = services(request).store.get(ident) if len(ident) <= 300 else None
    if stored is None or stored.pid in hidden_from(request, reader):
        raise WebError(404, f"No paper with the id {ident[:100]!r} is in this library.")
    return stored


def paper_bar(request: Request, stored: StoredPaper) -> dict:
    """What the paper page's upvote / save bar shows: counts, and for a signed-in reader their marks and the
    CSRF token its forms carry.  (Anonymous pages are cached; their script refreshes the counts.)"""
    reader = current_reader(request)
    state = signals(request).states(reader.id if reader else None, [stored.pid])[stored.pid]
    encoded = paper_path(stored.paper.id).removeprefix("/paper/")
    return {"counts": state.counts, "upvoted": state.upvoted, "saved": state.saved, "signed_in": reader is not None,
            "csrf": csrf_for(request) if reader is not None else None, "api": f"/api/v1/papers/{encoded}",
            "form": paper_path(stored.paper.id)}


def state_json(paper_id: str, state: PaperState, reader: Reader | None) -> dict:
    counts = {"upvotes": state.counts.upvotes, "saves": state.counts.saves, "views": state.counts.views}
    mine = {"upvoted": state.upvoted, "saved": state.saved} if reader is not None else None
    return {"paper": paper_id, "counts": counts, "reader": mine}


def _mark(request: Request, ident: str, kind: Kind, on: bool) -> tuple[StoredPaper, Reader, PaperState]:
    reader = current_reader(request)
    assert reader is not None  # the route's dependencies required one
    stored = visible_paper(request, ident, reader)
    state = signals(request).mark(reader.id, stored.pid, kind, on)
    services(request).touch("events")
    return stored, reader, state


def _reader_required(request: Request) -> Reader:
    reader = current_reader(request)
    if reader is None:
        raise WebError(401, "Sign in first (a session, or Authorization: Bearer TOKEN).")
    return reader


#: In this order: who (401), from our page or a token (403), not too often (429).
_MARK_GUARDS = [Depends(_reader_required), Depends(check_csrf), Depends(rate_limit("vote", VOTE_LIMIT, VOTE_WINDOW_S))]


def _api_mark(name: str, on: bool):  # noqa: ANN202 - a FastAPI endpoint
    kind = _MARK_PATHS[name]

    def endpoint(request: Request, ident: str) -> JSONResponseFast:
        stored, reader, state = _mark(request, ident, kind, on)
        return JSONResponseFast(state_json(stored.paper.id, state, reader), headers={"Cache-Control": PRIVATE})

    endpoint.__name__ = f"api_{name}_{'set' if on else 'clear'}"
    endpoint.__doc__ = _DOCS[name, on] + " (idempotent); answers its counts and your own marks."
    return endpoint


_DOCS = {("vote", True): "Upvote a paper", ("vote", False): "Take back your upvote of a paper",
         ("save", True): "Save a paper", ("save", False): "Unsave a paper"}


for _name in _MARK_PATHS:
    for _method, _on in (("POST", True), ("DELETE", False)):
        router.add_api_route(f"/api/v1/papers/{{ident:path}}/{_name}", _api_mark(_name, _on), methods=[_method],
                             dependencies=_MARK_GUARDS, tags=API_TAGS, response_class=JSONResponseFast,
                             response_model=PaperSignalsOut, responses=READER_ERRORS,
                             summary=f"{'Set' if _on else 'Clear'} your {_name} on a paper")


@router.post("/paper/{ident:path}/{name}", dependencies=_MARK_GUARDS, include_in_schema=False)
async def form_mark(request: Request, ident: str, name: str) -> Response:
    """The no-script twin of the API: an HTML form posts ``on`` (1 or 0) and comes back to the paper page."""
    kind = _MARK_PATHS.get(name)
    if kind is None:
        raise WebError(404, "Not found")
    on = (await form_data(request)).get("on", "1") != "0"
    stored, _, _ = await run_in_threadpool(_mark, request, ident, kind, on)
    return RedirectResponse(paper_path(stored.paper.id), status_code=303, headers={"Cache-Control": PRIVATE})


@router.post("/api/v1/papers/{ident:path}/view", status_code=204, tags=API_TAGS, responses=READER_ERRORS,
             response_class=Response,
             summary="Report that a paper page was viewed (counted once per viewer and day; bots ignored)")
def view(request: Request, ident: str) -> Response:
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise WebError(403, "Views are only counted from this site's own pages.")
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/") != str(request.base_url).rstrip("/"):
        raise WebError(403, "Views are only counted from this site's own pages.")
    reader = current_reader(request)
    stored = visible_paper(request, ident, reader)
    if signals(request).view(stored.pid, reader=reader.id if reader else None, ip=client_ip(request),
                             user_agent=request.headers.get("user-agent")):
        services(request).touch("events")
    return Response(status_code=204, headers={"Cache-Control": PRIVATE})


@router.get("/api/v1/signals", tags=API_TAGS, response_class=JSONResponseFast, response_model=SignalsOut,
            responses={**JSON_ERRORS, **READER_ERRORS},
            summary="Counts of up to 60 papers (and your own marks when signed in)")
@reads("events")
def paper_signals(request: Request, ids: str = Query(..., max_length=1000,
                                                     description="Paper ids, comma-separated.")) -> JSONResponseFast:
    wanted = [i.strip() for i in ids.split(",") if i.strip()]
    if not 1 <= len(wanted) <= MAX_IDS:
        raise WebError(400, f"give between 1 and {MAX_IDS} paper ids")
    reader = current_reader(request)
    hidden = hidden_from(request, reader)
    store = services(request).store
    found = {i: sp for i in dict.fromkeys(wanted) if (sp := store.get(i) if len(i) <= 300 else None) is not None
             and sp.pid not in hidden}
    states = signals(request).states(reader.id if reader else None, [sp.pid for sp in found.values()])
    body = {"papers": {i: state_json(sp.paper.id, states[sp.pid], reader) for i, sp in found.items()}}
    cache = PRIVATE if reader is not None else "public, max-age=10"
    return JSONResponseFast(body, headers={"Cache-Control": cache})
