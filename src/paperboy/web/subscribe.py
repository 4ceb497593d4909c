"""Digest routes: subscribe (banner form and JSON), confirm, settings, preview, and the links in digest mail.

* ``POST /subscribe`` (form) and ``POST /api/v1/subscribe`` (JSON): fields ``email``, ``frequency``
  (``daily``|``weekly``) and optionally ``tz``; the same answer whether the address is known or not.  No CSRF
  token: the banner sits on shared-cached pages, and a forged request can only mail a confirmation link to an
  address, which its owner ignores (rate limits bound that).
* ``/subscribe/confirm?token=…``: a GET shows a button (mail scanners prefetch links), the POST confirms.
* Links in digests carry a signature that is the whole credential (:mod:`paperboy.digest.links`), because a
  one-click unsubscribe POST (RFC 8058) carries no cookie.  ``/digest/unsubscribe``: GET shows a button and
  never unsubscribes by itself; POST unsubscribes and answers 200, never a redirect.  ``/digest/feedback``: GET
  shows a button, POST records 👍/👎.  ``/digest/click``: records a click and redirects to the paper's own page,
  built from the id (never a URL from the request).  ``/digest/settings`` and ``/digest/preview`` take the signed
  settings link or a signed-in reader's session.
Every answer here is personal (``private, no-store``), and the pages are steps or personal pages, not resources:
they have no JSON twins (no ``response_class`` is declared, so the twin walk of tests/test_web_resources.py
leaves them out).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from paperboy import periods
from paperboy.accounts import InvalidEmail, open_accounts
from paperboy.digest import DigestContext, RenderSettings, compose, open_context, render
from paperboy.digest.subscribe import SettingError, SubscribeService, check_changes
from paperboy.ratelimit import RateLimited
from paperboy.store.subscriptions import SECTIONS, Subscription
from paperboy.web.auth import PRIVATE, check_csrf, client_ip, csrf_for, current_reader, finish_private, form_data
from paperboy.web.models import error_response
from paperboy.web.render import paper_path

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["digest"])
FormFields = Annotated[dict, Depends(form_data)]
BAD_CONFIRM = ("This confirmation link does not work: it may have expired (links last 48 hours), been used "
               "already, or been copied incompletely. Subscribe again to get a new one.")
BAD_LINK = "This link is not valid (it may have been copied incompletely). Use the link from your latest digest."
SENT = ("If that address can receive mail, a confirmation link is on its way. Nothing else is sent until you "
        "use it.")
#: Mail for the preview: a script-free page whose only styles are the mail's own inline ones.
PREVIEW_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'; "
               "frame-ancestors 'none'")


class SubscribeIn(BaseModel):
    email: str = Field(description="The address to send the digest to.", max_length=400)
    frequency: str = Field("daily", description="`daily` or `weekly`.")
    tz: str = Field("UTC", description="IANA time zone for the send hour, e.g. `Europe/Paris`.", max_length=80)


class SubscribeOut(BaseModel):
    status: str = Field(description="Always `pending`: a confirmation link was mailed if the address can receive "
                        "mail.")
    detail: str


# -- shared helpers -----------------------------------------------------------------------------------------------


def _context(request: Request) -> DigestContext:
    state = request.app.state
    ctx = getattr(state, "digest", None)
    if ctx is None:
        services = state.services
        ctx = state.digest = open_context(services.store, services.settings, engine=services.engine)
    return ctx


def _service(request: Request) -> SubscribeService:
    state = request.app.state
    service = getattr(state, "subscribe", None)
    if service is None:
        ctx = _context(request)
        service = state.subscribe = SubscribeService(ctx.subscriptions, open_accounts(ctx.store), ctx.settings)
    return service


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("reader", current_reader(request))
    context.setdefault("csrf_token", csrf_for(request))
    html = request.app.state.services.env.get_template(template).render(**context)
    response = finish_private(request, HTMLResponse(html, status_code=status))
    response.headers["Referrer-Policy"] = "no-referrer"  # our URLs here hold signatures and secrets
    return response


def _signed(request: Request, purpose: str, *parts: object) -> int | None:
    """The reader id of a signed digest link (``r`` and ``s`` in the query), or None when the link is forged."""
    query = request.query_params
    try:
        reader_id = int(query.get("r", ""))
    except ValueError:
        return None
    signer = RenderSettings.from_context(_context(request)).signer
    return reader_id if signer.check(query.get("s"), purpose, reader_id, *parts) else None


def _settings_reader(request: Request) -> tuple[int | None, bool]:
    """Who the settings and preview pages are for: a signed settings link, else the signed-in reader.
    The flag says whether it came from a link (its forms then carry the link instead of a CSRF token)."""
    if "s" in request.query_params:
        return _signed(request, "settings"), True
    reader = current_reader(request)
    return (reader.id if reader else None), False


# -- subscribing --------------------------------------------------------------------------------------------------


@router.get("/subscribe")
def subscribe_page(request: Request) -> HTMLResponse:
    return _page(request, "subscribe.html", email="", frequency="daily", error=None)


def _request(request: Request, email: object, frequency: object, tz: object) -> None:
    _service(request).request(email, frequency, tz, client_ip(request))


@router.post("/subscribe")
def subscribe_form(request: Request, form: FormFields) -> Response:
    """The banner's form: mail a confirmation link, then "check your mail" (303), known address or not."""
    email, frequency = form.get("email", ""), form.get("frequency", "daily")
    try:
        _request(request, email, frequency, form.get("tz", "UTC"))
    except (InvalidEmail, SettingError) as exc:
        return _page(request, "subscribe.html", 400, email=email[:254], frequency=frequency, error=str(exc))
    except RateLimited as exc:
        page = _page(request, "subscribe.html", 429, email=email[:254], frequency=frequency,
                     error=f"Too many requests: try again in about {max(1, round(exc.retry_after / 60))} minute(s).")
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    return RedirectResponse("/subscribe/sent", status_code=303, headers={"Cache-Control": PRIVATE})


