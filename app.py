"""The application factory: routes, the store, the scheduler, one process."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.logging import LoggingConfig
from litestar.openapi import OpenAPIConfig

import db
from config import Settings
from handlers import WEBHOOK_CONTROLLERS, HealthController, error_response
from scheduler import scheduler_lifespan

log = logging.getLogger("leadhook")


def store_lifespan_factory(settings: Settings):
    @asynccontextmanager
    async def store_lifespan(app: Litestar) -> AsyncIterator[None]:
        migrated = db.migrate(db.connect(settings.db_path))
        if migrated:
            log.info("applied migrations: %s", ", ".join(migrated))
        store = db.Store(settings.db_path)
        app.state.store = store
        try:
            yield
        finally:
            store.close()

    return store_lifespan


def create_app(
    settings: Settings | None = None, *, clock: Callable[[], datetime] = db.utcnow
) -> Litestar:
    """Build the app. Tests pass their own settings (a temp database) and clock."""
    settings = settings or Settings.from_env()
    webhooks = Router(
        path="/",
        route_handlers=WEBHOOK_CONTROLLERS,
        request_max_body_size=settings.max_body_bytes,
    )
    return Litestar(
        route_handlers=[webhooks, HealthController],
        lifespan=[store_lifespan_factory(settings), scheduler_lifespan],
        exception_handlers={HTTPException: error_response, Exception: error_response},
        state=State({"settings": settings, "clock": clock}),
        openapi_config=OpenAPIConfig(title="leadhook", version="0.1.0"),
        logging_config=LoggingConfig(
            root={"level": "INFO", "handlers": ["queue_listener"]},
            log_exceptions="never",
        ),
        debug=False,
    )
