"""The topics interface every backend implements (SQLite now, PostgreSQL later): saved searches of readers.

A topic is a search (query, filters, mode) a reader named.  The store keeps the topics, the papers each topic has
already shown its reader (``seen``: what makes the rest "new"; it belongs to the topic, not to its query, so an
edited query keeps its history) and each reader's private-feed token as a digest.  What a topic *matches* is the
search engine's business (:mod:`paperboy.library.topics`), never the store's.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass


class TopicLimit(Exception):
    """The reader already has the most topics allowed; nothing was written."""


@dataclass(frozen=True, slots=True)
class TopicFields:
    """What a reader chooses for a topic (dates as ISO days; checked by :mod:`paperboy.library.topics`)."""

    name: str
    query: str
    category: str | None = None
    since: str | None = None
    until: str | None = None
    author: str | None = None
    venue: str | None = None
    mode: str = "hybrid"


@dataclass(frozen=True, slots=True)
class Topic:
    """A stored topic: its reader, its fields and when it was made, edited and last looked at (Unix seconds)."""

    id: int
    reader: int
    fields: TopicFields
    created_at: float
    updated_at: float
    looked_at: float | None


class Topics(abc.ABC):
    """Readers' topics.  Every method that names a reader only ever touches that reader's rows."""

    @abc.abstractmethod
    def create(self, reader: int, fields: TopicFields, now: float, cap: int) -> Topic:
        """Add a topic; :class:`TopicLimit` (nothing written) when the reader already has ``cap`` of them."""

    @abc.abstractmethod
    def get(self, reader: int, topic_id: int) -> Topic | None:
        """The reader's topic ``topic_id`` (None for another reader's topic or an unknown id)."""

    @abc.abstractmethod
    def list(self, reader: int) -> list[Topic]:
        """The reader's topics, oldest first."""

    @abc.abstractmethod
    def count(self, reader: int) -> int:
        """How many topics the reader has."""

    @abc.abstractmethod
    def update(self, reader: int, topic_id: int, fields: TopicFields, now: float) -> Topic | None:
        """Replace a topic's fields (its seen papers stay); None when it is not the reader's."""

    @abc.abstractmethod
    def delete(self, reader: int, topic_id: int) -> bool:
        """Delete a topic and its seen papers; False when it is not the reader's."""

    @abc.abstractmethod
    def seen(self, topic_id: int, pids: Iterable[int]) -> set[int]:
        """Which of ``pids`` the topic has already shown."""

    @abc.abstractmethod
    def all_seen(self, topic_id: int) -> list[int]:
        """Every paper the topic has shown, in the order it first showed them."""

    @abc.abstractmethod
    def mark_seen(self, topic_id: int, pids: Iterable[int], now: float, *, looked: bool = True) -> None:
        """Record papers as shown (already shown ones keep their first time); ``looked`` also stamps the topic's
        ``looked_at``.  One transaction."""

    @abc.abstractmethod
    def set_feed_token(self, reader: int, token_hash: bytes, now: float) -> None:
        """Make ``token_hash`` the reader's only feed token (an older one stops working at once)."""

    @abc.abstractmethod
    def revoke_feed_token(self, reader: int) -> bool:
        """Remove the reader's feed token; False when there was none."""

    @abc.abstractmethod
    def feed_token_reader(self, token_hash: bytes) -> int | None:
        """The reader whose feed token has this digest, if any (never a hidden reader)."""

    @abc.abstractmethod
    def feed_token_created(self, reader: int) -> float | None:
        """When the reader's current feed token was made (None: no token)."""
