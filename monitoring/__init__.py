"""What an operator watches: the Prometheus instruments and the one log format.

- :mod:`monitoring.metrics`: :class:`Metrics`, the registry and instruments of one app
  (``app.state.metrics``), counted by the webhook flow, the job runner and the AI client, and
  rendered for ``GET /metrics`` (``handlers/metrics.py``);
- :mod:`monitoring.logs`: :func:`configure_logging`, one format (``console`` or ``json``) for
  every line the process writes, with the telemetry context of each.

Both sides of the app may import it (handlers, console, scheduler, app, cli); it imports only
``db`` (vocabularies, time) and ``ai`` (the telemetry context). The AI client does not import
it: it takes observers (``AIClient.observers``).
"""

from monitoring.logs import FORMATS, configure_logging, flush_at_termination
from monitoring.metrics import CONTENT_TYPE, Metrics

__all__ = [
    "CONTENT_TYPE",
    "FORMATS",
    "Metrics",
    "configure_logging",
    "flush_at_termination",
]
