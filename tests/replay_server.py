"""A real local HTTP server that replays scripted responses, for testing the network sources.

Why a real server rather than a mocked transport: the retry logic has to meet real sockets - a
connection closed mid-body, a reset before any response, a read timeout - exactly as httpx raises them.

Usage::

    with ReplayServer() as server:
        server.script({"verb": "ListRecords"}, Reply(503, headers={"Retry-After": "10"}), Reply(200, body))
        ... harvest(server.url("/oai2")) ...
        assert server.requests[0].query == {"verb": "ListRecords", ...}

A script entry matches a request when all of its query items are in the request's query (``{}`` matches
everything); the first matching entry answers, its replies are used in order and the last one repeats.
Unmatched requests get a 404.  Also: helpers to read the recorded arXiv responses of the shared dataset.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

DATASET = Path(__file__).resolve().parents[2] / "shared/datasets/arxiv-responses"


@dataclass(slots=True)
class Reply:
    """One scripted answer.

    ``drop_after``: send the headers (with the full Content-Length) and only this many body bytes, then
    close the connection.  ``reset``: close the connection without answering at all.  ``pause``: wait
    this long before answering (to provoke client timeouts).
    """

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop_after: int | None = None
    reset: bool = False
    pause: float = 0.0


@dataclass(slots=True)
class Request:
    """What the server saw: path, query (last value of each name), raw query string, monotonic time."""

    path: str
    query: dict[str, str]
    raw_query: str
    time: float
    headers: dict[str, str]


@dataclass(slots=True)
class _Entry:
    match: dict[str, str]
    replies: list[Reply]
    used: int = 0


class ReplayServer:
    """Threaded HTTP/1.1 server on 127.0.0.1 with an ephemeral port."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._entries: list[_Entry] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                server._handle(self)

            def log_message(self, format: str, *args: object) -> None:  # silence the per-request log
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, name="replay-server", daemon=True
        )

    # -- lifecycle
    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str = "/") -> str:
        return self.base + path

    # -- scripting
    def script(self, match: dict[str, str] | None, *replies: Reply) -> None:
        """Answer requests whose query contains ``match`` with ``replies`` in order (the last repeats)."""
        if not replies:
            raise ValueError("script needs at least one reply")
        with self._lock:
            self._entries.append(_Entry(dict(match or {}), list(replies)))

    def _pick(self, query: dict[str, str]) -> Reply | None:
        with self._lock:
            for entry in self._entries:
                if all(query.get(k) == v for k, v in entry.match.items()):
                    reply = entry.replies[min(entry.used, len(entry.replies) - 1)]
                    entry.used += 1
                    return reply
        return None

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        with self._lock:
            self.requests.append(Request(parts.path, query, parts.query, time.monotonic(), dict(h.headers.items())))
        reply = self._pick(query) or Reply(404, b"no scripted reply", {"Content-Type": "text/plain"})
        if reply.pause:
            time.sleep(reply.pause)
        try:
            if reply.reset:
                h.close_connection = True
                h.connection.shutdown(socket.SHUT_RDWR)
                return
            h.send_response(reply.status)
            headers = {"Content-Type": "text/xml; charset=utf-8", **reply.headers}
            for name, value in headers.items():
                h.send_header(name, value)
            h.send_header("Content-Length", str(len(reply.body)))
            if reply.drop_after is not None:
                h.send_header("Connection", "close")
            h.end_headers()
            if reply.drop_after is not None:
                h.wfile.write(reply.body[: reply.drop_after])
                h.wfile.flush()
                h.close_connection = True
                h.connection.shutdown(socket.SHUT_RDWR)
                return
            h.wfile.write(reply.body)
            h.wfile.flush()
        except OSError:  # the client gave up first (timeout tests)
            h.close_connection = True


class FakeSleep:
    """Records requested sleeps instead of sleeping, so retry/politeness tests run instantly."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def free_port() -> int:
    """A port with nothing listening on it (for connection-refused tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the recorded dataset


def dataset() -> Path:
    """The shared arXiv response recordings; skips the calling test when they are not there."""
    if not DATASET.is_dir():
        pytest.skip(f"recorded arXiv responses not found at {DATASET}")
    return DATASET


def recorded(relpath: str) -> bytes:
    """Exact bytes of a recorded XML response file."""
    return (dataset() / relpath).read_bytes()


def recorded_api(relpath: str) -> tuple[int, bytes]:
    """(HTTP status, exact body bytes) of an arxiv.py JSON-wrapped recording (body stored as latin-1)."""
    data = json.loads((dataset() / relpath).read_text(encoding="utf-8"))
    return int(data["status_code"]), data["body"].encode("latin-1")


def recorded_nock(relpath: str) -> list[Reply]:
    """The responses of a paperhive nock recording, in order, with their real status and headers."""
    replies = []
    for item in json.loads((dataset() / relpath).read_text(encoding="utf-8")):
        raw = item.get("rawHeaders")
        pairs = list(zip(raw[::2], raw[1::2], strict=True)) if raw else list(item.get("headers", {}).items())
        # Keep only headers that still describe the stored body (it is stored decoded, unchunked).
        keep = {"retry-after", "content-type", "date", "server"}
        headers = {k: v for k, v in pairs if k.lower() in keep}
        replies.append(Reply(int(item["status"]), item["response"].encode("utf-8"), headers))
    return replies
