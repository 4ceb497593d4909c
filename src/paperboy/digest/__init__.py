"""The daily digest: subscriptions, composing each reader's mail, rendering it, and its signed links.

The seams the sending cycle (``digest.schedule``, ``digest.send``, ``paperboy.cycle``) builds on:

* ``ctx = open_context(store, settings, engine=None)`` — a :class:`DigestContext`: store, reader signals,
  :class:`~paperboy.store.subscriptions.Subscriptions` (``ctx.subscriptions.active(now)``, ``mark_bounced``),
  settings, the search engine (topic lists need it), hidden papers (``ctx.refresh_hidden()`` once per cycle) and
  a ``notice`` the cycle may set (a harvest behind);
* ``compose(ctx, sub, period, now) -> Digest | None`` — None is an empty digest (not sent);
  ``digest.to_json()`` / ``Digest.from_json`` freeze it; after freezing, the sender calls
  ``ctx.subscriptions.record_papers(sub.reader_id, digest.period, period.since.isoformat(), digest.paper_ids,
  now)`` so later digests never repeat them (a re-compose of the same period ignores its own record);
* ``render(digest, RenderSettings.from_context(ctx)) -> RenderedMail`` and ``rendered.mail(key)`` for the outbox
  (subject, text, html and the List-Unsubscribe / List-Unsubscribe-Post / List-Id headers).
"""

from paperboy.digest.compose import (
           Digest,
           DigestContext,
           DigestPaper,
           Section,
           compose,
           open_context,
           open_subscriptions,
)
from paperboy.digest.render import RenderedMail, RenderSettings, render
from paperboy.store.subscriptions import Subscription, Subscriptions

__all__ = ["Digest", "DigestContext", "DigestPaper", "RenderSettings", "RenderedMail", "Section", "Subscription",
           "Subscriptions", "compose", "open_context", "open_subscriptions", "render"]
