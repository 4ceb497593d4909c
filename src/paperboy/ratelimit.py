"""Rate limits: fixed-window hit counters kept in the store, so every app server and worker shares them.

A fixed window (``limit`` hits per ``window_s`` seconds, windows aligned to multiples of ``window_s``) is one
upsert per hit and needs no clock agreement beyond the database's rows; its known weakness (up to twice the
limit across a window edge) is acceptable for abuse control, which is all these limits are for.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from paperboy.store.accounts import RateLimits

#: Windows older than this are deleted by :meth:`RateLimiter.purge` (longer than any window we use).
KEEP_WINDOWS_S = 24 * 3600


class RateLimited(Exception):  # noqa: N818 - reads as a state: "rate limited, retry after N s"
    """Too many hits: retry after ``retry_after`` seconds (the web layer answers 429 with ``Retry-After``)."""

    def __init__(self, key: str, retry_after: int) -> None:
        super().__init__(f"too many requests for {key.split(':', 1)[0]}: retry after {retry_after} s")
        self.key = key
        self.retry_after = retry_after


class RateLimiter:
    """``limiter.rate_limit("signin-ip:1.2.3.4", 20, 900)`` counts a hit and raises :class:`RateLimited` past 20."""

    def __init__(self, counters: RateLimits, clock: Callable[[], float] = time.time) -> None:
        self.counters = counters
        self.clock = clock

    def rate_limit(self, key: str, limit: int, window_s: float) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError(f"rate limit {key!r}: limit and window must be positive")
        now = self.clock()
        window_start = math.floor(now / window_s) * window_s
        if self.counters.hit(key, window_start) > limit:
            raise RateLimited(key, max(1, math.ceil(window_start + window_s - now)))

    def purge(self) -> None:
        self.counters.purge(self.clock() - KEEP_WINDOWS_S)
