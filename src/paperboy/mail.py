"""The one mail module: SMTP settings, message building, and the outbox sender every mail goes through.

Mail is never sent from a request.  The code that causes a mail writes it to the outbox in the same transaction
as the event itself (a sign-in link and its mail land together or not at all); a sender delivers it later:

* one row at a time, claimed under a lease (``claim``), so several senders (workers, servers, a cron'd
  ``paperboy mail send-pending``) never send the same row;
* marked sent right after the server's 250 reply; a failure is retried with exponential backoff, a permanent
  refusal (5xx for the recipient or the content) is marked failed and kept for inspection;
* the Message-ID is derived from the row's idempotency key, so the one duplicate a crash can cause (killed
  between the server's 250 and our commit: at-least-once is the most SMTP allows) is recognisable downstream.
"""

from __future__ import annotations

import hashlib
import logging
import os
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from paperboy.config import ConfigError, Settings
from paperboy.store.accounts import Mail, Outbox, OutboxMessage

log = logging.getLogger("paperboy.mail")

TLS_MODES = ("none", "starttls", "ssl")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
#: A claimed row is someone else's for this long: far longer than one SMTP exchange (bounded by the timeout).
LEASE_S = 300.0
BACKOFF_BASE_S = 30.0
BACKOFF_CAP_S = 3600.0
MAX_ATTEMPTS = 12  # about 8 hours of retries at the capped backoff
MAX_ERROR = 500


class MailError(Exception):
    """A failed delivery attempt; ``permanent`` ones are not retried."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


#: Headers a DKIM signature covers (those present): what a forwarder must not change and a reader trusts.
DKIM_HEADERS = (b"From", b"To", b"Subject", b"Date", b"Message-ID", b"List-Unsubscribe", b"List-Unsubscribe-Post",
                b"List-Id")


@dataclass(frozen=True, slots=True)
class DkimKey:
    """A DKIM signing key: the PEM private key, the selector and the signing domain."""

    key: bytes
    selector: str
    domain: str

    @classmethod
    def from_settings(cls, settings: Settings) -> DkimKey | None:
        if not settings.dkim_key_file:
            return None
        try:
            import dkim  # noqa: F401 - only checks that dkimpy is installed
        except ImportError:
            raise ConfigError("dkim_key_file is set but dkimpy is not installed (pip install 'paperboy[dkim]')") \
                from None
        if not settings.dkim_selector:
            raise ConfigError("dkim_key_file is set: set dkim_selector too (the DNS name under _domainkey)")
        try:
            key = open(settings.dkim_key_file, "rb").read()  # noqa: SIM115, PTH123 - read once at start-up
        except OSError as exc:
            raise ConfigError(f"cannot read dkim_key_file {settings.dkim_key_file!r}: {exc.strerror}") from None
        domain = settings.dkim_domain or parseaddr(settings.mail_from)[1].rpartition("@")[2]
        return cls(key=key, selector=settings.dkim_selector, domain=domain)

    def sign(self, message: EmailMessage) -> EmailMessage:
        """Add a ``DKIM-Signature`` (relaxed/relaxed) over the message as it goes on the wire (CRLF lines)."""
        import dkim

        wire = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
        present = [h for h in DKIM_HEADERS if h.decode() in message]
        signature = dkim.sign(wire, self.selector.encode(), self.domain.encode(), self.key,
                              canonicalize=(b"relaxed", b"relaxed"), include_headers=present)
        name, _, value = signature.decode().partition(":")
        message[name] = " ".join(value.split())
        return message


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    user: str
    password: str
    tls: str
    mail_from: str
    timeout: float
    dkim: DkimKey | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        """The SMTP settings, checked; :class:`ConfigError` says what is missing or wrong."""
        if not settings.smtp_host:
            raise ConfigError("smtp_host is not set: mail cannot be sent (set it in config.toml or PAPERBOY_SMTP_HOST)")
        tls = settings.smtp_tls.strip().lower()
        if tls not in TLS_MODES:
            raise ConfigError(f"smtp_tls must be one of {', '.join(TLS_MODES)}, not {settings.smtp_tls!r}")
        if not 0 <= settings.smtp_port <= 65535:
            raise ConfigError(f"smtp_port {settings.smtp_port} is not a port")
        if "@" not in parseaddr(settings.mail_from)[1]:
            raise ConfigError(f"mail_from {settings.mail_from!r} is not an address")
        if settings.smtp_user and tls == "none" and settings.smtp_host not in ("localhost", "127.0.0.1", "::1"):
            raise ConfigError("refusing to send an SMTP password without TLS: set smtp_tls to starttls or ssl")
        return cls(host=settings.smtp_host, port=settings.smtp_port or DEFAULT_PORTS[tls], user=settings.smtp_user,
                   password=settings.smtp_password, tls=tls, mail_from=settings.mail_from,
                   timeout=settings.smtp_timeout, dkim=DkimKey.from_settings(settings))


def message_id(key: str, mail_from: str) -> str:
    """A Message-ID that is a function of the idempotency key: every attempt at one mail carries the same one."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def build_message(mail: Mail, mail_from: str) -> EmailMessage:
    """The RFC 5322 message for ``mail``: plain text, plus an HTML alternative when it has one."""
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = mail.recipient
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id(mail.key, mail_from)
    msg["Auto-Submitted"] = "auto-generated"
    for name, value in mail.headers:  # e.g. the digest's List-Unsubscribe, List-Unsubscribe-Post and List-Id
        msg[name] = value
    msg.set_content(mail.text)
    if mail.html:
        msg.add_alternative(mail.html, subtype="html")
    return msg


