"""The digest admin surfaces over real HTTP: bounces from a provider's webhook, the delivery page, admins only."""

from __future__ import annotations

import time

import pytest

from digest_world import subscribe
from mail_server import MailSink
from paperboy.accounts import AccountService, open_accounts
from paperboy.digest.compose import open_subscriptions
from paperboy.store.accounts import Mail
from readers_site import start_readers_site


@pytest.fixture
def site(tmp_path):
    with MailSink() as sink:
        yield from start_readers_site(tmp_path, sink)


def test_a_hard_bounce_stops_the_address_and_shows_on_the_admin_page(site):
    service = AccountService(open_accounts(site.store), site.settings)
    admin_reader = service.add_reader("admin@example.org", is_admin=True)
    admin = {"Authorization": f"Bearer {service.create_token(admin_reader)[1]}"}
    reader = {"Authorization": f"Bearer {service.create_token(service.add_reader('reader@example.org'))[1]}"}
    sub = subscribe(site.store, "gone@example.org", time.time())
    pending = Mail(key="later", recipient="gone@example.org", subject="s", text="t")
    open_accounts(site.store).outbox.enqueue(pending, time.time() + 3600)
    with site.client() as c:
        body = {"email": "Gone@Example.org", "kind": "hard", "detail": "550 5.1.1 user unknown"}
        assert c.post("/api/v1/admin/bounces", json=body).status_code == 401
        assert c.post("/api/v1/admin/bounces", json=body, headers=reader).status_code == 403
        assert c.post("/api/v1/admin/bounces", json={**body, "kind": "maybe"}, headers=admin).status_code == 422
        assert c.post("/api/v1/admin/bounces", json={**body, "email": "not an address"},
                      headers=admin).status_code == 422
        answer = c.post("/api/v1/admin/bounces", json=body, headers=admin)
        assert answer.status_code == 200 and answer.json()["email"] == "gone@example.org"
        assert "1 unsent mail given up" in answer.json()["result"]
        report = c.get("/api/v1/admin/digests", headers=admin).json()
        assert report["subscriptions"]["bounced"] == 1 and report["days"][0]["bounces"] == 1
        page = c.get("/admin/digests", headers=admin)
        assert page.status_code == 200 and "Digest delivery" in page.text
        assert page.headers["cache-control"].startswith("private")
        assert c.get("/admin/digests", headers=reader).status_code == 403
    assert open_subscriptions(site.store).get(sub.reader_id).bounced
    assert open_accounts(site.store).outbox.counts().failed == 1
