"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get

import db


class HealthController(Controller):
    path = ""
    include_in_schema = True

    @get("/healthz", summary="Liveness: the process answers")
    async def healthz(self) -> dict[str, Any]:
        return {"status": "ok"}

    @get("/readyz", summary="Readiness: database writable and scheduler running")
    async def readyz(self, request: Request) -> Response[dict[str, Any]]:
        state = request.app.state
        checks: dict[str, str] = {}
        try:
            await state.store.ready()
            checks["database"] = "ok"
        except db.DatabaseUnavailable as exc:
            checks["database"] = f"not writable: {exc}"
        scheduler = getattr(state, "scheduler", None)
        if not state.settings.scheduler_enabled:
            checks["scheduler"] = "disabled"
        elif scheduler is not None and scheduler.running:
            checks["scheduler"] = "ok"
        else:
            checks["scheduler"] = "not running"
        ready = all(v in ("ok", "disabled") for v in checks.values())
        return Response(
            {"status": "ok" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )
