"""The digest's admin surfaces: the delivery page (``/admin/digests`` and its JSON twin) and the bounce endpoint.

Bounces and complaints arrive from a mail provider's webhook or a script parsing DSN mails; they authenticate
as an admin (an admin's API token, ``Authorization: Bearer pb_…``), so no other shared secret is needed.  A
hard bounce or complaint stops all mail to the address at once (see :func:`paperboy.cli_digest.record_bounce`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from paperboy.accounts import InvalidEmail, normalise_email
from paperboy.web.auth import PRIVATE, check_csrf, csrf_for, finish_private, require_admin

router = APIRouter(include_in_schema=False)
DAYS = 30


class BounceIn(BaseModel):
    email: str = Field(max_length=320)
    kind: str = Field(pattern="^(hard|soft|complaint)$")
    detail: str = Field(default="", max_length=1000)


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts else None


def delivery_report(request: Request) -> dict:
    """What the admin page shows: per day (sent, failed, empty, bounces), subscription states, the cycle's steps."""
    from dataclasses import asdict

    from paperboy.digest.compose import open_subscriptions
    from paperboy.store.digests import open_digest_seams

    store = request.app.state.services.store
    seams = open_digest_seams(store)
    days = [asdict(d) for d in seams.digests.daily(time.time() - DAYS * 86400)]
    steps = [{"step": r.step, "last_run": _iso(r.started_at), "duration_s": r.duration_s, "ok": r.ok,
              "counts": r.counts, "error": r.error, "failures": r.failures} for r in seams.cycle.all()]
    return {"days": days, "subscriptions": asdict(open_subscriptions(store).stats()), "steps": steps}


@router.get("/admin/digests")  # personal, like /account: its twin is tested with an admin token
def admin_digests_page(request: Request) -> HTMLResponse:
    admin = require_admin(request)
    env = request.app.state.services.env
    html = env.get_template("admin/digests.html").render(reader=admin, csrf_token=csrf_for(request), window_days=DAYS,
                                                         **delivery_report(request))
    return finish_private(request, HTMLResponse(html))


@router.get("/api/v1/admin/digests", dependencies=[Depends(require_admin)])
def admin_digests_json(request: Request) -> JSONResponse:
    return JSONResponse(delivery_report(request), headers={"Cache-Control": PRIVATE})


@router.post("/api/v1/admin/bounces", dependencies=[Depends(require_admin), Depends(check_csrf)])
def record_bounce_endpoint(request: Request, body: BounceIn) -> JSONResponse:
    from paperboy.cli_digest import record_bounce

    try:
        address = normalise_email(body.email)
    except InvalidEmail as exc:
        raise HTTPException(422, str(exc), headers={"Cache-Control": PRIVATE}) from None
    said = record_bounce(request.app.state.services.store, address, body.kind, body.detail)
    return JSONResponse({"email": address, "kind": body.kind, "result": said}, headers={"Cache-Control": PRIVATE})
