"""Who is asking, may they change things, and how often: the request-side of accounts.

Every route that knows readers uses these:

* :func:`current_reader` (``Reader | None``): a ``paperboy_session`` cookie or ``Authorization: Bearer TOKEN``;
  a bearer header that is malformed or names no live token is a 401, never a silent anonymous request.
* :func:`require_reader`: the same, 401 when nobody is signed in.
* :func:`check_csrf` (async; await it or use it as a dependency) before any state change: bearer requests pass
  (browsers never attach that header on their own); cookie sessions need the session's token (form field
  ``csrf_token`` or header ``X-CSRF-Token``); anonymous forms (sign in) need the double-submit cookie
  ``paperboy_csrf`` set by the page that rendered the form.
* :func:`rate_limit` (a dependency factory) and :func:`enforce_rate_limit`: 429 with ``Retry-After``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request, Response

from paperboy.accounts import AccountService, Reader, csrf_token, new_secret, open_accounts
from paperboy.ratelimit import RateLimited

SESSION_COOKIE = "paperboy_session"
ANON_CSRF_COOKIE = "paperboy_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_FORM_BYTES = 64 * 1024
#: What every page that differs per reader sends: never stored by a shared cache, nor by the browser.
PRIVATE = "private, no-store"


def account_service(request: Request) -> AccountService:
    """The process's :class:`AccountService`, built on first use from the app's store and settings."""
    state = request.app.state
    service = getattr(state, "accounts", None)
    if service is None:
        services = state.services
        service = state.accounts = AccountService(open_accounts(services.store), services.settings)
    return service


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer", "Cache-Control": PRIVATE})


def current_reader(request: Request) -> Reader | None:
    """The reader making this request, or None (resolved once per request)."""
    state = request.state
    if hasattr(state, "reader"):
        return state.reader
    service = account_service(request)
    reader, via, session = None, None, None
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, secret = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise _unauthorized("The Authorization header must be 'Bearer TOKEN'.")
        reader = service.token_reader(secret.strip())
        if reader is None:
            raise _unauthorized("That API token is not valid (unknown, revoked or mistyped).")
        via = "token"
    elif cookie := request.cookies.get(SESSION_COOKIE):
        reader = service.session_reader(cookie)
        if reader is not None:
            via, session = "session", cookie
    state.reader, state.auth_via, state.session_secret = reader, via, session
    return reader


def display_reader(request: Request) -> Reader | None:
    """The reader for showing the signed-in state on a public page: bad credentials just show "Sign in" there
    (routes that act for a reader answer them with 401)."""
    try:
        return current_reader(request)
    except HTTPException:
        return None


def require_reader(request: Request) -> Reader:
    """The signed-in reader, or 401."""
    reader = current_reader(request)
    if reader is None:
        raise _unauthorized("Sign in first.")
    return reader


def require_admin(request: Request) -> Reader:
    """The signed-in admin, or 401 / 403."""
    reader = require_reader(request)
    if not reader.is_admin:
        raise HTTPException(403, "Only admins can do that.", headers={"Cache-Control": PRIVATE})
    return reader


async def form_data(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form body (first value of each), bounded in size; {} for other bodies."""
    cached = getattr(request.state, "form_fields", None)
    if cached is not None:
        return cached
    fields: dict[str, str] = {}
    if request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "The form is too large.")
        for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            fields.setdefault(name, value)
    request.state.form_fields = fields
    return fields


def csrf_for(request: Request) -> str:
    """The CSRF token forms on this request's page must carry (call after :func:`current_reader`)."""
    current_reader(request)
    session = request.state.session_secret
    if session:
        return csrf_token(session)
    token = request.cookies.get(ANON_CSRF_COOKIE) or getattr(request.state, "new_anon_csrf", None)
    if not token:
        token = request.state.new_anon_csrf = new_secret()
    return token


def finish_private(request: Request, response: Response) -> Response:
    """Mark a personal response private and set the anonymous CSRF cookie if this page minted one."""
    response.headers["Cache-Control"] = PRIVATE
    token = getattr(request.state, "new_anon_csrf", None)
    if token:
        response.set_cookie(ANON_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=is_https(request),
                            path="/")
    return response


async def check_csrf(request: Request) -> None:
    """Refuse (403) a state change that does not prove it comes from our own page, or from a token holder."""
    current_reader(request)
    if request.state.auth_via == "token":
        return
    session = request.state.session_secret
    expected = csrf_token(session) if session else request.cookies.get(ANON_CSRF_COOKIE)
    supplied = request.headers.get(CSRF_HEADER) or (await form_data(request)).get(CSRF_FIELD)
    if not expected or not supplied or not hmac.compare_digest(expected.encode(), supplied.encode()):
        raise HTTPException(403, "Missing or invalid CSRF token: reload the page and try again.",
                            headers={"Cache-Control": PRIVATE})


def client_ip(request: Request) -> str:
    """The client address (X-Forwarded-For is believed only from the `trusted_proxies` setting, see web.app)."""
    return request.client.host if request.client else "unknown"


def enforce_rate_limit(request: Request, key: str, limit: int, window_s: float) -> None:
    """Count one hit on ``key``; past ``limit`` per ``window_s`` seconds answer 429 with ``Retry-After``."""
    try:
        account_service(request).limiter.rate_limit(key, limit, window_s)
    except RateLimited as exc:
        raise too_many(exc) from None


def too_many(exc: RateLimited) -> HTTPException:
    return HTTPException(429, f"Too many requests: try again in {exc.retry_after} s.",
                         headers={"Retry-After": str(exc.retry_after), "Cache-Control": PRIVATE})


def rate_limit(key: str, limit: int, window_s: float) -> Callable[[Request], Any]:
    """A dependency limiting each reader (or, for anonymous requests, each client IP) to ``limit`` per window.

    ``@router.post(..., dependencies=[Depends(rate_limit("vote", 60, 60))])``.
    """

    def dependency(request: Request) -> None:
        reader = current_reader(request)
        who = f"reader:{reader.id}" if reader is not None else f"ip:{client_ip(request)}"
        enforce_rate_limit(request, f"{key}:{who}", limit, window_s)

    return dependency


def is_https(request: Request) -> bool:
    settings = request.app.state.services.settings
    return request.url.scheme == "https" or settings.base_url.startswith("https://")