def connect(cfg: SmtpConfig) -> smtplib.SMTP:
    """An open, authenticated SMTP connection, or :class:`MailError` (always temporary: servers come back)."""
    try:
        if cfg.tls == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
        try:
            if cfg.tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if cfg.user:
                smtp.login(cfg.user, cfg.password)
        except BaseException:
            smtp.close()
            raise
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"cannot connect to {cfg.host}:{cfg.port}: {_describe(exc)}") from exc
    return smtp


def deliver(smtp: smtplib.SMTP, message: EmailMessage) -> None:
    """Send one message on an open connection; :class:`MailError` says whether retrying can help."""
    try:
        smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise MailError(f"recipient refused: {_describe(exc)}", permanent=all(c >= 500 for c in codes)) from exc
    except smtplib.SMTPDataError as exc:
        raise MailError(f"message refused: {_describe(exc)}", permanent=exc.smtp_code >= 500) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"sending failed: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{addr}: {code} {msg.decode(errors='replace')}"
                         for addr, (code, msg) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {error}"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


def backoff(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failure: 30 s, 60 s, 2 min, ... capped at an hour."""
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))


@dataclass(slots=True)
class SendReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def send_pending(outbox: Outbox, cfg: SmtpConfig, *, clock: Callable[[], float] = time.time,
                 worker: str | None = None, limit: int | None = None) -> SendReport:
    """Deliver every due message once (up to ``limit``), reusing one connection while it works."""
    worker = worker or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    report = SendReport()
    smtp: smtplib.SMTP | None = None
    try:
        while limit is None or report.sent + report.retried + report.failed < limit:
            claimed = outbox.claim(worker, clock(), LEASE_S)
            if claimed is None:
                break
            try:
                if smtp is None:
                    smtp = connect(cfg)
                message = build_message(claimed.mail, cfg.mail_from)
                deliver(smtp, cfg.dkim.sign(message) if cfg.dkim else message)
            except MailError as exc:
                if not exc.permanent:  # the connection may be broken: open a fresh one next time
                    smtp = _close(smtp)
                _record_failure(outbox, claimed, exc, clock(), report)
                continue
            outbox.mark_sent(claimed.id, clock())
            report.sent += 1
    finally:
        _close(smtp)
    return report


def _record_failure(outbox: Outbox, claimed: OutboxMessage, exc: MailError, now: float, report: SendReport) -> None:
    error = str(exc)[:MAX_ERROR]
    attempts = claimed.attempts + 1
    if exc.permanent or attempts >= MAX_ATTEMPTS:
        outbox.mark_failed(claimed.id, error, now)
        report.failed += 1
        log.warning("mail %s to %s given up after %d attempt(s): %s", claimed.mail.key, claimed.mail.recipient,
                    attempts, error)
    else:
        outbox.mark_retry(claimed.id, error, now + backoff(attempts))
        report.retried += 1
        log.info("mail %s: attempt %d failed (%s); retrying in %.0f s", claimed.mail.key, attempts, error,
                 backoff(attempts))


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is None:
        return None
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
    return None


class BackgroundSender:
    """A daemon thread running :func:`send_pending` every ``interval`` seconds (``paperboy serve`` starts one).

    ``housekeeping`` (if given) runs about hourly in the same thread: expired sign-in links and sessions,
    old rate-limit windows.
    """

    def __init__(self, outbox: Outbox, cfg: SmtpConfig, interval: float = 2.0,
                 housekeeping: Callable[[], None] | None = None) -> None:
        self.outbox, self.cfg, self.interval, self.housekeeping = outbox, cfg, interval, housekeeping
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="paperboy-mail-sender", daemon=True)

    def start(self) -> BackgroundSender:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.cfg.timeout + 5)

    def _run(self) -> None:
        last_housekeeping = 0.0
        while not self._stop.is_set():
            try:
                report = send_pending(self.outbox, self.cfg)
                if report.sent or report.failed:
                    log.info("mail: %d sent, %d retrying, %d failed", report.sent, report.retried, report.failed)
                if self.housekeeping is not None and time.monotonic() - last_housekeeping > 3600:
                    self.housekeeping()
                    last_housekeeping = time.monotonic()
            except Exception:  # noqa: BLE001 - a busy or broken database must not end the sender for good
                log.exception("mail sender round failed")
            self._stop.wait(self.interval)
