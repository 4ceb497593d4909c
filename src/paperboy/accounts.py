"""Readers' accounts: passwordless sign-in by mailed link, sessions, API tokens, admins and hiding.

Every credential is a 256-bit random secret handed to its owner once (in a mail, a cookie or on the token
page); the store keeps only its SHA-256.  A secret that is forged, tampered with or guessed matches no row, so no
signing key has to be kept, rotated or leaked; expiry and single use are enforced by the store in the same
statement that looks the secret up.  The CSRF token of a session is derived from the session secret
(:func:`csrf_token`), so it needs no storage and is worthless for any other session.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import idna

from paperboy.config import Settings
from paperboy.ratelimit import RateLimiter
from paperboy.store import Store
from paperboy.store.accounts import Accounts, ApiToken, Mail, Outbox, RateLimits, Reader

__all__ = ["AccountService", "ApiToken", "InvalidEmail", "NotAllowed", "Reader", "SignInFailed", "csrf_token",
           "normalise_email", "open_accounts", "same_browser_proof"]

MAX_EMAIL = 254  # RFC 5321's limit on a path
MAX_LOCAL = 64
MAX_TOKEN_NAME = 100
TOKEN_PREFIX = "pb_"  # lets secret scanners and readers recognise a paperboy token
VERIFY_PATH = "/auth/verify"
#: Sign-in requests allowed per window: per address (stops mail-bombing one person), per client IP (stops one
#: client spraying addresses).  Stored in the database, so shared by every app server.
SIGN_IN_PER_ADDRESS = (5, 15 * 60)
SIGN_IN_PER_IP = (20, 15 * 60)

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class InvalidEmail(ValueError):
    """An address we refuse, with a message fit to show the reader."""


class SignInFailed(Exception):
    """A sign-in link that is unknown, tampered with, expired or used (one message for all: no oracle)."""


class NotAllowed(Exception):
    """An action this reader may not take (not an admin)."""


@dataclass(frozen=True, slots=True)
class Seams:
    """The three store seams a site needs for readers."""

    accounts: Accounts
    outbox: Outbox
    rate_limits: RateLimits


def open_accounts(store: Store) -> Seams:
    """The accounts, outbox and rate-limit seams backed by ``store``'s database."""
    from paperboy.store.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        from paperboy.store.sqlite_accounts import SQLiteAccounts, SQLiteOutbox, SQLiteRateLimits

        return Seams(SQLiteAccounts(store), SQLiteOutbox(store), SQLiteRateLimits(store))
    raise TypeError(f"no accounts backend for {type(store).__name__}")