@api_router.post("/subscribe", status_code=202, response_model=SubscribeOut, responses={
    400: error_response("Not an email address, or an unknown frequency or time zone."),
    429: error_response("Too many requests from this client or for this address.")})
def subscribe_json(request: Request, body: SubscribeIn) -> JSONResponse:
    """Subscribe an address to the digest (double opt-in): the same answer whether it is known or not."""
    try:
        _request(request, body.email, body.frequency, body.tz)
    except (InvalidEmail, SettingError) as exc:
        raise HTTPException(400, str(exc), headers={"Cache-Control": PRIVATE}) from None
    except RateLimited as exc:
        raise HTTPException(429, f"Too many requests: try again in {exc.retry_after} s.",
                            headers={"Retry-After": str(exc.retry_after), "Cache-Control": PRIVATE}) from None
    return JSONResponse({"status": "pending", "detail": SENT}, status_code=202, headers={"Cache-Control": PRIVATE})


@router.get("/subscribe/sent")
def sent_page(request: Request) -> HTMLResponse:
    return _page(request, "subscribe_sent.html", message=SENT)


@router.get("/subscribe/confirm")
def confirm_page(request: Request, token: str = "") -> HTMLResponse:
    """The page the confirmation link opens: a button; a GET never confirms (mail scanners follow links)."""
    address = _service(request).pending_email(token)
    if address is None:
        return _page(request, "subscribe_confirm.html", 400, error=BAD_CONFIRM, token="", address=None)
    return _page(request, "subscribe_confirm.html", error=None, token=token, address=address)


@router.post("/subscribe/confirm")
def confirm(request: Request, form: FormFields) -> HTMLResponse:
    sub = _service(request).confirm(form.get("token", ""))
    if sub is None:
        return _page(request, "subscribe_confirm.html", 400, error=BAD_CONFIRM, token="", address=None)
    return _page(request, "subscribe_done.html", sub=sub, settings_url=_links(request, sub.reader_id).settings())


def _links(request: Request, reader_id: int):  # noqa: ANN202 - paperboy.digest.links.Links
    from paperboy.digest.links import Links

    settings = RenderSettings.from_context(_context(request))
    return Links(settings.base_url, settings.signer, reader_id)


# -- links in digest mail -----------------------------------------------------------------------------------------


def _bad_link(request: Request) -> HTMLResponse:
    return _page(request, "subscribe_link.html", 400, error=BAD_LINK, done=False, action=None, paper=None)


@router.get("/digest/unsubscribe")
def unsubscribe_page(request: Request) -> HTMLResponse:
    reader_id = _signed(request, "unsubscribe")
    if reader_id is None:
        return _bad_link(request)
    sub = _context(request).subscriptions.get(reader_id)
    return _page(request, "subscribe_link.html", error=None, done=False, action="unsubscribe", paper=None,
                 email=sub.email if sub else None, url=f"{request.url.path}?{request.url.query}")


@router.post("/digest/unsubscribe")
def unsubscribe(request: Request) -> HTMLResponse:
    """One-click unsubscribe (RFC 8058): the signed URL is the credential; 200, never a redirect."""
    reader_id = _signed(request, "unsubscribe")
    if reader_id is None:
        return _bad_link(request)
    ctx = _context(request)
    ctx.subscriptions.unsubscribe(reader_id, datetime.now(UTC).timestamp())
    return _page(request, "subscribe_link.html", error=None, done=True, action="unsubscribe", paper=None)


def _feedback_args(request: Request) -> tuple[int | None, str, str]:
    query = request.query_params
    paper_id, vote = query.get("p", ""), query.get("v", "")
    if vote not in ("up", "down"):
        return None, paper_id, vote
    return _signed(request, "feedback", paper_id, vote), paper_id, vote


def _paper_title(request: Request, paper_id: str) -> str | None:
    stored = _context(request).store.get(paper_id)
    return stored.paper.title if stored else None


