"""HTTP routes. Only ``app.py`` imports this package.

``WEBHOOK_ROUTES``: the five provider webhooks (one flow, :mod:`handlers._webhook`; app.py
mounts them under the body-size limit). ``ROUTES``: health, the cron pass, the telemetry
report and ``/metrics`` (:mod:`handlers.metrics`; the app's ``Metrics`` on
``app.state.metrics``). ``error_response`` is the app's exception handler; ``TokenCache`` goes on
``app.state.token_cache``. ``http_server`` / ``run_server`` (:mod:`handlers._server`): the
HTTP server every leadhook process and test runs, with its connection limits.
``openapi_document`` / ``openapi_routes`` (:mod:`handlers.openapi`): the published API under
``/schema``. ``Ledger`` (:mod:`handlers._ledger`) goes on ``app.state.ledger``;
``replay_delivery`` (:mod:`handlers.replay`) runs a stored delivery through its route again.
"""

from handlers import email, ghl, instantly, linkedin, smartlead
from handlers._auth import TokenCache
from handlers._errors import error_response
from handlers._ledger import Ledger
from handlers._server import run as run_server
from handlers._server import server as http_server
from handlers.cron import CronController
from handlers.health import HealthController
from handlers.metrics import metrics
from handlers.openapi import document as openapi_document
from handlers.openapi import routes as openapi_routes
from handlers.replay import Replayed, flows, replay
from handlers.telemetry import TelemetryController

WEBHOOK_ROUTES = [ghl.route, email.route, linkedin.route, smartlead.route, instantly.route]
ROUTES = [HealthController, CronController, TelemetryController, metrics]
WEBHOOK_FLOWS = flows(WEBHOOK_ROUTES)
WEBHOOK_PATHS = tuple(WEBHOOK_FLOWS)


async def replay_delivery(store, settings, delivery_id: int, *, now, wake=None) -> Replayed:
    """Replay the ledger row ``delivery_id`` through its route's current code."""
    return await replay(store, settings, WEBHOOK_FLOWS, delivery_id, now=now, wake=wake)


__all__ = [
    "ROUTES",
    "WEBHOOK_PATHS",
    "WEBHOOK_ROUTES",
    "Ledger",
    "Replayed",
    "TokenCache",
    "error_response",
    "http_server",
    "openapi_document",
    "openapi_routes",
    "replay_delivery",
    "run_server",
]
