"""``GET /metrics`` (Prometheus text format), and the meter of every webhook delivery.

The route is for admins: ``Authorization: Bearer $LEADHOOK_ADMIN_TOKEN`` (constant-time
comparison); with no token configured it is disabled and always answers 401, naming the
variable. It reads the job gauges through ``Store.job_gauges`` (an indexed read, off the event
loop) and renders every metric of ``app.state.metrics`` (:class:`monitoring.Metrics`) on a
worker thread. When the database cannot be read the counters are still served, without the
gauges, and a WARNING says why.

:class:`DeliveryMeter` wraps one request to a webhook route (``handlers/_webhook.py``): when
it ends, it counts it (``leadhook_deliveries_total{route,outcome}``,
``leadhook_delivery_duration_seconds{route}``) and writes the delivery's one INFO line: route,
client, outcome, status, message id, duration, and the error of a rejected one (clipped, as
in its answer). Never the token, the query string or the body.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import HTTPException, NotFoundException

import db
from db.vocab import DEDUPED, IGNORED, REJECTED, STORED
from handlers.telemetry import admin_token_guard
from monitoring import CONTENT_TYPE

log = logging.getLogger("leadhook.webhooks")
PATH = "/metrics"


@get(PATH, guards=[admin_token_guard], summary="Prometheus metrics")
async def metrics(request: Request) -> Response[bytes]:
    state = request.app.state
    if getattr(state, "metrics", None) is None:
        raise NotFoundException("Metrics are off (LEADHOOK_METRICS_ENABLED=0)")
    now = state.clock()
    try:
        gauges = await state.store.job_gauges(now=db.iso(now))
    except db.DatabaseError as exc:
        log.warning("metrics served without the job gauges: %s", exc)
        gauges = None
    body = await asyncio.to_thread(state.metrics.render, gauges, now)
    return Response(body, media_type=CONTENT_TYPE)


class DeliveryMeter:
    """One request to the webhook route ``route``, counted and logged once when it ends
    (``with DeliveryMeter(request, route) as meter``). The flow tells it the client
    (:meth:`caller`) and the answer (:meth:`answered`); an exception that leaves it is the
    answer's status (an :class:`HTTPException`'s, else 500). Cancelled requests are not
    counted (nothing was answered)."""

    __slots__ = ("answer", "client_id", "request", "route", "started")

    def __init__(self, request: Request, route: str) -> None:
        self.request = request
        self.route = route
        self.started = time.perf_counter()
        self.client_id: int | None = None
        self.answer: dict[str, Any] | None = None

    def __enter__(self) -> DeliveryMeter:
        return self

    def caller(self, caller: Any) -> Any:
        """Note the authenticated caller (a ``handlers._auth.Caller``) and return it."""
        self.client_id = caller.client.id
        return caller

    def answered(self, answer: dict[str, Any]) -> dict[str, Any]:
        """Note the 200 answer and return it."""
        self.answer = answer
        return answer

    def __exit__(self, kind: type | None, exc: BaseException | None, _: object) -> None:
        seconds = time.perf_counter() - self.started
        answer, error = self.answer or {}, None
        if exc is None:
            status = 200
            outcome = (
                IGNORED if answer.get("ignored") else DEDUPED if answer.get("deduped") else STORED
            )
        elif isinstance(exc, HTTPException):
            status, outcome, error = exc.status_code, REJECTED, exc.detail
        elif isinstance(exc, Exception):
            status, outcome, error = 500, REJECTED, "Internal server error"
        else:  # cancelled: no answer was given
            return
        metrics = getattr(self.request.app.state, "metrics", None)
        if metrics is not None:
            metrics.delivery(self.route, outcome, seconds)
        if not log.isEnabledFor(logging.INFO):
            return
        message_id = answer.get("messageId")
        duration_ms = round(seconds * 1000, 1)
        text = "%s %s %d client=%s message=%s %.1f ms"
        shown = (_dash(self.client_id), _dash(message_id), duration_ms)
        args: tuple = (self.route, outcome, status, *shown)
        if error is not None:
            text += ": %s"
            args += (error,)
        fields = {
            "route": self.route,
            "client_id": self.client_id,
            "outcome": outcome,
            "status": status,
            "message_id": message_id,
            "duration_ms": duration_ms,
            "error": error,
        }
        log.info(text, *args, extra=fields)


def _dash(value: object) -> object:
    return "-" if value is None else value
