"""``GET /api/telemetry/ai``: the AI spend report (``Store.ai_report``) as JSON, for admins.

Authorised by ``Authorization: Bearer $LEADHOOK_ADMIN_TOKEN`` (constant-time comparison);
with no token configured the route is disabled and always answers 401, naming the variable.

Query parameters: ``by`` = ``source`` (default), ``feature`` or ``model``; ``since`` = an
ISO-8601 time (``2026-01-18T10:00:00Z``, ``2026-01-18``; UTC when no zone is given) to count
only calls made at or after it. Answers ``{"success": true, "by", "since", "groups": [...],
"total": {...}}``; each group has ``group``, ``calls``, ``errors``, ``input_tokens``,
``cached_input_tokens``, ``output_tokens``, ``reasoning_tokens``, ``total_tokens``,
``cost_usd``, ``unpriced_calls``, ``latency_p50_ms`` and ``latency_p95_ms``.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.connection import ASGIConnection
from litestar.exceptions import ClientException
from litestar.handlers import BaseRouteHandler
from litestar.params import FromQuery

import db
from handlers._auth import require_secret
from handlers._errors import clip


async def admin_token_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    require_secret(connection, connection.app.state.settings.admin_token, "LEADHOOK_ADMIN_TOKEN")


def since_time(value: str) -> str:
    """``since`` as stored (``2026-01-18T00:00:00.000Z``); 400 unless an ISO-8601 time or date
    of the years 1000 to 2999 (the stored form sorts as text only with four-digit years)."""
    try:
        moment = db.parse_iso(value.strip())
        if 1000 <= moment.year <= 2999:
            return db.iso(moment)
    except (ValueError, OverflowError):
        pass
    raise ClientException(
        f"since must be an ISO-8601 time or date (e.g. 2026-01-18T10:00:00Z), got {clip(value)}"
    )


class TelemetryController(Controller):
    path = "/api/telemetry"
    guards = [admin_token_guard]  # noqa: RUF012 - Litestar's layered config

    @get("/ai", summary="AI calls, errors, tokens, cost and latency p50/p95 per group")
    async def ai_report(
        self,
        request: Request,
        by: FromQuery[str] = "source",
        since: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        if by not in db.vocab.REPORT_DIMENSIONS:
            choices = ", ".join(db.vocab.REPORT_DIMENSIONS)
            raise ClientException(f"by must be one of {choices}, got {clip(by)}")
        since_iso = None if since is None else since_time(since)
        report = await request.app.state.store.ai_report(by, since_iso)
        return {"success": True, **report}
