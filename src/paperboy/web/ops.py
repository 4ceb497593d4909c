"""Operations endpoints and the in-process metrics they expose: ``/healthz``, ``/readyz``, ``/metrics``.

The metrics registry is a few dozen lines instead of a ``prometheus_client`` dependency: we need
counters, gauges and fixed-bucket histograms rendered in the Prometheus text format (version 0.0.4),
nothing more.  Each worker process keeps its own registry (label ``pid``), which is how Prometheus
expects multi-process servers without a shared-memory collector to be scraped.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from bisect import bisect_left
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from paperboy.web.models import ReadyOut

if TYPE_CHECKING:
    from paperboy.web.services import Services

#: Latency buckets (seconds) wide enough for a 0.2 ms cached page and a 2 s cold search.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape_label(v)}"' for k, v in pairs) + "}"


class Histogram:
    """A fixed-bucket histogram (cumulative buckets are computed at render time)."""

    __slots__ = ("counts", "sum", "count")

    def __init__(self, n_buckets: int) -> None:
        self.counts = [0] * (n_buckets + 1)  # last slot: +Inf
        self.sum = 0.0
        self.count = 0


class Metrics:
    """Thread-safe counters and histograms keyed by label tuples; label values come from a bounded set."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.time()
        self.requests: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        self.latency: dict[tuple[tuple[str, str], ...], Histogram] = {}
        self.search: dict[tuple[tuple[str, str], ...], Histogram] = {}
        self.cache = {"hit": 0, "miss": 0, "store": 0}
        self.in_flight = 0

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(("method", method), ("route", route), ("status", str(status)))] += 1
            self._observe(self.latency, (("route", route),), seconds)

    def observe_search(self, mode_used: str, surface: str, seconds: float) -> None:
        with self._lock:
            self._observe(self.search, (("mode", mode_used), ("surface", surface)), seconds)

    def count_cache(self, what: str) -> None:
        with self._lock:
            self.cache[what] += 1

    @staticmethod
    def _observe(table: dict, key: tuple, seconds: float) -> None:
        hist = table.get(key)
        if hist is None:
            hist = table[key] = Histogram(len(LATENCY_BUCKETS))
        hist.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        hist.sum += seconds
        hist.count += 1

    def render(self, gauges: dict[str, tuple[str, list[tuple[tuple[tuple[str, str], ...], float]]]]) -> str:
        """The Prometheus text exposition of everything, plus ``gauges`` (name -> (help, samples))."""
        pid = (("pid", str(os.getpid())),)
        lines: list[str] = []
        with self._lock:
            lines += ["# HELP paperboy_http_requests_total HTTP requests answered, by route template and status.",
                      "# TYPE paperboy_http_requests_total counter"]
            for key, n in sorted(self.requests.items()):
                lines.append(f"paperboy_http_requests_total{_labels(pid + key)} {n}")
            self._render_hist(lines, "paperboy_http_request_duration_seconds",
                              "Time from request start to the last response byte, by route template.",
                              self.latency, pid)
            self._render_hist(lines, "paperboy_search_duration_seconds",
                              "Query engine time per search (as the engine measured it), by mode used and surface.",
                              self.search, pid)
            lines += ["# HELP paperboy_response_cache_total Response cache lookups and stores.",
                      "# TYPE paperboy_response_cache_total counter"]
            for what, n in sorted(self.cache.items()):
                lines.append(f"paperboy_response_cache_total{_labels(pid + (('result', what),))} {n}")
            lines += ["# HELP paperboy_http_requests_in_flight Requests being answered now.",
                      "# TYPE paperboy_http_requests_in_flight gauge",
                      f"paperboy_http_requests_in_flight{_labels(pid)} {self.in_flight}"]
        lines += ["# HELP paperboy_process_start_time_seconds Start time of the process since the Unix epoch.",
                  "# TYPE paperboy_process_start_time_seconds gauge",
                  f"paperboy_process_start_time_seconds{_labels(pid)} {self.started:.3f}"]
        for name, (help_text, samples) in gauges.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            for labels, value in samples:
                lines.append(f"{name}{_labels(pid + labels)} {value:g}")
        return "\n".join(lines) + "\n"

    @staticmethod
    def _render_hist(lines: list[str], name: str, help_text: str, table: dict, pid: tuple) -> None:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
        for key, hist in sorted(table.items()):
            cumulative = 0
            for bound, n in zip((*LATENCY_BUCKETS, float("inf")), hist.counts, strict=True):
                cumulative += n
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                lines.append(f"{name}_bucket{_labels(pid + key + (('le', le),))} {cumulative}")
            lines.append(f"{name}_sum{_labels(pid + key)} {hist.sum:.6f}")
            lines.append(f"{name}_count{_labels(pid + key)} {hist.count}")


