"""Accounts without the web: addresses, sign-in links, sessions, tokens, rate limits, admins (real SQLite)."""

from __future__ import annotations

import re
import time

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from paperboy.accounts import (
    AccountService,
    InvalidEmail,
    NotAllowed,
    SignInFailed,
    csrf_token,
    normalise_email,
    open_accounts,
)
from paperboy.cli import main
from paperboy.config import Settings
from paperboy.papers import Paper
from paperboy.ratelimit import RateLimited
from paperboy.store.sqlite import SQLiteStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(store, tmp_path, clock) -> AccountService:
    return AccountService(open_accounts(store), Settings(home=tmp_path, base_url="https://p.example"), clock)


def link_secret(store: SQLiteStore, recipient: str) -> str:
    body = store.db.execute("SELECT body_text FROM outbox WHERE recipient=? ORDER BY id DESC", (recipient,)).fetchone()
    return re.search(r"/auth/verify\?token=(\S+)", body[0]).group(1)


# -- addresses ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("Reader@Example.ORG", "reader@example.org"),
    ("  first.last+tag@sub.example.co.uk ", "first.last+tag@sub.example.co.uk"),
    ("reader@bücher.example", "reader@xn--bcher-kva.example"),  # internationalised domain: IDNA form
    ("reader@例え.テスト", "reader@xn--r8jz45g.xn--zckzah"),
])
def test_addresses_are_normalised(text, expected):
    assert normalise_email(text) == expected


