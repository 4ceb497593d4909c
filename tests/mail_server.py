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
import socket
import threading
import time
from email.message import EmailMessage

from aiosmtpd.controller import Controller

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
    """``with MailSink() as sink: ...; sink.wait_for(1)[0]["To"]``."""

    def __init__(self, behaviour: str = "accept", delay: float = 0.0) -> None:
        self.behaviour = behaviour
        self.delay = delay
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self.host = "127.0.0.1"
        self.port = free_port()
        self.controller = Controller(_Handler(self), hostname=self.host, port=self.port)

    def settings(self, home: object, **extra: object) -> Settings:
        """Settings sending to this server (plain SMTP on loopback, short timeout)."""
        return Settings(home=home, smtp_host=self.host, smtp_port=self.port, smtp_tls="none", smtp_timeout=5.0,
                        mail_from="paperboy <noreply@paperboy.test>", **extra)

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


def sign_in_link(message: EmailMessage) -> str:
    """The sign-in link in a delivered sign-in mail."""
    body = message.get_body(("plain",)).get_content()
    match = re.search(r"https?://\S+/auth/verify\?token=\S+", body)
    assert match, body
    return match.group(0)
