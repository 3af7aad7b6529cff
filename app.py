"""The application factory: routes, the store, the delivery ledger, the scheduler, one
process; the HTTP server that runs it (:func:`server`, :func:`serve`: the same stack and
limits for ``leadhook serve`` and the tests); and :func:`replay_delivery`, which runs a
stored delivery through its route again (``leadhook deliveries replay``; the console reaches
it as ``app.state.replay_delivery``).

:func:`create_app` also sets up the process's logging (:func:`monitoring.configure_logging`:
``LEADHOOK_LOG_FORMAT``, ``LEADHOOK_LOG_LEVEL``; Litestar configures none of its own, and
uvicorn runs with ``log_config=None``) and the app's metrics (``app.state.metrics``, a
registry of its own: several apps in one process never share a counter)."""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.exceptions import HTTPException

import ai
import console
import db
import handlers
import postprocess
from config import Settings
from handlers import (
    ROUTES,
    WEBHOOK_ROUTES,
    Ledger,
    Replayed,
    TokenCache,
    error_response,
    http_server,
    openapi_document,
    openapi_routes,
    run_server,
)
from monitoring import Metrics, configure_logging, flush_at_termination
from scheduler import scheduler_lifespan

log = logging.getLogger("leadhook")
try:
    VERSION = importlib.metadata.version("leadhook")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a bare checkout
    VERSION = "0.0.0"


def store_lifespan_factory(settings: Settings):
    @asynccontextmanager
    async def store_lifespan(app: Litestar) -> AsyncIterator[None]:
        store = db.open_store(
            settings.db_path,
            busy_timeout_ms=settings.busy_timeout_ms,
            max_batch=settings.writer_max_batch,
            write_timeout=settings.write_timeout_seconds,
        )
        if store.applied_migrations:
            log.info("applied migrations: %s", ", ".join(store.applied_migrations))
        app.state.store = store
        try:
            yield
        finally:
            store.close()

    return store_lifespan


@asynccontextmanager
async def ledger_lifespan(app: Litestar) -> AsyncIterator[None]:
    """The delivery ledger on ``app.state.ledger``; rejected requests' rows still queued or
    kept are written before the store closes."""
    ledger = Ledger(app.state.store, app.state.settings)
    app.state.ledger = ledger
    try:
        yield
    finally:
        await ledger.flush()
        await ledger.close()


async def replay_delivery(
    store: db.Store,
    settings: Settings,
    delivery_id: int,
    *,
    now: datetime | None = None,
    wake: Callable[[], None] | None = None,
) -> Replayed:
    """Run the ledger row ``delivery_id``'s stored body through its route's current code for
    its client (dedupe applies; the replay is a ledger row of its own, ``replay_of`` the
    original). ``wake``: the runner to wake when a job was created."""
    return await handlers.replay_delivery(
        store, settings, delivery_id, now=now or db.utcnow(), wake=wake
    )


def ai_lifespan_factory(prices: ai.PriceTable):
    @asynccontextmanager
    async def ai_lifespan(app: Litestar) -> AsyncIterator[None]:
        """The AI client on ``app.state.ai``; its telemetry is flushed before the store closes."""
        state = app.state
        client = ai.create_client(
            state.settings,
            state.store,
            clock=state.clock,
            prices=prices,
            offline_answers=postprocess.OFFLINE_ANSWERS,
        )
        state.ai = client
        metrics = getattr(state, "metrics", None)
        if metrics is not None:
            client.observers.append(metrics.ai_call)
        log.info("AI provider %s, model %s", client.provider.name, client.model)
        if (unpriced := client.unpriced_warning()) is not None:
            log.warning(unpriced)
        try:
            yield
        finally:
            await client.flush()
            await client.close()

    return ai_lifespan


def create_app(
    settings: Settings | None = None, *, clock: Callable[[], datetime] = db.utcnow
) -> Litestar:
    """Build the app. Tests pass their own settings (a temp database) and clock."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    # An invalid LEADHOOK_AI_PRICES_JSON stops the start here, with what is wrong.
    ai_prices = ai.PriceTable.from_json(settings.ai_prices_json, base_url=settings.openai_base_url)
    webhooks = Router(
        path="/",
        route_handlers=WEBHOOK_ROUTES,
        request_max_body_size=settings.max_body_bytes,
    )
    openapi = openapi_document(
        WEBHOOK_ROUTES, version=VERSION, max_body_bytes=settings.max_body_bytes
    )
    state = State(
        {
            "settings": settings,
            "clock": clock,
            "token_cache": TokenCache(),
            "replay_delivery": replay_delivery,
            "webhook_routes": handlers.WEBHOOK_PATHS,
        }
    )
    # The ledger's count of requests it did not record (past its per-minute cap), when the
    # app has a ledger on app.state.ledger.
    if settings.metrics_enabled:
        state.metrics = metrics = Metrics(
            unrecorded=lambda: getattr(getattr(state, "ledger", None), "unrecorded", 0)
        )
        metrics.bind(routes=[path for route in WEBHOOK_ROUTES for path in route.paths])
    return Litestar(
        route_handlers=[webhooks, *ROUTES, *console.ROUTES, *openapi_routes(openapi)],
        template_config=console.TEMPLATE_CONFIG,
        lifespan=[
            store_lifespan_factory(settings),
            ledger_lifespan,
            ai_lifespan_factory(ai_prices),
            scheduler_lifespan,
        ],
        exception_handlers={HTTPException: error_response, Exception: error_response},
        state=state,
        openapi_config=None,  # leadhook's own document: handlers/openapi.py
        logging_config=None,  # configure_logging above: one format for every logger
        debug=False,
    )


# uvicorn configures no logging of its own: its lines go through the root logger's handler,
# in leadhook's format (monitoring.configure_logging).
UVICORN_LOGGING = {"log_config": None}


def server(asgi_app: Litestar, settings: Settings, *, host: str, port: int, **options):
    """The HTTP server (uvicorn with leadhook's connection limits) for ``asgi_app``, not yet
    started; ``options``: more uvicorn settings (tests pass ``log_level``)."""
    return http_server(asgi_app, settings, host, port, **{**UVICORN_LOGGING, **options})


def serve(asgi_app: Litestar, settings: Settings, *, host: str, port: int) -> None:
    """Serve ``asgi_app`` on ``host:port`` until SIGINT/SIGTERM (``leadhook serve``)."""
    flush_at_termination()  # the last lines (shutdown) are written before SIGTERM ends it
    run_server(asgi_app, settings, host, port, **UVICORN_LOGGING)
