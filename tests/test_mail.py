"""The outbox and its sender against a real SMTP server (aiosmtpd on loopback), including failures and a crash."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mail_server import MailSink, free_port, self_signed, sign_in_link
from paperboy.accounts import AccountService, open_accounts
from paperboy.config import ConfigError, Settings
from paperboy.mail import LEASE_S, MAX_ATTEMPTS, SmtpConfig, backoff, message_id, send_pending
from paperboy.store.accounts import Mail
from paperboy.store.sqlite import SQLiteStore

SRC = Path(__file__).resolve().parents[1] / "src"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _row(store: SQLiteStore, key: str) -> dict:
    cur = store.db.execute("SELECT attempts, sent_at, failed_at, last_error, next_attempt_at FROM outbox WHERE key=?",
                           (key,))
    return dict(zip(("attempts", "sent_at", "failed_at", "last_error", "next_attempt_at"), cur.fetchone(), strict=True))


def _mail(n: int) -> Mail:
    return Mail(key=f"test:{n}", recipient=f"reader{n}@example.org", subject=f"message {n}", text=f"body {n}\n")


def test_sign_in_mail_is_delivered_once_with_a_stable_message_id(store, tmp_path):
    with MailSink() as sink:
        settings = sink.settings(tmp_path, base_url="https://papers.example.org")
        seams = open_accounts(store)
        AccountService(seams, settings).request_sign_in("Reader@Example.org", "127.0.0.1")
        cfg = SmtpConfig.from_settings(settings)
        report = send_pending(seams.outbox, cfg)
        assert (report.sent, report.retried, report.failed) == (1, 0, 0)
        (message,) = sink.wait_for(1)
        assert send_pending(seams.outbox, cfg).sent == 0  # nothing left: sent exactly once
    assert message["To"] == "reader@example.org"
    assert message["From"] == "paperboy <noreply@paperboy.test>"
    assert message["Subject"] == "Your paperboy sign-in link"
    key = store.db.execute("SELECT key FROM outbox").fetchone()[0]
    assert message["Message-ID"] == message_id(key, cfg.mail_from)
    assert sign_in_link(message).startswith("https://papers.example.org/auth/verify?token=")
    assert seams.outbox.counts().sent == 1 and seams.outbox.counts().pending == 0


def test_the_link_and_its_mail_are_written_in_one_transaction(store, tmp_path):
    accounts = open_accounts(store).accounts
    accounts.add_sign_in_link("a@example.org", b"h" * 32, 2e9, _mail(1), 1.0)
    with pytest.raises(Exception, match="UNIQUE"):  # the same link again: the whole transaction rolls back
        accounts.add_sign_in_link("a@example.org", b"h" * 32, 2e9, _mail(2), 1.0)
    assert [r[0] for r in store.db.execute("SELECT key FROM outbox")] == ["test:1"]


def test_enqueueing_a_key_twice_sends_once(store, tmp_path):
    outbox = open_accounts(store).outbox
    assert outbox.enqueue(_mail(1), time.time()) is True
    assert outbox.enqueue(_mail(1), time.time()) is False
    with MailSink() as sink:
        assert send_pending(outbox, SmtpConfig.from_settings(sink.settings(tmp_path))).sent == 1
        assert len(sink.wait_for(1)) == 1


@pytest.mark.parametrize("behaviour", ["tempfail", "drop"])
def test_a_temporary_refusal_or_dropped_connection_keeps_the_mail_and_retries_with_backoff(store, tmp_path,
                                                                                         behaviour):
    clock = Clock()
    outbox = open_accounts(store).outbox
    outbox.enqueue(_mail(1), clock())
    with MailSink(behaviour) as sink:
        cfg = SmtpConfig.from_settings(sink.settings(tmp_path))
        report = send_pending(outbox, cfg, clock=clock)
        assert (report.sent, report.retried) == (0, 1)
        row = _row(store, "test:1")
        assert row["attempts"] == 1 and row["sent_at"] is None and row["failed_at"] is None and row["last_error"]
        assert row["next_attempt_at"] == pytest.approx(clock.now + backoff(1))
        assert send_pending(outbox, cfg, clock=clock).retried == 0  # not due yet: backoff respected
        sink.behaviour = "accept"
        clock.now += backoff(1)
        assert send_pending(outbox, cfg, clock=clock).sent == 1
        assert [m["Subject"] for m in sink.wait_for(1)] == ["message 1"]
    assert _row(store, "test:1")["sent_at"] is not None


def test_a_permanent_refusal_is_marked_failed_not_retried(store, tmp_path):
    outbox = open_accounts(store).outbox
    outbox.enqueue(_mail(1), time.time())
    with MailSink("reject") as sink:
        report = send_pending(outbox, SmtpConfig.from_settings(sink.settings(tmp_path)))
    assert (report.sent, report.retried, report.failed) == (0, 0, 1)
    row = _row(store, "test:1")
    assert row["failed_at"] is not None and "550" in row["last_error"]
    assert outbox.counts().failed == 1 and outbox.counts().pending == 0


def test_a_refused_connection_keeps_the_mail(store, tmp_path):
    outbox = open_accounts(store).outbox
    outbox.enqueue(_mail(1), time.time())
    settings = Settings(home=tmp_path, smtp_host="127.0.0.1", smtp_port=free_port(), smtp_tls="none")
    report = send_pending(outbox, SmtpConfig.from_settings(settings))
    assert report.retried == 1
    assert "cannot connect" in _row(store, "test:1")["last_error"]


def test_a_server_that_never_answers_times_out_and_keeps_the_mail(store, tmp_path):
    outbox = open_accounts(store).outbox
    outbox.enqueue(_mail(1), time.time())
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections (backlog), never greets
        settings = Settings(home=tmp_path, smtp_host="127.0.0.1", smtp_port=silent.getsockname()[1],
                            smtp_tls="none", smtp_timeout=0.5)
        started = time.monotonic()
        report = send_pending(outbox, SmtpConfig.from_settings(settings))
    assert report.retried == 1 and time.monotonic() - started < 5
    assert "timed out" in _row(store, "test:1")["last_error"]


def test_too_many_attempts_give_up(store, tmp_path):
    clock = Clock()
    outbox = open_accounts(store).outbox
    outbox.enqueue(_mail(1), clock())
    with MailSink("tempfail") as sink:
        cfg = SmtpConfig.from_settings(sink.settings(tmp_path))
        for _ in range(MAX_ATTEMPTS):
            send_pending(outbox, cfg, clock=clock)
            clock.now += backoff(MAX_ATTEMPTS)
    row = _row(store, "test:1")
    assert row["attempts"] == MAX_ATTEMPTS and row["failed_at"] is not None


def test_backoff_doubles_and_is_capped():
    waits = [backoff(n) for n in range(1, 12)]
    assert waits[:3] == [30, 60, 120]
    assert all(a <= b for a, b in zip(waits, waits[1:], strict=False)) and max(waits) == 3600


def test_two_senders_never_send_the_same_message(tmp_path):
    path = tmp_path / "paperboy.db"
    stores = [SQLiteStore(path), SQLiteStore(path)]  # two "servers" on one database
    outbox = open_accounts(stores[0]).outbox
    for n in range(40):
        outbox.enqueue(_mail(n), time.time())
    with MailSink("slow", delay=0.005) as sink:
        cfg = SmtpConfig.from_settings(sink.settings(tmp_path))
        reports = [None, None]

        def run(i: int) -> None:
            reports[i] = send_pending(open_accounts(stores[i]).outbox, cfg, worker=f"w{i}")

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        messages = sink.wait_for(40)
    ids = [m["Message-ID"] for m in messages]
    assert len(ids) == len(set(ids)) == 40
    assert reports[0].sent + reports[1].sent == 40 and reports[0].sent and reports[1].sent
    for s in stores:
        s.close()


def test_a_sender_killed_mid_batch_delivers_every_mail_once_after_restart(store, tmp_path):
    outbox = open_accounts(store).outbox
    total = 30
    for n in range(total):
        outbox.enqueue(_mail(n), time.time())
    with MailSink("slow", delay=0.05) as sink:
        env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
                   PAPERBOY_SMTP_HOST=sink.host, PAPERBOY_SMTP_PORT=str(sink.port), PAPERBOY_SMTP_TLS="none",
                   PAPERBOY_MAIL_FROM="paperboy <noreply@paperboy.test>")
        proc = subprocess.Popen([sys.executable, "-c", "from paperboy.cli import main; main()", "--home",
                                 str(tmp_path), "mail", "send-pending"], env=env)
        try:
            sink.wait_for(8, timeout=60)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        delivered_before = len(sink.messages)
        assert delivered_before < total, "the sender finished before it could be killed"
        # The message in flight is leased to the dead sender; once the lease expires a new sender takes it.
        cfg = SmtpConfig.from_settings(sink.settings(tmp_path))
        report = send_pending(outbox, cfg, clock=lambda: time.time() + LEASE_S + 1)
        messages = sink.wait_for(total)
    keys = {message_id(f"test:{n}", cfg.mail_from) for n in range(total)}
    ids = [m["Message-ID"] for m in messages]
    assert sorted(ids) == sorted(keys)  # every mail exactly once
    assert report.sent == total - delivered_before
    assert outbox.counts().sent == total


def test_smtp_settings_are_checked():
    base = {"home": Path("/tmp"), "smtp_host": "mail.example.org"}
    assert SmtpConfig.from_settings(Settings(**base)).port == 587
    assert SmtpConfig.from_settings(Settings(**base, smtp_tls="ssl")).port == 465
    with pytest.raises(ConfigError, match="smtp_tls"):
        SmtpConfig.from_settings(Settings(**base, smtp_tls="tls"))
    with pytest.raises(ConfigError, match="smtp_host"):
        SmtpConfig.from_settings(Settings(home=Path("/tmp")))
    with pytest.raises(ConfigError, match="without TLS"):
        SmtpConfig.from_settings(Settings(**base, smtp_tls="none", smtp_user="u", smtp_password="p"))
    with pytest.raises(ConfigError, match="mail_from"):
        SmtpConfig.from_settings(Settings(**base, mail_from="nobody"))


def test_smtp_settings_come_from_the_environment(tmp_path, monkeypatch):
    from paperboy.config import load_settings

    monkeypatch.setenv("PAPERBOY_SMTP_HOST", "smtp.example.org")
    monkeypatch.setenv("PAPERBOY_SMTP_PORT", "2525")
    monkeypatch.setenv("PAPERBOY_SMTP_TLS", "ssl")
    monkeypatch.setenv("PAPERBOY_BASE_URL", "https://papers.example.org")
    settings = load_settings(tmp_path)
    cfg = SmtpConfig.from_settings(settings)
    assert (cfg.host, cfg.port, cfg.tls) == ("smtp.example.org", 2525, "ssl")
    assert settings.base_url == "https://papers.example.org"


def test_paperboy_serve_sends_mail_in_the_background(tmp_path):
    import httpx

    from readers_site import field

    with MailSink() as sink:
        port = free_port()
        env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
                   PAPERBOY_SMTP_HOST=sink.host, PAPERBOY_SMTP_PORT=str(sink.port), PAPERBOY_SMTP_TLS="none",
                   PAPERBOY_BASE_URL=f"http://127.0.0.1:{port}")
        proc = subprocess.Popen([sys.executable, "-c", "from paperboy.cli import main; main()", "--home",
                                 str(tmp_path), "serve", "--port", str(port), "--no-access-log"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as c:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        form = c.get("/auth/login")
                        break
                    except httpx.TransportError:
                        assert time.monotonic() < deadline and proc.poll() is None, "paperboy serve did not start"
                        time.sleep(0.2)
                answer = c.post("/auth/login", data={"email": "reader@example.org",
                                                     "csrf_token": field(form.text, "csrf_token")})
                assert answer.status_code == 303
            (message,) = sink.wait_for(1, timeout=30)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    assert sign_in_link(message).startswith(f"http://127.0.0.1:{port}/auth/verify?token=")


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # implicit TLS: see mail_server
@pytest.mark.parametrize("tls", ["starttls", "ssl"])
def test_mail_goes_over_tls_with_a_login(store, tmp_path, monkeypatch, tls):
    cert = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))  # trust the test certificate (default verify paths)
    outbox = open_accounts(store).outbox
    outbox.enqueue(_mail(1), time.time())
    with MailSink(tls=tls, cert=cert, login=("mailer", "s3cret")) as sink:
        settings = sink.settings(tmp_path, smtp_user="mailer", smtp_password="s3cret")
        assert send_pending(outbox, SmtpConfig.from_settings(settings)).sent == 1
        assert [m["Subject"] for m in sink.wait_for(1)] == ["message 1"] and sink.logins == ["mailer"]


def test_an_untrusted_certificate_or_a_wrong_password_keeps_the_mail(store, tmp_path, monkeypatch):
    cert = self_signed(tmp_path)
    outbox = open_accounts(store).outbox
    outbox.enqueue(_mail(1), time.time())
    with MailSink(tls="starttls", cert=cert, login=("mailer", "s3cret")) as sink:
        settings = sink.settings(tmp_path, smtp_user="mailer", smtp_password="wrong")
        assert send_pending(outbox, SmtpConfig.from_settings(settings)).retried == 1  # not trusted: no TLS
        assert "CERTIFICATE_VERIFY_FAILED" in _row(store, "test:1")["last_error"]
        monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))
        report = send_pending(outbox, SmtpConfig.from_settings(settings), clock=lambda: time.time() + 3600)
        assert report.retried == 1 and "535" in _row(store, "test:1")["last_error"]
        assert sink.messages == []
