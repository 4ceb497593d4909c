"""The ASGI application: ``create_app(settings, store=None, engine=None)``.

One thin ASGI middleware (:class:`Edge`) does everything that is the same for every response, in one
pass and without Starlette's ``BaseHTTPMiddleware`` (which costs a task and a queue per request):

* security headers (CSP without inline scripts, nosniff, Referrer-Policy, frame-ancestors, ...);
* ``ETag`` (a hash of the body), ``Last-Modified`` (when this process first saw the current data) and
  ``Cache-Control``; conditional GETs answered with 304;
* a small in-process response cache keyed by (path, query, data version) for responses marked
  ``Cache-Control: public``, so a popular page or search is rendered once per data change;
* metrics (request counts and latency histograms by route template) and one JSON access-log line
  per request;
* HEAD answered as GET without a body.

The query engine is built once per process, at start-up, in a background thread (building the
embedding model the first time can take a while); until it is there, non-search pages work,
search answers 503 and ``/readyz`` says why.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from paperboy.config import Settings, load_settings
from paperboy.store import Store, open_store
from paperboy.web.common import JSONResponseFast, Services, WebError, http_date
from paperboy.web.render import STATIC_DIR

log = logging.getLogger("paperboy.web")
access_log = logging.getLogger("paperboy.access")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]
#: The JSON API and feeds are public and read-only: let browser scripts on other origins read them.
CORS_HEADERS: list[tuple[bytes, bytes]] = [(b"access-control-allow-origin", b"*")]
#: Paths never cached nor given validators: their answer is about this instant.
_LIVE_PATHS = ("/healthz", "/readyz", "/metrics")
_KEPT_HEADERS = frozenset((b"if-none-match", b"if-modified-since", b"user-agent", b"x-request-id", b"host"))
CACHE_MAX_BYTES = 64 * 1024 * 1024
CACHE_MAX_ENTRY = 1024 * 1024

Send = Callable[[dict], Awaitable[None]]
Receive = Callable[[], Awaitable[dict]]


class _Entry:
    __slots__ = ("status", "headers", "body", "route", "etag")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes, route: str, etag: bytes):
        self.status, self.headers, self.body, self.route, self.etag = status, headers, body, route, etag


class Edge:
    """Pure-ASGI middleware: headers, validators, response cache, metrics and access logs."""

    def __init__(self, app: Callable, services: Services, *, cache: bool = True) -> None:
        self.app = app
        self.services = services
        self.cache_enabled = cache
        self.cache: OrderedDict[tuple, _Entry] = OrderedDict()
        self.cache_bytes = 0

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        services = self.services
        metrics = services.metrics
        method = scope["method"]
        path: str = scope["path"]
        head = method == "HEAD"
        if head:
            scope = dict(scope, method="GET")
        req_headers = {k: v for k, v in scope.get("headers", ()) if k in _KEPT_HEADERS}
        static = path.startswith("/static/")
        live = path in _LIVE_PATHS
        key = None
        if method in ("GET", "HEAD") and not static and not live and self.cache_enabled:
            # The Host header is part of the key: pages hold absolute URLs built from it, and a request
            # with a forged Host must not poison what everybody else is served.
            key = (path, scope.get("query_string", b""), req_headers.get(b"host", b""), scope.get("scheme"),
                   services.data_version())
            entry = self.cache.get(key)
            if entry is not None:
                self.cache.move_to_end(key)
                metrics.count_cache("hit")
                status = await self._send_entry(entry, req_headers, send, head)
                self._done(scope, start, status, len(entry.body), entry.route, req_headers, "hit")
                return

        state: dict[str, Any] = {"status": 500, "headers": [], "chunks": [], "sent": 0}
        buffered = not static

        async def capture(message: dict) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
                headers = [(k.lower(), v) for k, v in message.get("headers", [])]
                state["headers"] = headers
                if not buffered:
                    headers = self._decorate(path, scope, headers, state["status"])
                    await send({"type": "http.response.start", "status": message["status"], "headers": headers})
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            body = message.get("body", b"")
            if not buffered:
                state["sent"] += len(body)
                await send({"type": "http.response.body", "body": b"" if head else body,
                            "more_body": message.get("more_body", False)})
                return
            state["chunks"].append(body)
            if not message.get("more_body", False):
                await self._finish(scope, path, key, state, req_headers, send, head)

        metrics.in_flight += 1
        try:
            try:
                await self.app(scope, receive, capture)
            except Exception as exc:  # noqa: BLE001 - answer 500 with our headers instead of a bare error
                if state.get("cache") is not None or (not buffered and state.get("started")):
                    raise  # the response already started: nothing sensible can be sent any more
                log.error("unhandled error on %s", path, exc_info=exc)
                state["chunks"] = []
                response = error_response(Request(scope), 500, "Internal server error: the error was logged.")
                await response(scope, receive, capture)
        finally:
            metrics.in_flight -= 1
            route = scope.get("route")
            route_name = getattr(route, "path", None) or "unmatched"
            size = state["sent"] if not buffered else state.get("size", 0)
            self._done(scope, start, state.get("final_status", state["status"]), size, route_name, req_headers,
                       state.get("cache", "miss" if key else "none"))

    # -- helpers ------------------------------------------------------------------------------------------

    def _decorate(self, path: str, scope: dict, headers: list[tuple[bytes, bytes]],
                  status: int) -> list[tuple[bytes, bytes]]:
        names = {k for k, _ in headers}
        out = list(headers)
        out += [h for h in SECURITY_HEADERS if h[0] not in names]
        if path.startswith(("/api/", "/feeds/")):
            out += CORS_HEADERS
        if path.startswith("/static/") and status == 200:
            immutable = b"v=" in scope.get("query_string", b"")
            out = [h for h in out if h[0] != b"cache-control"]
            out.append((b"cache-control", b"public, max-age=31536000, immutable" if immutable
                        else b"public, max-age=3600"))
        elif b"cache-control" not in names:
            out.append((b"cache-control", b"no-cache" if status < 400 else b"no-store"))
        return out

    async def _finish(self, scope: dict, path: str, key: tuple | None, state: dict, req_headers: dict,
                      send: Send, head: bool) -> None:
        status = state["status"]
        body = b"".join(state["chunks"])
        headers = [h for h in state["headers"] if h[0] != b"content-length"]
        cache_control = next((v for k, v in headers if k == b"cache-control"), b"")
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        if status == 200 and path not in _LIVE_PATHS:
            etag = b'W/"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'
            headers.append((b"etag", etag))
            if not any(k == b"last-modified" for k, _ in headers):
                headers.append((b"last-modified", http_date(self.services.last_modified).encode()))
            headers = self._decorate(path, scope, headers, status)
            headers.append((b"content-length", str(len(body)).encode()))
            entry = _Entry(status, headers, body, route, etag)
            if key is not None and cache_control.startswith(b"public") and len(body) <= CACHE_MAX_ENTRY:
                self._store(key, entry)
                state["cache"] = "miss"
            else:
                state["cache"] = "none"
            state["final_status"] = await self._send_entry(entry, req_headers, send, head)
            state["size"] = len(body)
            return
        headers = self._decorate(path, scope, headers, status)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else body})
        state["size"] = len(body)
        state["cache"] = "none"

    def _store(self, key: tuple, entry: _Entry) -> None:
        self.cache[key] = entry
        self.cache_bytes += len(entry.body)
        self.services.metrics.count_cache("store")
        while self.cache_bytes > CACHE_MAX_BYTES and self.cache:
            _, old = self.cache.popitem(last=False)
            self.cache_bytes -= len(old.body)

    async def _send_entry(self, entry: _Entry, req_headers: dict, send: Send, head: bool) -> int:
        if _not_modified(entry, req_headers):
            keep = {b"etag", b"last-modified", b"cache-control", b"vary", b"content-security-policy",
                    b"x-content-type-options", b"access-control-allow-origin"}
            await send({"type": "http.response.start", "status": 304,
                        "headers": [h for h in entry.headers if h[0] in keep]})
            await send({"type": "http.response.body", "body": b""})
            return 304
        await send({"type": "http.response.start", "status": entry.status, "headers": entry.headers})
        await send({"type": "http.response.body", "body": b"" if head else entry.body})
        return entry.status

    def _done(self, scope: dict, start: float, status: int, size: int, route: str, req_headers: dict,
              cache: str) -> None:
        elapsed = time.perf_counter() - start
        self.services.metrics.observe_request(scope["method"], route, status, elapsed)
        if access_log.isEnabledFor(logging.INFO):
            client = scope.get("client")
            record = {
                "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
                "msg": "request",
                "method": scope["method"],
                "path": scope["path"],
                "query": scope.get("query_string", b"").decode("latin-1")[:500],
                "route": route,
                "status": status,
                "bytes": size,
                "ms": round(elapsed * 1000, 2),
                "cache": cache,
                "client": client[0] if client else None,
                "ua": req_headers.get(b"user-agent", b"").decode("latin-1")[:200],
                "request_id": req_headers.get(b"x-request-id", b"").decode("latin-1")[:100] or None,
            }
            access_log.info(orjson.dumps(record).decode())


def _not_modified(entry: _Entry, req_headers: dict) -> bool:
    """RFC 9110 §13.1: If-None-Match wins over If-Modified-Since; weak comparison for GET."""
    inm = req_headers.get(b"if-none-match")
    if inm is not None:
        tags = {t.strip() for t in inm.split(b",")}
        bare = entry.etag.removeprefix(b"W/")
        return b"*" in tags or entry.etag in tags or bare in tags
    ims = req_headers.get(b"if-modified-since")
    if ims is not None:
        last = next((v for k, v in entry.headers if k == b"last-modified"), None)
        if last is None:
            return False
        try:
            return parsedate_to_datetime(last.decode()) <= parsedate_to_datetime(ims.decode())
        except (TypeError, ValueError, IndexError):
            return False
    return False


# -- errors -------------------------------------------------------------------------------------------------------


def error_response(request: Request, status: int, message: str, extra_headers: dict | None = None) -> Response:
    """The same error as JSON (API), plain text (feeds) or an HTML page (site), by path."""
    path = request.url.path
    headers = {"Cache-Control": "no-store", **(extra_headers or {})}
    if status == 503:
        headers["Retry-After"] = "10"
    if path.startswith("/api/") or path in ("/readyz", "/metrics"):
        return JSONResponseFast({"error": message, "status": status}, status_code=status, headers=headers)
    if path.startswith("/feeds/"):
        return PlainTextResponse(message + "\n", status_code=status, headers=headers)
    services: Services = request.app.state.services
    html = services.env.get_template("error.html").render(status=status, message=message, request_path=path)
    return HTMLResponse(html, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("query", "path", "body"))
        parts.append(f"{where}: {err.get('msg', 'invalid value')}" if where else str(err.get("msg")))
    return "invalid parameters: " + "; ".join(parts)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(WebError)
    async def on_web_error(request: Request, exc: WebError) -> Response:
        return error_response(request, exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        return error_response(request, 422, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        message = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, str(exc.detail))
        return error_response(request, exc.status_code, message, exc.headers)  # Retry-After, WWW-Authenticate

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s", request.url.path, exc_info=exc)
        return error_response(request, 500, "Internal server error: the error was logged.")


# -- the application ----------------------------------------------------------------------------------------------


def build_engine(settings: Settings, store: Store) -> Any:
    """The query engine for this process (import deferred: the engine pulls in index libraries)."""
    from paperboy.search import SearchEngine

    return SearchEngine(settings, store)


def create_app(settings: Settings, store: Store | None = None, engine: Any | None = None, *,
               load_engine: Literal["background", "startup", "never"] = "background",
               response_cache: bool = True) -> FastAPI:
    """The paperboy web application for ``settings``.

    ``store``/``engine`` are used as given (tests inject them); otherwise the store is opened now and the
    engine built once, at start-up (``load_engine``: in a background thread, before serving, or never).
    """
    store = store if store is not None else open_store(settings.database_url)
    services = Services(settings, store, engine, None if engine is not None else "loading")

    def load() -> None:
        services.warm_up()
        try:
            engine = build_engine(settings, store)
        except Exception as exc:  # noqa: BLE001 - the site runs without search and says why
            services.engine_error = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("query engine unavailable: %s", services.engine_error)
            return
        indexes = getattr(engine, "indexes", None)
        try:
            if indexes is not None and indexes.has_vectors():
                _ = indexes.embedder  # load the query model now, not on the first search
        except Exception:  # noqa: BLE001 - search falls back to lexical and says why
            log.exception("loading the query embedder failed")
        services.engine = engine
        services.engine_error = None
        log.info("query engine loaded")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if services.engine is None:
            if load_engine == "startup":
                load()
            elif load_engine == "background":
                threading.Thread(target=load, name="paperboy-engine-load", daemon=True).start()
            else:
                services.engine_error = "not loaded"
        else:
            threading.Thread(target=services.warm_up, name="paperboy-warm-up", daemon=True).start()
        yield
        services.close()

    app = FastAPI(
        title="paperboy",
        version=_version(),
        description="Search, browse and follow research papers. Every HTML page has a JSON twin under /api/v1; "
                    "/api/papers/* and /api/daily_papers answer like the Hugging Face Papers API.",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        default_response_class=JSONResponseFast,
    )
    app.state.services = services
    _install_error_handlers(app)

    from paperboy.web import accounts, api, feeds, hf_compat, ops, pages

    app.include_router(accounts.router)
    app.include_router(accounts.api_router)
    app.include_router(api.router)
    app.include_router(api.docs_router)
    app.include_router(hf_compat.router)
    app.include_router(feeds.router)
    app.include_router(ops.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(Edge, services=services, cache=response_cache)
    return app


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("paperboy")
    except Exception:  # noqa: BLE001 - running from a source tree without metadata
        return "0"


def factory() -> FastAPI:
    """Entry point for ``uvicorn --factory`` (one app per worker process): settings from the environment.

    ``PAPERBOY_WEB_CACHE=0`` turns the in-process response cache off (for measuring the uncached path).
    """
    cache = os.environ.get("PAPERBOY_WEB_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")
    return create_app(load_settings(os.environ.get("PAPERBOY_HOME") or None), response_cache=cache)


# -- running it ---------------------------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: access lines pass their JSON through, other records are wrapped."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.name == "paperboy.access" and message.startswith("{"):
            return message
        data = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
                "level": record.levelname.lower(), "logger": record.name, "msg": message}
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(data).decode()


def logging_config(level: str = "info", access_log: bool = True) -> dict:
    """A ``logging.config.dictConfig`` for the server: JSON lines on stderr; uvicorn's own access log off."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": handler},
        "loggers": {
            "paperboy": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "paperboy.access": {"handlers": ["stderr"], "level": "INFO" if access_log else "WARNING",
                                "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def serve(settings: Settings, *, host: str | None = None, port: int | None = None, workers: int = 1,
          log_level: str = "info", access_log: bool = True) -> None:
    """Run the site with uvicorn until SIGINT/SIGTERM (in-flight requests get 10 s to finish)."""
    import importlib.util

    import uvicorn

    os.environ["PAPERBOY_HOME"] = str(settings.home)  # every worker process builds its app from this home
    uvicorn.run(
        "paperboy.web.app:factory",
        factory=True,
        host=host or settings.host,
        port=settings.port if port is None else port,
        workers=max(1, workers),
        log_config=logging_config(log_level, access_log),
        access_log=False,
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        timeout_graceful_shutdown=10,
        server_header=False,
        proxy_headers=True,
    )
