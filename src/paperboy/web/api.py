"""JSON-only API endpoints (``/api/v1``) that have no HTML page, and the API docs page.

The twins of the HTML pages are registered with the pages themselves (:mod:`paperboy.web.views`); this module
holds the rest: similar papers and the category list.  Errors are ``{"error": message, "status": code}``.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from paperboy.web.errors import WebError
from paperboy.web.models import JSON_ERRORS, CategoriesOut, SimilarOut
from paperboy.web.render import category_path
from paperboy.web.services import reads, services
from paperboy.web.shapes import JSONResponseFast, hit_json
from paperboy.web.views import API_TAGS, PAGE_CACHE, base_url

router = APIRouter(prefix="/api/v1", tags=API_TAGS, responses=JSON_ERRORS, default_response_class=JSONResponseFast)
docs_router = APIRouter(include_in_schema=False)


@router.get("/paper/{ident:path}/similar", summary="Papers similar to one paper (nearest neighbours)",
            response_model=SimilarOut)
@router.get("/papers/{ident:path}/similar", include_in_schema=False)
@reads("papers")
def api_similar(request: Request, ident: str,
                limit: int = Query(10, ge=1, le=50, description="How many, 1 to 50.")) -> JSONResponseFast:
    svc = services(request)
    stored = svc.store.get(ident) if len(ident) <= 300 else None
    if stored is None:
        raise WebError(404, f"no paper with the id {ident[:100]!r}")
    svc.require_engine()
    base = base_url(request)
    hits = [h for h in svc.similar(stored, limit + 1) if h.paper.id != stored.paper.id][:limit]
    return JSONResponseFast({"paper_id": stored.paper.id, "similar": [hit_json(h, base) for h in hits]},
                            headers=PAGE_CACHE)


@router.get("/categories", summary="Categories with their paper counts (by primary category)",
            response_model=CategoriesOut)
@reads("papers")
def api_categories(request: Request) -> JSONResponseFast:
    svc = services(request)
    base = base_url(request)
    return JSONResponseFast({"categories": [{"category": c, "papers": n, "url": base + category_path(c)}
                                            for c, n in svc.top_categories(10_000)]}, headers=PAGE_CACHE)


# -- the docs page ------------------------------------------------------------------------------------------------


@docs_router.get("/api/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """A readable, interactive rendering of the OpenAPI document, served from this site (no CDN)."""
    spec = request.app.openapi()
    endpoints = []
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            params = []
            for prm in op.get("parameters", []):
                schema = prm.get("schema", {})
                kind = schema.get("type") or " | ".join(
                    s.get("type", "?") for s in schema.get("anyOf", []) if s.get("type") != "null") or "string"
                params.append({"name": prm["name"], "in": prm["in"], "required": prm.get("required", False),
                               "type": kind, "default": schema.get("default"),
                               "description": prm.get("description") or schema.get("description") or ""})
            endpoints.append({"method": method.upper(), "path": path, "summary": op.get("summary", ""),
                              "description": op.get("description", ""), "tags": op.get("tags", []),
                              "params": params, "responses": sorted(op.get("responses", {}))})
    html = services(request).env.get_template("api_docs.html").render(spec=spec, endpoints=endpoints)
    return HTMLResponse(html, headers={"Cache-Control": "public, max-age=300"})