def dir_sizes(root: Path) -> list[tuple[str, int, int]]:
    """``(name, bytes, files)`` for each top-level entry of the index folder (one per index)."""
    if not root.is_dir():
        return []
    out = []
    for entry in sorted(root.iterdir()):
        if entry.is_file():
            out.append((entry.name, entry.stat().st_size, 1))
        elif entry.is_dir():
            files = [p for p in entry.rglob("*") if p.is_file()]
            out.append((entry.name, sum(p.stat().st_size for p in files), len(files)))
    return out


router = APIRouter(include_in_schema=True, tags=["operations"])


def _services(request: Request) -> Services:
    return request.app.state.services


@router.get("/healthz", summary="Liveness: the process is up and answering", response_class=PlainTextResponse)
def healthz() -> PlainTextResponse:
    """Cheap on purpose: a liveness probe must not fail because the database is busy."""
    return PlainTextResponse("ok\n", headers={"Cache-Control": "no-store"})


@router.get("/readyz", summary="Readiness: the store answers and the query engine is loaded", response_model=ReadyOut,
            response_class=JSONResponse,
            responses={503: {"model": ReadyOut, "description": "Not ready (the checks say why)."}})
def readyz(request: Request) -> JSONResponse:
    """Ready means every surface can answer: the store can be queried and the search engine was built."""
    services = _services(request)
    checks: dict[str, str] = {}
    ok = True
    try:
        services.store.max_seq()
        checks["store"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready, and we say why
        checks["store"] = f"error: {type(exc).__name__}"
        ok = False
    if services.engine is not None:
        checks["search"] = "ok"
    else:
        checks["search"] = f"unavailable: {services.engine_error or 'not loaded'}"
        ok = False
    return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503,
                        headers={"Cache-Control": "no-store"})


@router.get("/metrics", summary="Prometheus metrics (text format 0.0.4)", response_class=PlainTextResponse)
def metrics(request: Request) -> PlainTextResponse:
    """Requests, latency histograms, search timings, index sizes and paper counts for this worker."""
    services = _services(request)
    gauges: dict[str, tuple[str, list]] = {}
    sizes = dir_sizes(services.settings.index_dir)
    gauges["paperboy_index_bytes"] = ("Bytes on disk per index under the index folder.",
                                      [((("index", name),), size) for name, size, _ in sizes])
    gauges["paperboy_index_files"] = ("Files per index under the index folder.",
                                      [((("index", name),), n) for name, _, n in sizes])
    for name, value in services.index_stats().items():
        gauges.setdefault("paperboy_index_documents", ("Documents (papers) per index, as the engine reports.", []))
        gauges["paperboy_index_documents"][1].append(((("index", name),), float(value)))
    with contextlib.suppress(Exception):  # a metrics scrape must not fail because the store is busy
        gauges["paperboy_papers"] = ("Papers in the store.", [((), float(services.paper_count()))])
    gauges["paperboy_search_engine_loaded"] = ("1 when the query engine is loaded.",
                                               [((), 1.0 if services.engine is not None else 0.0)])
    body = services.metrics.render(gauges)
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4; charset=utf-8",
                             headers={"Cache-Control": "no-store"})
