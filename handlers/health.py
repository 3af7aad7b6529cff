"""Liveness and readiness.

``GET /healthz`` answers while the process does. ``GET /readyz`` is ``200`` only when every
check is ``"ok"`` (or the scheduler is ``"disabled"``), else ``503`` with the failing checks
named: the store's :meth:`db.Store.readiness` (``database``: a real write commits now — not
locked by another process, not read-only, no I/O error —; ``disk``: free space and room to
grow; ``writer``: writes are not being refused one after another; ``lock``: this server
still holds the file's server lock) and ``scheduler`` (the job runner runs).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get


class HealthController(Controller):
    path = ""
    include_in_schema = True

    @get("/healthz", summary="Liveness: the process answers")
    async def healthz(self) -> dict[str, Any]:
        return {"status": "ok"}

    @get("/readyz", summary="Readiness: the database takes writes and the scheduler runs")
    async def readyz(self, request: Request) -> Response[dict[str, Any]]:
        state = request.app.state
        checks: dict[str, str] = dict(await state.store.readiness())
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
