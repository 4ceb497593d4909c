"""Subscribing to the digest with double opt-in, and checking a reader's digest settings.

Anyone may ask for the digest with just an address; nothing is sent to it but one confirmation mail until its
link is used, and the answer is the same whether the address is known or not (no oracle).  The link carries a
256-bit random secret of which the store keeps only the SHA-256 (as sign-in links); it works once, within
:data:`CONFIRM_HOURS`.  The request row and its mail are written in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from paperboy import periods
from paperboy.accounts import Seams, digest, new_secret, normalise_email, site_url
from paperboy.config import Settings
from paperboy.ratelimit import RateLimiter
from paperboy.store.accounts import Mail
from paperboy.store.subscriptions import FREQUENCIES, SECTIONS, Subscription, Subscriptions

CONFIRM_PATH = "/subscribe/confirm"
CONFIRM_HOURS = 48
#: Subscription requests allowed per window: per address (no mail-bombing one inbox), per client IP.
PER_ADDRESS = (3, 60 * 60)
PER_IP = (20, 15 * 60)
MAX_CATEGORIES = 20
_CATEGORY_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-")


class SettingError(ValueError):
    """A digest setting that cannot be used; the message is for the reader."""


def check_frequency(value: object) -> str:
    if value not in FREQUENCIES:
        raise SettingError("Choose a daily or a weekly digest.")
    return str(value)


def check_tz(value: object) -> str:
    """An IANA zone name ("Europe/Paris"); empty means UTC."""
    name = str(value or "UTC").strip()
    try:
        periods.zone(name)
    except periods.PeriodError:
        raise SettingError(f"Unknown time zone {name[:60]!r}: use a name like Europe/Paris.") from None
    return "UTC" if name.upper() == "UTC" else name


def check_changes(fields: Mapping[str, object]) -> dict[str, object]:
    """Settings from a form or JSON body (only the fields present) as ``Subscriptions.update`` takes them."""
    changes: dict[str, object] = {}
    if "frequency" in fields:
        changes["frequency"] = check_frequency(fields["frequency"])
    if "send_hour" in fields:
        try:
            hour = int(str(fields["send_hour"]))
        except ValueError:
            hour = -1
        if not 0 <= hour <= 23:
            raise SettingError("The hour is a whole number from 0 to 23.")
        changes["send_hour"] = hour
    if "tz" in fields:
        changes["tz"] = check_tz(fields["tz"])
    if "categories" in fields:
        raw = fields["categories"]
        words = raw.replace(",", " ").split() if isinstance(raw, str) else list(raw)  # type: ignore[arg-type]
        if len(words) > MAX_CATEGORIES or not all(isinstance(w, str) and w and len(w) <= 40
                                                  and set(w) <= _CATEGORY_CHARS for w in words):
            raise SettingError(f"Categories are up to {MAX_CATEGORIES} arXiv names like cs.LG or math, "
                               "separated by spaces.")
        changes["categories"] = tuple(dict.fromkeys(words))
    if "sections" in fields:
        raw = fields["sections"]
        chosen = raw.split() if isinstance(raw, str) else list(raw)  # type: ignore[arg-type]
        if not set(chosen) <= set(SECTIONS):
            raise SettingError(f"Sections are {', '.join(SECTIONS)}.")
        changes["sections"] = tuple(s for s in SECTIONS if s in chosen)
    for flag in ("paused", "skip_no_announcement_days"):
        if flag in fields:
            changes[flag] = fields[flag] in (True, "1", "on", "true", "yes")
    return changes


@dataclass(frozen=True, slots=True)
class Request:
    """A subscription request as checked: the normalised address and its choices."""

    email: str
    frequency: str
    tz: str


class SubscribeService:
    """Double opt-in over the subscriptions and accounts seams (no web here)."""

    def __init__(self, subscriptions: Subscriptions, seams: Seams, settings: Settings,
                 clock: Callable[[], float] = time.time) -> None:
        self.subscriptions, self.settings, self.clock = subscriptions, settings, clock
        self.limiter = RateLimiter(seams.rate_limits, clock)

    def check(self, email: object, frequency: object, tz: object = "UTC") -> Request:
        """The request's fields checked (:class:`~paperboy.accounts.InvalidEmail`, :class:`SettingError`)."""
        return Request(normalise_email(email), check_frequency(frequency or "daily"), check_tz(tz))

    def request(self, email: object, frequency: object, tz: object, ip: str) -> None:
        """Mail a confirmation link (the same whether or not the address is subscribed); RateLimited past limits."""
        self.limiter.rate_limit(f"subscribe-ip:{ip}", *PER_IP)
        asked = self.check(email, frequency, tz)
        self.limiter.rate_limit(f"subscribe-address:{digest(asked.email).hex()[:32]}", *PER_ADDRESS)
        now = self.clock()
        secret = new_secret()
        token_hash = digest(secret)
        link = f"{site_url(self.settings)}{CONFIRM_PATH}?token={secret}"
        text = (f"Hello,\n\nsomebody (we hope you) asked for the {asked.frequency} paperboy digest of trending papers "
                f"at {asked.email}. Confirm with this link:\n\n{link}\n\nIt works once, within {CONFIRM_HOURS} "
                "hours. If you did not ask for it, ignore this mail: nothing more will be sent.\n")
        mail = Mail(key=f"subscribe:{token_hash.hex()[:32]}", recipient=asked.email,
                    subject="Confirm your paperboy digest", text=text)
        self.subscriptions.request(asked.email, asked.frequency, asked.tz, token_hash,
                                   now + CONFIRM_HOURS * 3600, mail, now)

    def pending_email(self, secret: object) -> str | None:
        """The address a live confirmation link is for, without using it."""
        if not _plausible(secret):
            return None
        return self.subscriptions.request_email(digest(str(secret)), self.clock())

    def confirm(self, secret: object) -> Subscription | None:
        """Use a confirmation link: the subscription, or None for a link that is unknown, used or expired."""
        if not _plausible(secret):
            return None
        return self.subscriptions.confirm(digest(str(secret)), self.clock())


def _plausible(secret: object) -> bool:
    return isinstance(secret, str) and 20 <= len(secret) <= 100
