"""Transaction helpers shared by the SQLite backends of the reader-side seams (accounts, topics, follows, ...).

Their connections run in autocommit mode, so each state change that must be atomic opens ``BEGIN IMMEDIATE``
itself: SQLite then serialises writers across processes, which is what makes caps, claims and toggles race-free.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error (the connection is in autocommit mode)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def returning(db: sqlite3.Connection, sql: str, params: tuple) -> tuple | None:
    """The one row of a ``... RETURNING`` statement, read to the end so the statement (and its lock) is released."""
    rows = db.execute(sql, params).fetchall()
    return rows[0] if rows else None
