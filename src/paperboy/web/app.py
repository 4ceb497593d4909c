"""The ASGI application: ``create_app(settings, store=None, engine=None)``, and ``serve()`` to run it.

Every response passes through :class:`~paperboy.web.edge.Edge` (headers, validators, the anonymous-only
response cache, metrics, access log).  The query engine is built once per process, at start-up, in a
background thread (building the embedding model the first time can take a while); until it is there,
non-search pages work, search answers 503 and ``/readyz`` says why.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import orjson
from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from paperboy.config import Settings, load_settings, settings_from_json, settings_to_json
from paperboy.store import Store, open_store
from paperboy.web.edge import Edge
from paperboy.web.errors import install_error_handlers
from paperboy.web.render import STATIC_DIR
from paperboy.web.services import Services
from paperboy.web.shapes import JSONResponseFast

log = logging.getLogger("paperboy.web")
#: Settings for worker processes, serialised by :func:`serve` and read by :func:`factory`.
SETTINGS_ENV = "PAPERBOY_SETTINGS_JSON"


# -- the application ----------------------------------------------------------------------------------------------


def build_engine(settings: Settings, store: Store) -> Any:
    """The query engine for this process (import deferred: the engine pulls in index libraries)."""
    from paperboy.search import SearchEngine

    return SearchEngine(settings, store)


def create_app(settings: Settings, store: Store | None = None, engine: Any | None = None, *,
               load_engine: Literal["background", "startup", "never"] = "background",
               response_cache: bool = True) -> FastAPI:
    """The paperboy web application for ``settings``.

    ``store``/``engine`` are used as given (tests inject them); otherwise the store is opened now and the
    engine built once, at start-up (``load_engine``: in a background thread, before serving, or never).
    """
    store = store if store is not None else open_store(settings.database_url)
    services = Services(settings, store, engine, None if engine is not None else "loading")

    def load() -> None:
        services.warm_up()
        try:
            engine = build_engine(settings, store)
        except Exception as exc:  # noqa: BLE001 - the site runs without search and says why
            services.engine_error = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("query engine unavailable: %s", services.engine_error)
            return
        indexes = getattr(engine, "indexes", None)
        try:
            if indexes is not None and indexes.has_vectors():
                _ = indexes.embedder  # load the query model now, not on the first search
        except Exception:  # noqa: BLE001 - search falls back to lexical and says why
            log.exception("loading the query embedder failed")
        services.engine = engine
        services.engine_error = None
        log.info("query engine loaded")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if services.engine is None:
            if load_engine == "startup":
                load()
            elif load_engine == "background":
                threading.Thread(target=load, name="paperboy-engine-load", daemon=True).start()
            else:
                services.engine_error = "not loaded"
        else:
            threading.Thread(target=services.warm_up, name="paperboy-warm-up", daemon=True).start()
        yield
        services.close()

    app = FastAPI(
        title="paperboy",
        version=_version(),
        description="Search, browse and follow research papers. Every HTML page has a JSON twin under /api/v1; "
                    "/api/papers/* and /api/daily_papers answer like the Hugging Face Papers API.",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        default_response_class=JSONResponseFast,
    )
    app.state.services = services
    install_error_handlers(app)

    from paperboy.web import accounts, api, digest_admin, feeds, hf_compat, ops, pages, subscribe, views, votes
    from paperboy.web import topics as topic_routes  # issue 12: saved searches

    votes.install(app)  # the "events" data version, and the vote / save / view routes
    from paperboy.web import collections, following, me

    collections.install(app)  # the reader's library (after votes: saves go to the default collection)
    me.install(app)

    following.install(app)  # follows: the Following page, /api/v1/follows, the follow buttons' form route

    app.include_router(accounts.router)
    app.include_router(accounts.api_router)
    app.include_router(digest_admin.router)
    app.include_router(subscribe.router)
    app.include_router(subscribe.api_router)
    topic_routes.install(app)  # before the twins: /topics/... and /api/v1/topics/... are the reader's own
    app.include_router(api.router)  # before the twins: /api/v1/paper/{ident:path}/similar must match first
    app.include_router(api.docs_router)
    app.include_router(views.router)
    app.include_router(hf_compat.router)
    app.include_router(feeds.router)
    app.include_router(ops.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(Edge, services=services, cache=response_cache)
    # Outside the cache: entries stay uncompressed and each client gets the encoding it asked for.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=5)
    if settings.proxies:  # outermost: the access log and every URL see the client and scheme the proxy saw
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.proxies)
    return app


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("paperboy")
    except Exception:  # noqa: BLE001 - running from a source tree without metadata
        return "0"


def factory() -> FastAPI:
    """Entry point for ``uvicorn --factory`` (one app per worker process).

    Settings come whole from ``$PAPERBOY_SETTINGS_JSON`` when :func:`serve` started the workers (so settings
    changed in code reach them), else from ``PAPERBOY_HOME`` and the environment.
    ``PAPERBOY_WEB_CACHE=0`` turns the in-process response cache off (for measuring the uncached path).
    """
    cache = os.environ.get("PAPERBOY_WEB_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")
    passed = os.environ.get(SETTINGS_ENV)
    settings = settings_from_json(passed) if passed else load_settings(os.environ.get("PAPERBOY_HOME") or None)
    return create_app(settings, response_cache=cache)


# -- running it ---------------------------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: access lines pass their JSON through, other records are wrapped."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.name == "paperboy.access" and message.startswith("{"):
            return message
        data = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
                "level": record.levelname.lower(), "logger": record.name, "msg": message}
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(data).decode()


def logging_config(level: str = "info", access_log: bool = True) -> dict:
    """A ``logging.config.dictConfig`` for the server: JSON lines on stderr; uvicorn's own access log off."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": handler},
        "loggers": {
            "paperboy": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "paperboy.access": {"handlers": ["stderr"], "level": "INFO" if access_log else "WARNING",
                                "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def serve(settings: Settings, *, host: str | None = None, port: int | None = None, workers: int = 1,
          log_level: str = "info", access_log: bool = True) -> None:
    """Run the site with uvicorn until SIGINT/SIGTERM (in-flight requests get 10 s to finish)."""
    import importlib.util

    import uvicorn

    os.environ[SETTINGS_ENV] = settings_to_json(settings)  # every worker process builds its app from these
    uvicorn.run(
        "paperboy.web.app:factory",
        factory=True,
        host=host or settings.host,
        port=settings.port if port is None else port,
        workers=max(1, workers),
        log_config=logging_config(log_level, access_log),
        access_log=False,
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        timeout_graceful_shutdown=10,
        server_header=False,
        proxy_headers=False,  # the app believes forwarded headers from settings.trusted_proxies only
    )
