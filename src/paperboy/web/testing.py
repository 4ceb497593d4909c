"""A real HTTP server for tests and tools: uvicorn in a background thread on an ephemeral loopback port.

Tests talk to the site over real sockets (httpx, Hugging Face's client, a real browser) rather than
through an in-process transport, so headers, streaming, conditional requests and the middleware are
exercised exactly as in production.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn


class LiveServer:
    """``with LiveServer(app) as server: httpx.get(server.url + "/")``."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        self.host = host
        config = uvicorn.Config(app, host=host, port=0, log_level="warning", access_log=False, lifespan="on",
                                server_header=False, timeout_graceful_shutdown=5,
                                proxy_headers=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="paperboy-live-server", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the test server failed to start")
            if time.monotonic() > deadline:
                raise TimeoutError("the test server did not start in time")
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
