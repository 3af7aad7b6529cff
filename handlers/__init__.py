"""HTTP route handlers: one controller per area. Only ``app.py`` imports this package."""

from handlers._common import TokenCache, error_response
from handlers.cron import CronController
from handlers.email import EmailWebhookController
from handlers.ghl import GhlSmsController
from handlers.health import HealthController
from handlers.instantly import InstantlyWebhookController
from handlers.linkedin import LinkedInWebhookController
from handlers.smartlead import SmartLeadWebhookController
from handlers.telemetry import TelemetryController

WEBHOOK_CONTROLLERS = [
    GhlSmsController,
    EmailWebhookController,
    LinkedInWebhookController,
    SmartLeadWebhookController,
    InstantlyWebhookController,
]

__all__ = [
    "WEBHOOK_CONTROLLERS",
    "CronController",
    "HealthController",
    "TelemetryController",
    "TokenCache",
    "error_response",
]