@router.get("/digest/feedback")
def feedback_page(request: Request) -> HTMLResponse:
    reader_id, paper_id, vote = _feedback_args(request)
    title = _paper_title(request, paper_id) if reader_id is not None else None
    if title is None:
        return _bad_link(request)
    return _page(request, "subscribe_link.html", error=None, done=False, action=vote, paper=title,
                 url=f"{request.url.path}?{request.url.query}")


@router.post("/digest/feedback")
def feedback(request: Request) -> HTMLResponse:
    """Record 👍/👎 on a paper from a digest, without signing in (the signed URL says who and what)."""
    reader_id, paper_id, vote = _feedback_args(request)
    title = _paper_title(request, paper_id) if reader_id is not None else None
    if reader_id is None or title is None:
        return _bad_link(request)
    _context(request).subscriptions.record_feedback(reader_id, paper_id, vote, datetime.now(UTC).timestamp())
    return _page(request, "subscribe_link.html", error=None, done=True, action=vote, paper=title)


@router.get("/digest/click")
def click(request: Request) -> Response:
    """Record a digest click and go to the paper's own page (the target is built from the id: no open redirect)."""
    query = request.query_params
    paper_id, period = query.get("p", ""), query.get("d", "")
    reader_id = _signed(request, "click", paper_id, period)
    stored = _context(request).store.get(paper_id) if reader_id is not None else None
    if reader_id is None or stored is None:
        return _bad_link(request)
    _context(request).subscriptions.record_click(reader_id, stored.paper.id, period, datetime.now(UTC).timestamp())
    return RedirectResponse(paper_path(stored.paper.id), status_code=303,
                            headers={"Cache-Control": PRIVATE, "Referrer-Policy": "no-referrer"})


# -- settings and preview -----------------------------------------------------------------------------------------


def _settings_page(request: Request, sub: Subscription, via_link: bool, status: int = 200,
                   **extra: Any) -> HTMLResponse:
    extra.setdefault("error", None)
    extra.setdefault("saved", False)
    query = request.query_params
    return _page(request, "digest_settings.html", status, sub=sub, sections=SECTIONS, via_link=via_link,
                 link_r=query.get("r", "") if via_link else "", link_s=query.get("s", "") if via_link else "",
                 hours=range(24), **extra)


def _no_subscription(request: Request, reader_id: int | None) -> HTMLResponse:
    if reader_id is None and "s" in request.query_params:
        return _bad_link(request)
    return _page(request, "subscribe.html", 404 if reader_id is not None else 401, email="", frequency="daily",
                 error="No digest subscription here yet: subscribe below." if reader_id is not None else
                 "Open the settings link from one of your digests, or sign in.")


@router.get("/digest/settings")
def settings_page(request: Request) -> HTMLResponse:
    reader_id, via_link = _settings_reader(request)
    sub = _context(request).subscriptions.get(reader_id) if reader_id is not None else None
    if sub is None:
        return _no_subscription(request, reader_id)
    return _settings_page(request, sub, via_link)


@router.post("/digest/settings")
async def save_settings(request: Request) -> HTMLResponse:
    form = await form_data(request)
    reader_id, via_link = _settings_reader(request)
    if not via_link:
        await check_csrf(request)
    subs = _context(request).subscriptions
    sub = subs.get(reader_id) if reader_id is not None else None
    if sub is None:
        return _no_subscription(request, reader_id)
    if form.get("action") == "unsubscribe":
        subs.unsubscribe(sub.reader_id, datetime.now(UTC).timestamp())
        return _page(request, "subscribe_link.html", error=None, done=True, action="unsubscribe", paper=None)
    fields: dict[str, object] = {k: form[k] for k in ("frequency", "send_hour", "tz", "categories") if k in form}
    fields["sections"] = [s for s in SECTIONS if form.get(f"section_{s}")]
    fields["paused"] = form.get("paused", "")
    fields["skip_no_announcement_days"] = form.get("skip_no_announcement_days", "")
    try:
        changes = check_changes(fields)
    except SettingError as exc:
        return _settings_page(request, sub, via_link, 400, error=str(exc))
    updated = subs.update(sub.reader_id, **changes) or sub
    return _settings_page(request, updated, via_link, saved=True)


@router.get("/digest/preview")
def preview(request: Request) -> Response:
    """The reader's digest as it would be composed now (nothing is recorded or sent), as the mail's HTML."""
    reader_id, _ = _settings_reader(request)
    ctx = _context(request)
    sub = ctx.subscriptions.get(reader_id) if reader_id is not None else None
    if sub is None:
        return _no_subscription(request, reader_id)
    now = datetime.now(UTC)
    ctx.refresh_hidden()
    period = periods.around(periods.today(sub.tz, now))["week" if sub.frequency == "weekly" else "date"]
    digest = compose(ctx, sub, period, now)
    if digest is None:
        return _page(request, "digest_preview.html", sub=sub)
    html = render(digest, RenderSettings.from_context(ctx)).html
    return HTMLResponse(html, headers={"Cache-Control": PRIVATE, "Content-Security-Policy": PREVIEW_CSP,
                                       "Referrer-Policy": "no-referrer"})
