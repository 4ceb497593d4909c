"""The reader's own data over HTTP: export (JSON, BibTeX, CSV), import, and deleting the account.

* ``/me`` (HTML; twin ``/api/v1/me``): links to the exports, the import form (``static/me.js`` posts the chosen
  file as JSON) and the delete form.
* ``GET /api/v1/me/export`` (the whole library, :mod:`paperboy.library.export`), ``/api/v1/me/export.bib`` and
  ``/api/v1/me/export.csv`` (the saved papers); ``POST /api/v1/me/import`` merges a document (at most
  :data:`~paperboy.library.export.MAX_IMPORT_BYTES`: 413 past it, before reading the rest).
* Deleting the account needs the account's address typed again (``POST /me/delete`` field ``confirm``, or
  ``DELETE /api/v1/me`` with ``{"confirm": EMAIL}``); it deletes everything in one transaction and signs out.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from paperboy.library.export import MAX_IMPORT_BYTES, bibtex, csv_text, export_reader, import_reader
from paperboy.web.auth import PRIVATE, SESSION_COOKIE, current_reader, form_data, is_https, rate_limit, require_reader
from paperboy.web.collection_models import LIBRARY_ERRORS, ImportOut, MeOut
from paperboy.web.collections import GUARDS, base, call, json_body, json_object, library, page, private_json, redirect
from paperboy.web.errors import WebError
from paperboy.web.shapes import JSONResponseFast

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["paperboy API v1: library"])
#: Exports are whole-library reads: a few a minute per reader is plenty.
EXPORT_GUARDS = [Depends(require_reader), Depends(rate_limit("export", 20, 60))]


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.include_router(api)


def _summary(request: Request) -> dict[str, Any]:
    reader = require_reader(request)
    root = base(request) + "/api/v1/me"
    return {"email": reader.email, "collections": len(library(request).of_reader(reader.id)),
            "export": root + "/export", "export_bib": root + "/export.bib", "export_csv": root + "/export.csv"}


@router.get("/me", response_class=HTMLResponse)
def me_page(request: Request) -> Response:
    if current_reader(request) is None:
        return redirect("/auth/login")
    return page(request, "me.html", heading="Your data", json_url="/api/v1/me", error=None, **_summary(request))


@api.get("/me", response_model=MeOut, responses=LIBRARY_ERRORS, summary="Your data: where to export it")
def me_json(request: Request) -> JSONResponseFast:
    return private_json(_summary(request))


def _download(body: str | bytes, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type, headers={
        "Cache-Control": PRIVATE, "Content-Disposition": f'attachment; filename="{filename}"'})


@api.get("/me/export", dependencies=EXPORT_GUARDS, responses={**LIBRARY_ERRORS, 200: {
    "description": "The document (format `paperboy-export`, with its `version`).",
    "content": {"application/json": {}}}}, summary="Everything you have, as one JSON document")
def export_json(request: Request) -> Response:
    import orjson

    doc = export_reader(library(request), require_reader(request).id)
    return _download(orjson.dumps(doc, option=orjson.OPT_INDENT_2), "application/json", "paperboy-export.json")


@api.get("/me/export.bib", dependencies=EXPORT_GUARDS, response_class=Response, responses={
    **LIBRARY_ERRORS, 200: {"description": "BibTeX entries.", "content": {"application/x-bibtex": {}}}},
    summary="The papers in your collections, as BibTeX (with your notes)")
def export_bib(request: Request) -> Response:
    text = bibtex(library(request), require_reader(request).id)
    return _download(text, "application/x-bibtex; charset=utf-8", "paperboy-saved.bib")


@api.get("/me/export.csv", dependencies=EXPORT_GUARDS, response_class=Response, responses={
    **LIBRARY_ERRORS, 200: {"description": "One row per paper per collection.", "content": {"text/csv": {}}}},
    summary="The papers in your collections, as CSV")
def export_csv(request: Request) -> Response:
    return _download(csv_text(library(request), require_reader(request).id), "text/csv; charset=utf-8",
                     "paperboy-saved.csv")


@api.post("/me/import", dependencies=GUARDS, response_model=ImportOut, responses=LIBRARY_ERRORS,
          summary="Merge an export into your library (papers this instance lacks are kept by id and listed)")
async def import_json(request: Request) -> JSONResponseFast:
    data = await json_body(request, MAX_IMPORT_BYTES)
    reader = require_reader(request)
    notes = await run_in_threadpool(call, import_reader, library(request), reader.id, data)
    request.app.state.services.touch("events")
    return private_json({"imported": True, "notes": notes})


# -- deleting the account ---------------------------------------------------------------------------------------


def _delete(request: Request, confirm: object) -> None:
    reader = require_reader(request)
    if not isinstance(confirm, str) or confirm.strip().lower() != reader.email.lower():
        raise WebError(400, "To delete your account, type its address (confirm) exactly.")
    call(library(request).delete_account, reader.id)
    request.app.state.services.touch("events")


@router.post("/me/delete", dependencies=GUARDS)
async def delete_form(request: Request) -> Response:
    form = await form_data(request)
    try:
        await run_in_threadpool(_delete, request, form.get("confirm"))
    except WebError as exc:
        return page(request, "me.html", 400, heading="Your data", json_url="/api/v1/me", error=exc.message,
                    **_summary(request))
    response = redirect("/")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request))
    return response


@api.delete("/me", dependencies=GUARDS, status_code=204, response_class=Response, responses=LIBRARY_ERRORS,
            summary='Delete your account and everything it owns: {"confirm": YOUR_EMAIL}')
async def delete_json(request: Request) -> Response:
    data = await json_object(request)
    await run_in_threadpool(_delete, request, data.get("confirm"))
    return Response(status_code=204, headers={"Cache-Control": PRIVATE})
