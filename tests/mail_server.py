"""A real SMTP server for tests: aiosmtpd on a loopback port, keeping what it receives.

``behaviour`` switches how it answers, to test the sender against real protocol failures:
``"accept"``, ``"tempfail"`` (451 for every recipient), ``"reject"`` (550), ``"drop"`` (closes the connection
after the message data, before answering), ``"slow"`` (waits ``delay`` seconds before accepting each recipient).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from paperboy.config import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, N802
        behaviour = self.sink.behaviour
        if behaviour == "tempfail":
            return "451 4.3.0 try again later"
        if behaviour == "reject":
            return "550 5.1.1 no such user"
        if behaviour == "slow":
            await asyncio.sleep(self.sink.delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802
        if self.sink.behaviour == "drop":
            server.transport.close()
            return "421 closing"
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.sink.lock:
            self.sink.messages.append(message)
        return "250 Message accepted for delivery"


class MailSink:
    """``with MailSink() as sink: ...; sink.wait_for(1)[0]["To"]``.

    ``tls="starttls"`` or ``"ssl"`` serves TLS with ``cert`` (a :func:`self_signed` pair; the client must trust
    it, e.g. through ``SSL_CERT_FILE``); ``login=(user, password)`` requires SMTP AUTH with those.
    """

    def __init__(self, behaviour: str = "accept", delay: float = 0.0, *, tls: str = "none",
                 cert: tuple[Path, Path] | None = None, login: tuple[str, str] | None = None) -> None:
        self.behaviour = behaviour
        self.delay = delay
        self.tls = tls
        self.messages: list[EmailMessage] = []
        self.logins: list[str] = []
        self.lock = threading.Lock()
        self.host = "127.0.0.1"
        self.port = free_port()
        kwargs: dict = {}
        if tls != "none":
            assert cert is not None
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*cert)
            kwargs.update(ssl_context=context) if tls == "ssl" else kwargs.update(tls_context=context,
                                                                                    require_starttls=True)
        if login is not None:
            # With implicit TLS aiosmtpd does not notice the connection is encrypted and would hide AUTH.
            kwargs.update(authenticator=self._authenticator(login), auth_required=True,
                          auth_require_tls=tls != "ssl")
        self.controller = Controller(_Handler(self), hostname=self.host, port=self.port, **kwargs)

    def _authenticator(self, login: tuple[str, str]):  # noqa: ANN202 - aiosmtpd's authenticator signature
        def check(server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN202
            ok = (auth_data.login.decode(), auth_data.password.decode()) == login
            if ok:
                self.logins.append(auth_data.login.decode())
            return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

        return check

    def settings(self, home: object, **extra: object) -> Settings:
        """Settings sending to this server (on loopback, short timeout; "localhost" for a TLS certificate)."""
        values: dict = {"smtp_host": "localhost" if self.tls != "none" else self.host, "smtp_port": self.port,
                        "smtp_tls": self.tls, "smtp_timeout": 5.0, "mail_from": "paperboy <noreply@paperboy.test>"}
        return Settings(home=home, **{**values, **extra})

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.messages)} of {count} messages arrived")
            time.sleep(0.02)

    def __enter__(self) -> MailSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for ``localhost`` (made by the openssl command line) and its key."""
    if shutil.which("openssl") is None:
        import pytest

        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out",
                    str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


def sign_in_link(message: EmailMessage) -> str:
    """The sign-in link in a delivered sign-in mail."""
    body = message.get_body(("plain",)).get_content()
    match = re.search(r"https?://\S+/auth/verify\?token=\S+", body)
    assert match, body
    return match.group(0)
