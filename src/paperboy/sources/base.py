"""What every source yields: papers, or rejects that say exactly where and why."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from paperboy.papers import Paper

RAW_LIMIT = 8_000  # characters of a rejected record kept: enough to see what is wrong, not a copy of the input


class SourceError(Exception):
    """The input as a whole is unusable (missing file, unknown format, unreadable archive).

    Per-record problems are never raised: they are yielded as :class:`Reject`.
    """


@dataclass(slots=True)
class Reject:
    """A record that could not become a paper.  Kept in the store's ``rejects`` table."""

    source: str  # e.g. the file path or the OAI endpoint
    location: str  # e.g. "line 17", "member ftp/x/0704.0001.abs", "record oai:arXiv.org:0704.0001"
    reason: str
    raw: str = ""

    def __post_init__(self) -> None:
        if len(self.raw) > RAW_LIMIT:
            self.raw = self.raw[:RAW_LIMIT] + f"\n[... {len(self.raw) - RAW_LIMIT:,} more characters cut]"


@dataclass(slots=True)
class Checkpoint:
    """A resume point (e.g. an OAI-PMH resumption token) yielded between records.

    The ingest pipeline commits it in the same transaction as every record yielded
    before it, so a killed run resumes exactly after the last committed page.
    """

    key: str  # e.g. "oai:https://oaipmh.arxiv.org/oai|arXiv|cs|2024-01-01|"
    value: dict  # JSON-serialisable; None-valued keys allowed


Record = Paper | Reject | Checkpoint
Records = Iterator[Record]
