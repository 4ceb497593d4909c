"""A database lease: one holder of a named role (the scheduler) among every process sharing the database.

Why a lease and not a lock file: ``paperboy serve --workers 4``, a second server on another machine and a
cron'd ``paperboy cycle run`` share only the database.  The holder renews the lease on every tick; if it dies,
the lease runs out after ``ttl_s`` and another process takes over.  Work done under the lease must still be
safe to repeat (digest rows are exactly-once on their own): the lease only keeps the work from being done
twice at once, never guarantees it.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable

from paperboy.store.digests import Leases


def worker_name() -> str:
    """Who holds a lease or a claim: host, process and thread, so a log line names the exact worker."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class Lease:
    """``if lease.hold(): ...`` takes or renews the lease named ``name``; ``release()`` gives it up at once."""

    def __init__(self, leases: Leases, name: str, ttl_s: float = 180.0, *, clock: Callable[[], float] = time.time,
                 holder: str | None = None) -> None:
        if ttl_s <= 0:
            raise ValueError("a lease needs a positive ttl_s")
        self.leases, self.name, self.ttl_s, self.clock = leases, name, ttl_s, clock
        self.holder = holder or worker_name()

    def hold(self) -> bool:
        """Take the lease, or renew it if we hold it; False while another holder's lease is live."""
        return self.leases.acquire(self.name, self.holder, self.clock(), self.ttl_s)

    def release(self) -> None:
        self.leases.release(self.name, self.holder)

    def current_holder(self) -> str | None:
        return self.leases.holder(self.name, self.clock())
