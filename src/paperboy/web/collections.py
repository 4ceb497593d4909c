"""Collections over HTTP: the reader's pages and their JSON twins, no-script forms, and read-only share links.

* ``/collections`` and ``/collections/{id}`` (HTML) have twins at ``/api/v1/collections`` and
  ``/api/v1/collections/{id}``; the JSON API also creates (``POST /api/v1/collections``), edits (``PUT``),
  deletes, adds/edits/removes items and reorders.  The pages' forms post to the same paths without ``/api/v1``.
* ``/shared/{secret}`` (and ``/api/v1/shared/{secret}``) show a shared collection read-only to anybody with the
  link.  The secret is only in the URL: the answer is ``private, no-store`` (so the shared response cache never
  keeps it, and a revoked link stops at once) and ``Referrer-Policy: no-referrer``.
* Another reader's collection id answers 404 like a missing one.  Every answer is ``private, no-store``; state
  changes need a bearer token or the session's CSRF token, and are rate limited per reader.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperboy.accounts import Reader
from paperboy.library.collections import Entry, Library, LibraryError, open_library
from paperboy.store.collections import Collection
from paperboy.web.auth import (
    PRIVATE,
    check_csrf,
    csrf_for,
    current_reader,
    display_reader,
    finish_private,
    form_data,
    rate_limit,
    require_reader,
)
from paperboy.web.collection_models import (
    LIBRARY_ERRORS,
    CollectionOut,
    CollectionPageOut,
    CollectionsOut,
    ItemChangeOut,
    SharedOut,
    ShareOut,
)
from paperboy.web.errors import WebError
from paperboy.web.shapes import JSONResponseFast, paper_json
from paperboy.web.votes import hidden_from, visible_paper

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["paperboy API v1: library"])
#: Collection changes a reader may make per minute.
CHANGE_LIMIT, CHANGE_WINDOW_S = 120, 60
MAX_JSON_BYTES = 1024 * 1024
GUARDS = [Depends(require_reader), Depends(check_csrf), Depends(rate_limit("library", CHANGE_LIMIT, CHANGE_WINDOW_S))]


def install(app: FastAPI) -> None:
    """Open the library on the app's store and signals (``votes.install`` runs first) and add the routes."""
    app.state.library = open_library(app.state.services.store, app.state.signals)
    app.include_router(router)
    app.include_router(api)


def library(request: Request) -> Library:
    return request.app.state.library


def base(request: Request) -> str:
    return (request.app.state.services.settings.base_url or str(request.base_url)).rstrip("/")


def private_json(content: Any, status: int = 200) -> JSONResponseFast:
    return JSONResponseFast(content, status_code=status, headers={"Cache-Control": PRIVATE})


def call(fn: Any, *args: Any) -> Any:
    """Run a library call, turning its refusals into the web's errors."""
    try:
        return fn(*args)
    except LibraryError as exc:
        raise WebError(exc.status, str(exc)) from None


