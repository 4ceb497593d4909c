"""The ASGI middleware every response passes through (:class:`Edge`), in one pass and without Starlette's
``BaseHTTPMiddleware`` (which costs a task and a queue per request):

* security headers (CSP without inline scripts, nosniff, Referrer-Policy, frame-ancestors, ...);
* ``ETag`` (a hash of the body), ``Last-Modified`` (when this process first saw the current data the route
  reads) and ``Cache-Control``; conditional GETs answered with 304;
* a small in-process response cache for responses marked ``Cache-Control: public``, so a popular page or
  search is rendered once per data change.  An entry remembers the data versions its route reads
  (:func:`~paperboy.web.services.reads`) and is stale when one of those changes;
* personal requests (a ``paperboy_session`` cookie or an ``Authorization`` header) never touch the shared
  cache and are answered ``Cache-Control: private, no-store``: the cache and validators are anonymous-only;
* metrics (request counts and latency histograms by route template) and one JSON access-log line
  per request;
* HEAD answered as GET without a body.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import orjson
from fastapi import Request

from paperboy.web.errors import error_response
from paperboy.web.services import ALL, Services

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
_KEPT_HEADERS = frozenset((b"if-none-match", b"if-modified-since", b"user-agent", b"x-request-id", b"host",
                           b"cookie", b"authorization"))
#: The cookie that marks a signed-in reader (set by the readers layer).
SESSION_COOKIE = "paperboy_session"
_SESSION = re.compile(rb"(?:^|;)\s*" + SESSION_COOKIE.encode() + rb"=")
PERSONAL_CACHE_CONTROL = b"private, no-store"
#: Paths that carry a reader's secret (private topic feeds): personal like a session, logged without the secret.
PRIVATE_PATH = "/feeds/private/"
CACHE_MAX_BYTES = 64 * 1024 * 1024
CACHE_MAX_ENTRY = 1024 * 1024

Send = Callable[[dict], Awaitable[None]]
Receive = Callable[[], Awaitable[dict]]


class _Entry:
    __slots__ = ("status", "headers", "body", "route", "etag", "reads", "versions")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes, route: str, etag: bytes,
                 reads: tuple[str, ...], versions: tuple[int, ...]):
        self.status, self.headers, self.body, self.route, self.etag = status, headers, body, route, etag
        self.reads, self.versions = reads, versions


def is_personal(req_headers: dict[bytes, bytes]) -> bool:
    """Whether a request speaks for a reader (session cookie or credentials): never served from a shared cache."""
    return b"authorization" in req_headers or bool(_SESSION.search(req_headers.get(b"cookie", b"")))


def http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


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
        personal = is_personal(req_headers) or path.startswith(PRIVATE_PATH)
        key = None
        if method in ("GET", "HEAD") and not static and not live and self.cache_enabled and not personal:
            # The Host header is part of the key: pages hold absolute URLs built from it, and a request
            # with a forged Host must not poison what everybody else is served.
            key = (path, scope.get("query_string", b""), req_headers.get(b"host", b""), scope.get("scheme"))
            entry = self.cache.get(key)
            if entry is not None and entry.versions != services.version(entry.reads):
                self._drop(key)
                entry = None
            if entry is not None:
                self.cache.move_to_end(key)
                metrics.count_cache("hit")
                status = await self._send_entry(entry, req_headers, send, head)
                self._done(scope, start, status, len(entry.body), entry.route, req_headers, "hit")
                return

        # Versions are read before rendering: data that changes during it leaves the entry stale, never wrong.
        state: dict[str, Any] = {"status": 500, "headers": [], "chunks": [], "sent": 0, "personal": personal,
                                 "versions": services.snapshot() if key is not None else {}}
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
        if state["personal"] and not path.startswith("/static/"):
            headers = [h for h in headers if h[0] != b"cache-control"] + [(b"cache-control", PERSONAL_CACHE_CONTROL)]
        elif status == 200 and path not in _LIVE_PATHS:
            reads = getattr(scope.get("endpoint"), "reads", ALL)
            etag = b'W/"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'
            headers.append((b"etag", etag))
            if not any(k == b"last-modified" for k, _ in headers):
                headers.append((b"last-modified", http_date(self.services.last_modified(reads)).encode()))
            headers = self._decorate(path, scope, headers, status)
            headers.append((b"content-length", str(len(body)).encode()))
            snapshot = state["versions"]
            chosen = sorted(snapshot) if reads == ALL else [n for n in reads if n in snapshot]
            entry = _Entry(status, headers, body, route, etag, reads, tuple(snapshot[n] for n in chosen))
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
        self._drop(key)
        self.cache[key] = entry
        self.cache_bytes += len(entry.body)
        self.services.metrics.count_cache("store")
        while self.cache_bytes > CACHE_MAX_BYTES and self.cache:
            _, old = self.cache.popitem(last=False)
            self.cache_bytes -= len(old.body)

    def _drop(self, key: tuple) -> None:
        old = self.cache.pop(key, None)
        if old is not None:
            self.cache_bytes -= len(old.body)

    async def _send_entry(self, entry: _Entry, req_headers: dict, send: Send, head: bool) -> int:
        if _not_modified(entry, req_headers):
            keep = {b"etag", b"last-modified", b"cache-control", b"vary", b"content-security-policy",
                    b"x-content-type-options", b"access-control-allow-origin"}
            await send({"type": "http.response.start", "status": 304,
                        "headers": [h for h in entry.headers if h[0] in keep]})
            await send({"type": "http.response.body", "body": b""})
            return 304
        # A copy: middleware outside (gzip) edits the headers it is sent, and the entry is shared.
        await send({"type": "http.response.start", "status": entry.status, "headers": list(entry.headers)})
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
                "path": PRIVATE_PATH + "…" if scope["path"].startswith(PRIVATE_PATH) else scope["path"],
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