def normalise_email(text: object) -> str:
    """The canonical form of an address (lower case, domain in IDNA ASCII form), or :class:`InvalidEmail`.

    Internationalised *domains* are accepted and converted (``bücher.example`` → ``xn--bcher-kva.example``);
    non-ASCII *local parts* need SMTPUTF8 end to end, which we cannot promise, so they get a clear refusal.
    """
    if not isinstance(text, str):
        raise InvalidEmail("Enter an email address.")
    text = text.strip()
    if not text:
        raise InvalidEmail("Enter an email address.")
    if len(text) > MAX_EMAIL:
        raise InvalidEmail(f"That address is too long (at most {MAX_EMAIL} characters).")
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise InvalidEmail("That is not an email address (it needs one @ with a name before it and a domain after).")
    if not local.isascii():
        raise InvalidEmail("Addresses with non-ASCII characters before the @ are not supported; use another address.")
    if len(local) > MAX_LOCAL or not _LOCAL.fullmatch(local):
        raise InvalidEmail("The part before the @ is not valid (letters, digits and . _ + - are fine).")
    try:
        ascii_domain = idna.encode(domain.rstrip("."), uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError, ValueError):
        raise InvalidEmail("The domain after the @ is not valid.") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise InvalidEmail("The domain after the @ is not valid.")
    address = f"{local.lower()}@{ascii_domain}"
    if len(address) > MAX_EMAIL:
        raise InvalidEmail(f"That address is too long (at most {MAX_EMAIL} characters).")
    return address


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> bytes:
    """What the store keeps of a secret."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def csrf_token(session_secret: str) -> str:
    """The CSRF token of a session: a one-way function of its cookie, so it reveals nothing and fits only it."""
    raw = hashlib.sha256(b"paperboy csrf\x00" + session_secret.encode("utf-8", "surrogatepass")).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def same_browser_proof(link_secret: str) -> str:
    """What the browser that asked for a link keeps (a cookie) to show it is the one opening the link.

    A link opened elsewhere (another device, or a victim lured to an attacker's own link: "login CSRF") is
    not used up automatically; the page names the address and waits for a click.  One-way, so the cookie
    reveals nothing about the link.
    """
    raw = hashlib.sha256(b"paperboy same browser\x00" + link_secret.encode("utf-8", "surrogatepass")).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def site_url(settings: Settings) -> str:
    """The site's public base URL for links in mail: ``base_url``, else the configured host and port.

    Never the request's Host header: a forged Host would otherwise put a sign-in secret into a link to the
    attacker's server (the classic reset-link poisoning).
    """
    return (settings.base_url or f"http://{settings.host}:{settings.port}").rstrip("/")


class AccountService:
    """Sign-in, sessions, tokens and admin actions on top of the store seams (no web here)."""

    def __init__(self, seams: Seams, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.accounts = seams.accounts
        self.outbox = seams.outbox
        self.limiter = RateLimiter(seams.rate_limits, clock)
        self.settings = settings
        self.clock = clock

    # -- readers ---------------------------------------------------------------------------------------------

    def add_reader(self, email: str, *, is_admin: bool = False) -> Reader:
        return self.accounts.add_reader(normalise_email(email), self.clock(), is_admin=is_admin)

    def reader(self, email: str) -> Reader | None:
        return self.accounts.reader_by_email(normalise_email(email))

    # -- sign-in -------------------------------------------------------------------------------------------------

    def request_sign_in(self, email: object, ip: str) -> str:
        """Mail a sign-in link to ``email``: the same outcome whether or not the address has an account.

        Returns the :func:`same_browser_proof` of the link for the asking browser to keep.  Raises
        :class:`InvalidEmail` for an address that is not one (that says nothing about accounts) and
        :class:`paperboy.ratelimit.RateLimited` past the per-IP or per-address limits.
        """
        self.limiter.rate_limit(f"signin-ip:{ip}", *SIGN_IN_PER_IP)
        address = normalise_email(email)
        self.limiter.rate_limit(f"signin-address:{digest(address).hex()[:32]}", *SIGN_IN_PER_ADDRESS)
        now = self.clock()
        secret = new_secret()
        link_hash = digest(secret)
        minutes = self.settings.sign_in_link_minutes
        link = f"{site_url(self.settings)}{VERIFY_PATH}?token={secret}"
        text = (f"Hello,\n\nopen this link to sign in to paperboy as {address}:\n\n{link}\n\n"
                f"It works once, within {minutes} minutes. If you did not ask to sign in, ignore this mail: "
                "nothing happens without the link.\n")
        mail = Mail(key=f"sign-in:{link_hash.hex()[:32]}", recipient=address, subject="Your paperboy sign-in link",
                    text=text)
        self.accounts.add_sign_in_link(address, link_hash, now + minutes * 60, mail, now)
        return same_browser_proof(secret)

    def link_address(self, link_secret: str) -> str | None:
        """The address a live sign-in link is for (without using it), or None for a link that does not work."""
        if not _plausible(link_secret):
            return None
        return self.accounts.sign_in_link_email(digest(link_secret), self.clock())

    def sign_in(self, link_secret: str) -> tuple[Reader, str]:
        """Use a sign-in link: the reader and a new session secret (for the cookie), or :class:`SignInFailed`."""
        if not _plausible(link_secret):
            raise SignInFailed
        now = self.clock()
        session = new_secret()
        reader = self.accounts.sign_in(digest(link_secret), digest(session), now + self.session_seconds, now)
        if reader is None:
            raise SignInFailed
        return reader, session

    @property
    def session_seconds(self) -> int:
        return self.settings.session_days * 86400

    def session_reader(self, session_secret: str) -> Reader | None:
        return self.accounts.session_reader(digest(session_secret), self.clock()) if session_secret else None

    def token_reader(self, token_secret: str) -> Reader | None:
        return self.accounts.token_reader(digest(token_secret), self.clock()) if token_secret else None

    def sign_out(self, session_secret: str) -> None:
        self.accounts.end_session(digest(session_secret))

    def sign_out_everywhere(self, reader: Reader) -> int:
        return self.accounts.end_sessions(reader.id)

    # -- API tokens ----------------------------------------------------------------------------------------------

    def create_token(self, reader: Reader, name: str = "") -> tuple[ApiToken, str]:
        """A new API token: its record and its secret (shown once; only its digest is kept)."""
        name = " ".join(str(name).split())[:MAX_TOKEN_NAME] or "token"
        secret = new_secret(TOKEN_PREFIX)
        return self.accounts.add_token(reader.id, name, digest(secret), self.clock()), secret

    def tokens(self, reader: Reader) -> list[ApiToken]:
        return self.accounts.tokens(reader.id)

    def revoke_token(self, reader: Reader, token_id: int) -> bool:
        return self.accounts.revoke_token(reader.id, token_id, self.clock())

    # -- admin ---------------------------------------------------------------------------------------------------

    def hide_paper(self, admin: Reader, pid: int, hidden: bool = True) -> bool:
        _require_admin(admin)
        return self.accounts.set_paper_hidden(pid, hidden, admin.id, self.clock())

    def hide_reader(self, admin: Reader, reader_id: int, hidden: bool = True) -> bool:
        _require_admin(admin)
        if reader_id == admin.id:
            raise NotAllowed("An admin cannot hide themselves.")
        return self.accounts.set_reader_hidden(reader_id, hidden)

    def hidden_papers(self) -> frozenset[int]:
        return self.accounts.hidden_papers()

    def hidden_paper_ids(self) -> frozenset[str]:
        return self.accounts.hidden_paper_ids()

    def purge(self) -> None:
        """Housekeeping: drop expired links, sessions and old rate-limit windows."""
        self.accounts.purge(self.clock())
        self.limiter.purge()


def _plausible(secret: object) -> bool:
    """Cheap shape check before hashing: our secrets are 43 characters; anything far off is not one."""
    return isinstance(secret, str) and 20 <= len(secret) <= 100


def _require_admin(reader: Reader) -> None:
    if not reader.is_admin:
        raise NotAllowed("Only admins can do that.")