async def json_body(request: Request, limit: int = MAX_JSON_BYTES) -> Any:
    """The request's JSON body (413 past ``limit`` bytes, 400 when it is not JSON)."""
    size = request.headers.get("content-length")
    if size is not None and size.isdigit() and int(size) > limit:
        raise WebError(413, f"The body is larger than {limit // (1024 * 1024)} MB, the most accepted.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise WebError(413, f"The body is larger than {limit // (1024 * 1024)} MB, the most accepted.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise WebError(400, "The body is not valid JSON.") from None


async def json_object(request: Request) -> dict:
    data = await json_body(request)
    if not isinstance(data, dict):
        raise WebError(400, "The body must be a JSON object.")
    return data


# -- shapes -------------------------------------------------------------------------------------------------------


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def collection_json(request: Request, c: Collection) -> dict:
    root = base(request)
    return {"id": c.id, "name": c.name, "description": c.description, "default": c.is_default, "shared": c.shared,
            "size": c.size, "url": f"{root}/collections/{c.id}", "api_url": f"{root}/api/v1/collections/{c.id}"}


def visible_entries(request: Request, reader: Reader | None, entries: list[Entry]) -> list[Entry]:
    """Entries with hidden papers shown as bare ids (their record withheld) to everybody but admins."""
    hidden = hidden_from(request, reader)
    return [Entry(e.item, None) if e.paper is not None and e.paper.pid in hidden else e for e in entries]


def items_json(request: Request, entries: list[Entry]) -> list[dict]:
    root = base(request)
    return [{"paper": e.item.paper_id, "note": e.item.note, "position": n, "added": iso(e.item.added_at),
             "record": paper_json(e.paper.paper, root) if e.paper is not None else None}
            for n, e in enumerate(entries, start=1)]


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    reader = context.setdefault("reader", require_reader(request))
    context.setdefault("csrf_token", csrf_for(request) if reader else None)
    html = request.app.state.services.env.get_template(template).render(**context)
    return finish_private(request, HTMLResponse(html, status_code=status))


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": PRIVATE})


# -- the reader's pages and their twins -----------------------------------------------------------------------------


def _overview(request: Request, reader: Reader) -> dict:
    return {"collections": [collection_json(request, c) for c in library(request).of_reader(reader.id)]}


def _detail(request: Request, reader: Reader, collection_id: int) -> tuple[Collection, list[Entry]]:
    lib = library(request)
    c = call(lib.get, reader.id, collection_id)
    return c, visible_entries(request, reader, lib.entries(c))


@router.get("/collections", response_class=HTMLResponse)
def collections_page(request: Request) -> Response:
    reader = current_reader(request)
    if reader is None:
        return redirect("/auth/login")
    return page(request, "collections.html", heading="Your collections", **_overview(request, reader),
                json_url="/api/v1/collections", error=None)


@api.get("/collections", response_model=CollectionsOut, responses=LIBRARY_ERRORS,
         summary="Your collections (the default one, your saved papers, first)")
def collections_json(request: Request) -> JSONResponseFast:
    return private_json(_overview(request, require_reader(request)))


def _page_context(request: Request, c: Collection, entries: list[Entry], *, json_url: str | None = None,
                  read_only: bool = False, share_url: str | None = None) -> dict[str, Any]:
    """What collection.html shows: the owner's page (forms) or the read-only shared one."""
    return {"heading": c.name, "collection": collection_json(request, c), "entries": items_json(request, entries),
            "json_url": json_url or f"/api/v1/collections/{c.id}", "read_only": read_only, "share_url": share_url}


@router.get("/collections/{collection_id}", response_class=HTMLResponse)
def collection_page(request: Request, collection_id: int) -> Response:
    reader = require_reader(request)
    c, entries = _detail(request, reader, collection_id)
    return page(request, "collection.html", **_page_context(request, c, entries))


@api.get("/collections/{collection_id}", response_model=CollectionPageOut, responses=LIBRARY_ERRORS,
         summary="One of your collections with its papers and notes, in order")
def collection_json_view(request: Request, collection_id: int) -> JSONResponseFast:
    c, entries = _detail(request, require_reader(request), collection_id)
    return private_json({**collection_json(request, c), "items": items_json(request, entries)})


# -- changes (JSON) --------------------------------------------------------------------------------------------------


@api.post("/collections", dependencies=GUARDS, status_code=201, response_model=CollectionOut,
          responses=LIBRARY_ERRORS, summary='Create a collection: {"name": ..., "description": ...}')
async def create_collection(request: Request) -> JSONResponseFast:
    data = await json_object(request)
    reader = require_reader(request)
    c = await run_in_threadpool(call, library(request).create, reader.id, data.get("name"),
                                data.get("description", ""))
    return private_json(collection_json(request, c), 201)


@api.put("/collections/{collection_id}", dependencies=GUARDS, response_model=CollectionOut,
         responses=LIBRARY_ERRORS, summary='Rename or describe a collection: {"name": ..., "description": ...}')
async def update_collection(request: Request, collection_id: int) -> JSONResponseFast:
    data = await json_object(request)
    reader = require_reader(request)
    lib = library(request)
    current = await run_in_threadpool(call, lib.get, reader.id, collection_id)
    c = await run_in_threadpool(call, lib.update, reader.id, collection_id, data.get("name", current.name),
                                data.get("description", current.description))
    return private_json(collection_json(request, c))


@api.delete("/collections/{collection_id}", dependencies=GUARDS, status_code=204, response_class=Response,
            responses=LIBRARY_ERRORS, summary="Delete a collection (its share link stops working)")
def delete_collection(request: Request, collection_id: int) -> Response:
    call(library(request).delete, require_reader(request).id, collection_id)
    return Response(status_code=204, headers={"Cache-Control": PRIVATE})


@api.post("/collections/{collection_id}/items", dependencies=GUARDS, response_model=ItemChangeOut,
          responses=LIBRARY_ERRORS, summary='Add a paper: {"paper": ID, "note": ...} (to the default one: a save)')
async def add_item(request: Request, collection_id: int) -> JSONResponseFast:
    data = await json_object(request)
    reader = require_reader(request)
    ident = data.get("paper")
    if not isinstance(ident, str) or not ident.strip():
        raise WebError(400, "Name the paper: {\"paper\": ID}.")
    stored = await run_in_threadpool(visible_paper, request, ident.strip(), reader)
    added = await run_in_threadpool(call, library(request).add, reader.id, collection_id, stored,
                                    data.get("note", ""))
    request.app.state.services.touch("events")
    return private_json({"paper": stored.paper.id, "added": added}, 201 if added else 200)


@api.put("/collections/{collection_id}/items/{paper:path}", dependencies=GUARDS, response_model=ItemChangeOut,
         responses=LIBRARY_ERRORS, summary='Set the note of a paper in a collection: {"note": ...}')
async def note_item(request: Request, collection_id: int, paper: str) -> JSONResponseFast:
    data = await json_object(request)
    await run_in_threadpool(call, library(request).note, require_reader(request).id, collection_id, paper,
                            data.get("note", ""))
    return private_json({"paper": paper})


@api.delete("/collections/{collection_id}/items/{paper:path}", dependencies=GUARDS, status_code=204,
            response_class=Response, responses=LIBRARY_ERRORS,
            summary="Remove a paper from a collection (from the default one: an unsave)")
def remove_item(request: Request, collection_id: int, paper: str) -> Response:
    call(library(request).remove, require_reader(request).id, collection_id, paper)
    request.app.state.services.touch("events")
    return Response(status_code=204, headers={"Cache-Control": PRIVATE})


@api.put("/collections/{collection_id}/order", dependencies=GUARDS, response_model=CollectionPageOut,
         responses=LIBRARY_ERRORS, summary='Reorder: {"papers": [ID, ...]} first, in that order')
async def reorder(request: Request, collection_id: int) -> JSONResponseFast:
    data = await json_object(request)
    reader = require_reader(request)
    await run_in_threadpool(call, library(request).reorder, reader.id, collection_id, data.get("papers"))
    c, entries = await run_in_threadpool(_detail, request, reader, collection_id)
    return private_json({**collection_json(request, c), "items": items_json(request, entries)})


@api.post("/collections/{collection_id}/share", dependencies=GUARDS, status_code=201, response_model=ShareOut,
          responses=LIBRARY_ERRORS, summary="Make a new read-only link to a collection (an older one stops working)")
def share(request: Request, collection_id: int) -> JSONResponseFast:
    secret = call(library(request).share, require_reader(request).id, collection_id)
    root = base(request)
    return private_json({"url": f"{root}/shared/{secret}", "api_url": f"{root}/api/v1/shared/{secret}"}, 201)


@api.delete("/collections/{collection_id}/share", dependencies=GUARDS, status_code=204, response_class=Response,
            responses=LIBRARY_ERRORS, summary="Stop sharing a collection (its link answers 404 from now on)")
def unshare(request: Request, collection_id: int) -> Response:
    call(library(request).unshare, require_reader(request).id, collection_id)
    return Response(status_code=204, headers={"Cache-Control": PRIVATE})


# -- the no-script forms --------------------------------------------------------------------------------------------


@router.post("/collections", dependencies=GUARDS)
async def create_form(request: Request) -> Response:
    form = await form_data(request)
    reader = require_reader(request)
    try:
        c = await run_in_threadpool(library(request).create, reader.id, form.get("name", ""),
                                    form.get("description", ""))
    except LibraryError as exc:
        return page(request, "collections.html", exc.status, heading="Your collections", error=str(exc),
                    json_url="/api/v1/collections", **_overview(request, reader))
    return redirect(f"/collections/{c.id}")


#: What a form on a collection page can do (field ``action``).
_ACTIONS = {"note", "remove", "up", "down", "share", "unshare", "delete", "rename"}


@router.post("/collections/{collection_id}", dependencies=GUARDS)
async def collection_form(request: Request, collection_id: int) -> Response:
    form = await form_data(request)
    reader = require_reader(request)
    lib, action, paper = library(request), form.get("action", ""), form.get("paper", "")
    if action not in _ACTIONS:
        raise WebError(400, f"Unknown action {action[:40]!r}.")
    back = f"/collections/{collection_id}"
    if action == "share":  # the new link is shown on this answer only, never put in a URL of ours
        secret = await run_in_threadpool(call, lib.share, reader.id, collection_id)
        c, entries = await run_in_threadpool(_detail, request, reader, collection_id)
        return _no_referrer(page(request, "collection.html", **_page_context(
            request, c, entries, share_url=f"{base(request)}/shared/{secret}")))

    def act() -> str:
        if action == "note":
            lib.note(reader.id, collection_id, paper, form.get("note", ""))
        elif action == "remove":
            lib.remove(reader.id, collection_id, paper)
        elif action in ("up", "down"):
            lib.move(reader.id, collection_id, paper, -1 if action == "up" else 1)
        elif action == "unshare":
            lib.unshare(reader.id, collection_id)
        elif action == "rename":
            lib.update(reader.id, collection_id, form.get("name", ""), form.get("description", ""))
        else:
            lib.delete(reader.id, collection_id)
            return "/collections"
        return back

    target = await run_in_threadpool(call, act)
    request.app.state.services.touch("events")
    return redirect(target)


# -- shared links ---------------------------------------------------------------------------------------------------


def _shared(request: Request, secret: str) -> tuple[Collection, list[Entry]]:
    lib = library(request)
    c = call(lib.shared, secret)
    return c, visible_entries(request, None, lib.entries(c))


def _no_referrer(response: Response) -> Response:
    response.headers["Cache-Control"] = PRIVATE
    response.headers["Referrer-Policy"] = "no-referrer"  # the URL is the secret
    return response


@router.get("/shared/{secret}", response_class=HTMLResponse)
def shared_page(request: Request, secret: str) -> Response:
    c, entries = _shared(request, secret)
    context = _page_context(request, c, entries, json_url=f"/api/v1/shared/{secret}", read_only=True)
    html = request.app.state.services.env.get_template("collection.html").render(
        **context, reader=display_reader(request), csrf_token=None)
    return _no_referrer(HTMLResponse(html))


@api.get("/shared/{secret}", response_model=SharedOut, responses=LIBRARY_ERRORS,
         summary="A collection shared by link, read-only (404 once it is no longer shared)")
def shared_json(request: Request, secret: str) -> Response:
    c, entries = _shared(request, secret)
    return _no_referrer(JSONResponseFast({"name": c.name, "description": c.description,
                                          "items": items_json(request, entries)}))
