"""Signed links in digest mail: one-click unsubscribe, settings, preview, 👍/👎 feedback and click-through.

The token in such a URL is the whole credential (a mail client's one-click POST carries no cookie), so each is
an HMAC-SHA256 (128 bits kept) of the link's purpose and every parameter, under the instance's key
(``Subscriptions.signing_key``: random, made at migration, kept in the database).  A forged or edited link fails
:meth:`Signer.check`; a link's purpose is part of what is signed, so an unsubscribe signature is no feedback one.
Click-through links name a paper id, never a URL: the redirect is built from the id (the paper's own page only),
so no link of ours can be turned into an open redirect.
"""

from __future__ import annotations

import base64
import hmac
import re
from urllib.parse import quote

PURPOSES = ("unsubscribe", "settings", "feedback", "click")
_PLAIN = re.compile(r"[A-Za-z0-9._-]*\Z")  # query values needing no escaping (ids, dates, votes, signatures)
VOTES = ("up", "down")


class Signer:
    """Signs and checks the parameters of digest links."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a digest signing key needs at least 16 bytes")
        self._key = key

    def sign(self, purpose: str, *parts: object) -> str:
        if purpose not in PURPOSES:
            raise ValueError(f"unknown link purpose {purpose!r}")
        message = "\x00".join([purpose, *map(str, parts)]).encode("utf-8", "surrogatepass")
        raw = hmac.digest(self._key, message, "sha256")[:16]
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def check(self, signature: object, purpose: str, *parts: object) -> bool:
        """True when ``signature`` is ours for exactly these parameters (constant-time comparison)."""
        if not isinstance(signature, str) or len(signature) != 22:
            return False
        return hmac.compare_digest(signature.encode(), self.sign(purpose, *parts).encode())


class Links:
    """The absolute URLs of one reader's digest (``base`` is the site's public address, never a request's)."""

    def __init__(self, base: str, signer: Signer, reader_id: int, period: str = "") -> None:
        self.base, self.signer, self.reader_id, self.period = base.rstrip("/"), signer, reader_id, period

    def _url(self, path: str, purpose: str, **params: object) -> str:
        signature = self.signer.sign(purpose, self.reader_id, *params.values())
        query = "".join(f"&{name}={_escape(str(value))}" for name, value in params.items())
        return f"{self.base}{path}?r={self.reader_id}{query}&s={signature}"

    def unsubscribe(self) -> str:
        return self._url("/digest/unsubscribe", "unsubscribe")

    def settings(self) -> str:
        return self._url("/digest/settings", "settings")

    def preview(self) -> str:
        return self._url("/digest/preview", "settings")

    def feedback(self, paper_id: str, vote: str) -> str:
        if vote not in VOTES:
            raise ValueError(f"a vote is 'up' or 'down', not {vote!r}")
        return self._url("/digest/feedback", "feedback", p=paper_id, v=vote)

    def click(self, paper_id: str) -> str:
        return self._url("/digest/click", "click", p=paper_id, d=self.period)

    def site(self, path: str) -> str:
        """An unsigned link to a page of the site (``path`` starts with /)."""
        return f"{self.base}{path}"


def _escape(value: str) -> str:
    return value if _PLAIN.match(value) else quote(value, safe="")
