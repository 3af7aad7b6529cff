"""HTTP route handlers: one controller per area. Only ``app.py`` imports this package."""

from handlers._common import error_response
from handlers.ghl import GhlSmsController
from handlers.health import HealthController

WEBHOOK_CONTROLLERS = [GhlSmsController]

__all__ = ["WEBHOOK_CONTROLLERS", "HealthController", "error_response"]
