"""Errors the site shows: :class:`WebError` and one error answer per path family (API JSON, feed text, HTML)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from paperboy.web.shapes import JSONResponseFast

log = logging.getLogger("paperboy.web")


class WebError(Exception):
    """An error whose message is safe to show: rendered as an HTML page, JSON or plain text by path."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The same error as JSON (API), plain text (feeds) or an HTML page (site), by path."""
    path = request.url.path
    headers = {**(headers or {}), "Cache-Control": "no-store"}
    if status == 503:
        headers["Retry-After"] = "10"
    if path.startswith("/api/") or path in ("/readyz", "/metrics"):
        return JSONResponseFast({"error": message, "status": status}, status_code=status, headers=headers)
    if path.startswith("/feeds/"):
        return PlainTextResponse(message + "\n", status_code=status, headers=headers)
    env = request.app.state.services.env
    html = env.get_template("error.html").render(status=status, message=message, request_path=path)
    return HTMLResponse(html, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("query", "path", "body"))
        parts.append(f"{where}: {err.get('msg', 'invalid value')}" if where else str(err.get("msg")))
    return "invalid parameters: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(WebError)
    async def on_web_error(request: Request, exc: WebError) -> Response:
        return error_response(request, exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        return error_response(request, 422, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        message = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, str(exc.detail))
        return error_response(request, exc.status_code, message, exc.headers)  # 405 keeps its Allow header

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s", request.url.path, exc_info=exc)
        return error_response(request, 500, "Internal server error: the error was logged.")
