"""Account routes: sign in by mailed link, sign out (here or everywhere), the account page, API tokens, admin hiding.

Sign-in links are safe from mail scanners that prefetch links: ``GET /auth/verify?token=…`` only shows a
one-button form (submitted at once by ``sign-in.js`` where scripts run); the link is used up by the ``POST``.
Every state change here is a POST/DELETE behind :func:`check_csrf`; every response is ``private, no-store``.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from paperboy.accounts import InvalidEmail, NotAllowed, Reader, SignInFailed, same_browser_proof
from paperboy.ratelimit import RateLimited
from paperboy.store.accounts import ApiToken
from paperboy.web.auth import (
    ANON_CSRF_COOKIE,
    PRIVATE,
    SESSION_COOKIE,
    account_service,
    check_csrf,
    client_ip,
    csrf_for,
    current_reader,
    finish_private,
    form_data,
    is_https,
    require_admin,
    require_reader,
)
from paperboy.web.models import error_response

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["account"], responses={
    401: error_response("Not signed in: a session cookie or `Authorization: Bearer TOKEN` is needed (or the token "
                        "is not valid)."),
    403: error_response("A session without its CSRF token (`X-CSRF-Token`), or not an admin."),
    404: error_response("No such token of yours, paper or reader."),
    422: error_response("A parameter is missing or of the wrong type."),
})


class ReaderOut(BaseModel):
    id: int
    email: str
    is_admin: bool


class TokenOut(BaseModel):
    id: int
    name: str
    created: str | None = Field(description="ISO 8601, UTC.")
    last_used: str | None = Field(description="ISO 8601, UTC; null when never used.")


class AccountOut(BaseModel):
    reader: ReaderOut
    tokens: list[TokenOut] = Field(description="Your live API tokens, newest first (never their secrets).")


class NewTokenOut(TokenOut):
    token: str = Field(description="The secret: send it as `Authorization: Bearer TOKEN`. Shown only here.")


class HiddenPaperOut(BaseModel):
    paper: str
    hidden: bool


class HiddenReaderOut(BaseModel):
    reader: int
    hidden: bool

#: Set by the sign-in request; lets the browser that asked for a link use it without a click.
SAME_BROWSER_COOKIE = "paperboy_signin"
BAD_LINK = ("This sign-in link does not work: it may have expired (links last {minutes} minutes), been used "
            "already, or been copied incompletely. Ask for a new one.")
CSRF = [Depends(check_csrf)]
#: For the API: who first (401 tells a script it lacks a token), then the CSRF check for cookie sessions.
READER_CSRF = [Depends(require_reader), Depends(check_csrf)]
ADMIN_CSRF = [Depends(require_admin), Depends(check_csrf)]
FormFields = Annotated[dict, Depends(form_data)]


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("reader", current_reader(request))
    context.setdefault("csrf_token", csrf_for(request))
    html = request.app.state.services.env.get_template(template).render(**context)
    return finish_private(request, HTMLResponse(html, status_code=status))


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": PRIVATE})


def _private_json(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status, headers={"Cache-Control": PRIVATE})


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts else None


def _token_json(token: ApiToken) -> dict:
    return {"id": token.id, "name": token.name, "created": _iso(token.created_at),
            "last_used": _iso(token.last_used_at)}


def _reader_json(reader: Reader) -> dict:
    return {"id": reader.id, "email": reader.email, "is_admin": reader.is_admin}


# -- signing in and out -----------------------------------------------------------------------------------------


@router.get("/auth/login", response_class=HTMLResponse)
def sign_in_page(request: Request) -> HTMLResponse:
    return _page(request, "account/sign_in.html", email="", error=None)


@router.post("/auth/login", dependencies=CSRF)
def sign_in_request(request: Request, form: FormFields) -> Response:
    """Mail a sign-in link; the answer is the same whether or not the address has an account."""
    email = form.get("email", "")
    service = account_service(request)
    try:
        proof = service.request_sign_in(email, client_ip(request))
    except InvalidEmail as exc:
        return _page(request, "account/sign_in.html", 400, email=email[:254], error=str(exc))
    except RateLimited as exc:
        minutes = max(1, round(exc.retry_after / 60))
        page = _page(request, "account/sign_in.html", 429, email=email[:254],
                     error=f"Too many sign-in requests: try again in about {minutes} minute(s).")
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    response = _redirect("/auth/check-mail")
    response.set_cookie(SAME_BROWSER_COOKIE, proof, max_age=service.settings.sign_in_link_minutes * 60,
                        httponly=True, samesite="lax", secure=is_https(request), path="/auth")
    return response


@router.get("/auth/check-mail", response_class=HTMLResponse)
def check_mail_page(request: Request) -> HTMLResponse:
    return _page(request, "account/check_mail.html", minutes=account_service(request).settings.sign_in_link_minutes)


@router.get("/auth/verify", response_class=HTMLResponse)
def verify_page(request: Request, token: str = "") -> HTMLResponse:
    """The page a mailed link opens: a form that uses the link (a GET never does).

    In the browser that asked for the link the form goes at once; anywhere else it names the address and
    waits for a click, so nobody is signed in to somebody else's account unawares (login CSRF).
    """
    service = account_service(request)
    address = service.link_address(token)
    if address is None:
        page = _page(request, "account/verify.html", 400, token="", address=None, auto=False,
                     error=BAD_LINK.format(minutes=service.settings.sign_in_link_minutes))
    else:
        proof = request.cookies.get(SAME_BROWSER_COOKIE, "")
        auto = hmac.compare_digest(proof.encode(), same_browser_proof(token).encode())
        page = _page(request, "account/verify.html", token=token, address=address, auto=auto, error=None)
    page.headers["Referrer-Policy"] = "no-referrer"  # the URL holds the secret
    return page


@router.post("/auth/verify", dependencies=CSRF)
def verify(request: Request, form: FormFields) -> Response:
    service = account_service(request)
    try:
        reader, session = service.sign_in(form.get("token", ""))
    except SignInFailed:
        minutes = service.settings.sign_in_link_minutes
        return _page(request, "account/verify.html", 400, error=BAD_LINK.format(minutes=minutes), token="",
                     address=None, auto=False)
    if previous := request.cookies.get(SESSION_COOKIE):
        service.sign_out(previous)
    response = _redirect("/account")
    response.set_cookie(SESSION_COOKIE, session, max_age=service.session_seconds, httponly=True, samesite="lax",
                        secure=is_https(request), path="/")
    response.delete_cookie(ANON_CSRF_COOKIE, path="/")
    response.delete_cookie(SAME_BROWSER_COOKIE, path="/auth")
    return response


def _signed_out(request: Request) -> Response:
    response = _redirect("/")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request))
    return response


@router.post("/auth/logout", dependencies=CSRF)
def sign_out(request: Request) -> Response:
    if session := request.cookies.get(SESSION_COOKIE):
        account_service(request).sign_out(session)
    return _signed_out(request)


@router.post("/auth/logout-everywhere", dependencies=CSRF)
def sign_out_everywhere(request: Request) -> Response:
    account_service(request).sign_out_everywhere(require_reader(request))
    return _signed_out(request)


# -- the account page and API tokens -------------------------------------------------------------------------------


def _account_page(request: Request, reader: Reader, status: int = 200, **extra: Any) -> HTMLResponse:
    tokens = [{"id": t.id, "name": t.name, "created": (_iso(t.created_at) or "")[:10],
               "last_used": (_iso(t.last_used_at) or "")[:10]} for t in account_service(request).tokens(reader)]
    extra.setdefault("new_token", None)
    extra.setdefault("new_token_name", None)
    return _page(request, "account/account.html", status, reader=reader, tokens=tokens, **extra)


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request) -> Response:
    reader = current_reader(request)
    if reader is None:
        return _redirect("/auth/login")
    return _account_page(request, reader)


@router.post("/account/tokens", dependencies=CSRF)
def create_token_form(request: Request, form: FormFields) -> Response:
    reader = require_reader(request)
    token, secret = account_service(request).create_token(reader, form.get("name", ""))
    return _account_page(request, reader, 201, new_token=secret, new_token_name=token.name)


@router.post("/account/tokens/{token_id}/revoke", dependencies=CSRF)
def revoke_token_form(request: Request, token_id: int) -> Response:
    _revoke(request, token_id)
    return _redirect("/account#tokens")


def _revoke(request: Request, token_id: int) -> None:
    if not account_service(request).revoke_token(require_reader(request), token_id):
        raise HTTPException(404, "No such token.", headers={"Cache-Control": PRIVATE})


@api_router.get("/account", response_model=AccountOut)
def account_json(request: Request) -> JSONResponse:
    """The signed-in reader and their API tokens (the JSON twin of /account)."""
    reader = require_reader(request)
    tokens = account_service(request).tokens(reader)
    return _private_json({"reader": _reader_json(reader), "tokens": [_token_json(t) for t in tokens]})


@api_router.post("/account/tokens", dependencies=READER_CSRF, status_code=201, response_model=NewTokenOut)
def create_token_json(request: Request, name: str = "") -> JSONResponse:
    """Create an API token; ``token`` is in this answer only."""
    token, secret = account_service(request).create_token(require_reader(request), name)
    return _private_json({**_token_json(token), "token": secret}, 201)


@api_router.delete("/account/tokens/{token_id}", dependencies=READER_CSRF, status_code=204)
def revoke_token_json(request: Request, token_id: int) -> Response:
    _revoke(request, token_id)
    return Response(status_code=204, headers={"Cache-Control": PRIVATE})


# -- admin: hiding papers and readers ------------------------------------------------------------------------------


def _hide_paper(request: Request, paper_id: str, hidden: bool) -> dict:
    admin = require_admin(request)
    stored = request.app.state.services.store.get(paper_id)
    if stored is None:
        raise HTTPException(404, "No such paper.")
    account_service(request).hide_paper(admin, stored.pid, hidden)
    return {"paper": stored.paper.id, "hidden": hidden}


def _hide_reader(request: Request, reader_id: int, hidden: bool) -> dict:
    admin = require_admin(request)
    try:
        found = account_service(request).hide_reader(admin, reader_id, hidden)
    except NotAllowed as exc:
        raise HTTPException(400, str(exc)) from None
    if not found:
        raise HTTPException(404, "No such reader.")
    return {"reader": reader_id, "hidden": hidden}


@api_router.post("/admin/papers/{paper_id:path}/hide", dependencies=ADMIN_CSRF, response_model=HiddenPaperOut)
def hide_paper(request: Request, paper_id: str) -> JSONResponse:
    """Hide a paper from everybody but admins (admins only)."""
    return _private_json(_hide_paper(request, paper_id, True))


@api_router.delete("/admin/papers/{paper_id:path}/hide", dependencies=ADMIN_CSRF, response_model=HiddenPaperOut)
def show_paper(request: Request, paper_id: str) -> JSONResponse:
    return _private_json(_hide_paper(request, paper_id, False))


@api_router.post("/admin/readers/{reader_id}/hide", dependencies=ADMIN_CSRF, response_model=HiddenReaderOut)
def hide_reader(request: Request, reader_id: int) -> JSONResponse:
    """Hide a reader: signed out everywhere, their tokens stop working, they cannot sign in (admins only)."""
    return _private_json(_hide_reader(request, reader_id, True))


@api_router.delete("/admin/readers/{reader_id}/hide", dependencies=ADMIN_CSRF, response_model=HiddenReaderOut)
def show_reader(request: Request, reader_id: int) -> JSONResponse:
    return _private_json(_hide_reader(request, reader_id, False))
