"""``GET``/``POST /api/cron/background-jobs``: one bounded runner pass, for an external cron.

Authorised by ``Authorization: Bearer $LEADHOOK_CRON_SECRET`` or ``x-cron-secret:
$LEADHOOK_CRON_SECRET`` (constant-time comparison); with no secret configured the route is
disabled and always answers 401, naming the variable. Everything, the secret check included,
runs inside the telemetry source ``/api/cron/background-jobs``; each job still runs inside its own
``background_job:<TYPE>``.

Query parameters (optional): ``limit`` (jobs to claim, default 20, at most 500) and
``budget_seconds`` (no claim after that, default 25, at most 300; jobs already started are
waited for).
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Controller, Request, route
from litestar.exceptions import (
    ClientException,
    ServiceUnavailableException,
)

import db
from ai import ai_telemetry_source
from handlers._auth import require_secret
from handlers._errors import clip

log = logging.getLogger("leadhook.cron")

PATH = "/api/cron/background-jobs"
DEFAULT_LIMIT, MAX_LIMIT = 20, 500
DEFAULT_BUDGET_SECONDS, MAX_BUDGET_SECONDS = 25.0, 300.0


def _number(request: Request, name: str, default: float, low: float, high: float) -> float:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)  # an empty value is no number either: the document says number
    except ValueError:
        raise ClientException(f"{name} must be a number, got {clip(raw)}") from None
    if not low <= value <= high:
        raise ClientException(f"{name} must be between {low:g} and {high:g}")
    return value


class CronController(Controller):
    path = PATH

    @route(
        http_method=["GET", "POST"],
        status_code=200,
        summary="Run one bounded pass of the background-job runner",
    )
    async def background_jobs(self, request: Request) -> dict[str, Any]:
        async with ai_telemetry_source(PATH):
            state = request.app.state
            if not state.settings.cron_secret:
                log.warning("cron route called but LEADHOOK_CRON_SECRET is not set: disabled")
            require_secret(
                request, state.settings.cron_secret, "LEADHOOK_CRON_SECRET", header="x-cron-secret"
            )
            limit = int(_number(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT))
            budget = _number(
                request, "budget_seconds", DEFAULT_BUDGET_SECONDS, 0.1, MAX_BUDGET_SECONDS
            )
            try:
                result = await state.runner.run_pass(limit=limit, budget_seconds=budget)
            except db.DatabaseUnavailable as exc:
                log.warning("cron pass stopped: the database cannot take writes: %s", exc)
                raise ServiceUnavailableException("Database busy, retry later") from None
            log.info("cron pass: %s", result.as_json())
            return {"success": True, **result.as_json(), "timestamp": db.iso(state.clock())}