@pytest.mark.parametrize("text, message", [
    ("", "Enter an email address"),
    ("reader", "not an email address"),
    ("@example.org", "not an email address"),
    ("reader@", "not an email address"),
    ("reader@localhost", "domain"),
    ("reader@exa mple.org", "domain"),
    ("reader@-example.org", "domain"),
    ("reader@1.2.3.4", "domain"),
    ("re..ader@example.org", "before the @"),
    ('"quoted"@example.org', "before the @"),
    ("reader@example.org\r\nBcc: victim@example.org", "before the @"),
    ("reader@exam\nple.org", "domain"),
    ("rëader@example.org", "non-ASCII"),
    ("a" * 10_000 + "@example.org", "too long"),
    ("reader@" + "a" * 10_000 + ".org", "too long"),
    ("a" * 65 + "@example.org", "before the @"),
])
def test_bad_addresses_get_a_clear_refusal(text, message):
    with pytest.raises(InvalidEmail, match=message):
        normalise_email(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_an_address_or_a_clear_refusal(text):
    try:
        address = normalise_email(text)
    except InvalidEmail as exc:
        assert str(exc)
        return
    assert address.isascii() and len(address) <= 254 and address.count("@") == 1
    assert not any(c in address for c in "\r\n\t ")


# -- sign-in links --------------------------------------------------------------------------------------------------


def test_a_link_signs_its_address_in_once(service, store):
    service.request_sign_in("Alice@Example.org", "10.0.0.1")
    secret = link_secret(store, "alice@example.org")
    reader, session = service.sign_in(secret)
    assert reader.email == "alice@example.org"
    assert service.session_reader(session) == reader
    with pytest.raises(SignInFailed):  # reused
        service.sign_in(secret)


def test_known_and_unknown_addresses_get_the_same_treatment(service, store):
    service.add_reader("known@example.org")
    proofs = [service.request_sign_in(e, "10.0.0.1") for e in ("known@example.org", "unknown@example.org")]
    assert all(len(p) == 43 for p in proofs) and proofs[0] != proofs[1]
    rows = store.db.execute("SELECT recipient, subject FROM outbox ORDER BY id").fetchall()
    assert rows == [("known@example.org", "Your paperboy sign-in link"),
                    ("unknown@example.org", "Your paperboy sign-in link")]
    assert service.reader("unknown@example.org") is None  # no account until the link is used


def test_expired_tampered_and_forged_links_fail(service, store, clock):
    service.request_sign_in("alice@example.org", "10.0.0.1")
    secret = link_secret(store, "alice@example.org")
    tampered = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for bad in (tampered, "x" * 43, "", "a" * 5000, secret + "x"):
        with pytest.raises(SignInFailed):
            service.sign_in(bad)
    clock.now += 15 * 60 + 1
    with pytest.raises(SignInFailed):  # expired after 15 minutes
        service.sign_in(secret)


def test_secrets_are_stored_only_as_digests(service, store):
    service.request_sign_in("alice@example.org", "10.0.0.1")
    secret = link_secret(store, "alice@example.org")
    reader, session = service.sign_in(secret)
    _, token = service.create_token(reader, "script")
    dump = "\n".join(store.db.iterdump())
    assert session not in dump and token not in dump
    assert dump.count(secret) == 1  # only in the queued mail, until it is sent:
    outbox_id = store.db.execute("SELECT id FROM outbox").fetchone()[0]
    assert service.outbox.mark_sent(outbox_id, time.time()) is True
    assert secret not in "\n".join(store.db.iterdump())


# -- sessions and tokens --------------------------------------------------------------------------------------------


def _signed_in(service, store, email):
    service.request_sign_in(email, "10.0.0.9")
    return service.sign_in(link_secret(store, email))


def test_sign_out_and_sign_out_everywhere(service, store, clock):
    reader, first = _signed_in(service, store, "alice@example.org")
    _, second = _signed_in(service, store, "alice@example.org")
    _, other = _signed_in(service, store, "bob@example.org")
    service.sign_out(first)
    assert service.session_reader(first) is None and service.session_reader(second) == reader
    assert service.sign_out_everywhere(reader) == 1
    assert service.session_reader(second) is None
    assert service.session_reader(other) is not None  # another reader is untouched
    clock.now += 31 * 86400
    assert service.session_reader(other) is None  # sessions expire


def test_forged_session_cookies_are_nobody(service, store):
    _, session = _signed_in(service, store, "alice@example.org")
    for bad in ("", "x" * 43, session[:-2], session + "a", session.upper()):
        assert service.session_reader(bad) is None


def test_csrf_tokens_are_per_session_and_one_way(service, store):
    _, a = _signed_in(service, store, "alice@example.org")
    _, b = _signed_in(service, store, "bob@example.org")
    assert csrf_token(a) != csrf_token(b) and csrf_token(a) == csrf_token(a)
    assert a not in csrf_token(a)


def test_api_tokens_create_revoke_and_belong_to_their_reader(service, store):
    alice, _ = _signed_in(service, store, "alice@example.org")
    bob, _ = _signed_in(service, store, "bob@example.org")
    record, secret = service.create_token(alice, "  my\nscript ")
    assert secret.startswith("pb_") and record.name == "my script"
    assert service.token_reader(secret) == alice
    assert service.tokens(alice)[0].last_used_at is not None
    assert service.revoke_token(bob, record.id) is False  # not Bob's
    assert service.token_reader(secret) == alice
    assert service.revoke_token(alice, record.id) is True
    assert service.token_reader(secret) is None and service.tokens(alice) == []
    assert service.revoke_token(alice, record.id) is False
    for bad in ("", "pb_", secret[:-1], "pb_" + "A" * 43):
        assert service.token_reader(bad) is None


# -- rate limits ----------------------------------------------------------------------------------------------------


def test_sign_in_is_rate_limited_per_address_and_per_ip(service, clock):
    for _ in range(5):
        service.request_sign_in("alice@example.org", "10.0.0.1")
    with pytest.raises(RateLimited) as caught:
        service.request_sign_in("ALICE@example.org", "10.0.0.2")  # same address, another IP
    assert 0 < caught.value.retry_after <= 15 * 60
    for n in range(20 - 5):  # 5 above + 15 = 20 from 10.0.0.1
        service.request_sign_in(f"r{n}@example.org", "10.0.0.1")
    with pytest.raises(RateLimited):  # the 21st request from one IP, whatever the address
        service.request_sign_in("fresh@example.org", "10.0.0.1")
    clock.now += 15 * 60
    service.request_sign_in("alice@example.org", "10.0.0.1")  # a new window


def test_rate_limits_are_shared_between_servers(tmp_path, clock):
    path = tmp_path / "shared.db"
    a = AccountService(open_accounts(SQLiteStore(path)), Settings(home=tmp_path), clock)
    b = AccountService(open_accounts(SQLiteStore(path)), Settings(home=tmp_path), clock)
    for n in range(5):
        (a if n % 2 else b).request_sign_in("alice@example.org", f"10.0.1.{n}")
    with pytest.raises(RateLimited):
        a.request_sign_in("alice@example.org", "10.0.2.1")


# -- admins and hiding ----------------------------------------------------------------------------------------------


def test_admins_hide_papers_and_readers(service, store):
    store.write_batch([Paper(id="p1", source="test", title="A paper about hiding things")], [])
    pid = store.db.execute("SELECT pid FROM papers").fetchone()[0]
    admin = service.add_reader("admin@example.org", is_admin=True)
    alice, session = _signed_in(service, store, "alice@example.org")
    _, token = service.create_token(alice)
    with pytest.raises(NotAllowed):
        service.hide_paper(alice, pid)
    assert service.hide_paper(admin, pid) is True and service.hidden_papers() == {pid}
    assert service.hide_paper(admin, 999_999) is False
    assert service.hide_paper(admin, pid, hidden=False) is True and service.hidden_papers() == frozenset()
    assert service.hide_reader(admin, alice.id) is True
    assert service.session_reader(session) is None and service.token_reader(token) is None
    service.request_sign_in("alice@example.org", "10.0.0.1")
    with pytest.raises(SignInFailed):  # a hidden reader cannot sign in again
        service.sign_in(link_secret(store, "alice@example.org"))
    with pytest.raises(NotAllowed):
        service.hide_reader(admin, admin.id)


def test_add_reader_promotes_but_never_demotes(service):
    assert service.add_reader("a@example.org").is_admin is False
    assert service.add_reader("A@example.org", is_admin=True).is_admin is True
    assert service.add_reader("a@example.org").is_admin is True


# -- the command line -----------------------------------------------------------------------------------------------


def _cli(home, *args):
    return CliRunner().invoke(main, ["--home", str(home), *args], catch_exceptions=False)


def test_user_commands(tmp_path):
    assert _cli(tmp_path, "user", "add", "--admin", "Admin@Example.org").output.strip() == \
        "reader 1: admin@example.org (admin)"
    assert _cli(tmp_path, "user", "add", "reader@example.org").exit_code == 0
    result = _cli(tmp_path, "user", "token", "reader@example.org", "--name", "laptop")
    token = result.stdout.strip()
    assert result.exit_code == 0 and token.startswith("pb_") and "\n" not in token
    listed = orjson.loads(_cli(tmp_path, "user", "list", "--json").stdout)
    assert [(r["email"], r["is_admin"]) for r in listed] == [("admin@example.org", True), ("reader@example.org", False)]
    store = SQLiteStore(tmp_path / "paperboy.db")
    reader = AccountService(open_accounts(store), Settings(home=tmp_path), time.time).token_reader(token)
    assert reader is not None and reader.email == "reader@example.org"
    store.close()
    missing = _cli(tmp_path, "user", "token", "nobody@example.org")
    assert missing.exit_code == 1 and "user add" in missing.output
    bad = _cli(tmp_path, "user", "add", "not-an-address")
    assert bad.exit_code == 2 and "not an email address" in bad.output
