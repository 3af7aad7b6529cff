"""The AI client and its telemetry context.

- :mod:`ai.context`: the telemetry source and job context every AI row is attributed to;
- :mod:`ai.client`: :class:`AIClient` (one ``ai_interactions`` row per call),
  :func:`create_client` (provider, model and prices from the settings);
- :mod:`ai.prices`: the price table and ``LEADHOOK_AI_PRICES_JSON``;
- :mod:`ai.offline`: the deterministic local provider;
- :mod:`ai.postprocess`: :func:`post_process_inbound` and :func:`score_lead`, the job
  handlers' entry points.
"""

from ai.client import AIClient, AIResult, Completion, Prompt, Usage, create_client
from ai.context import (
    JobContext,
    ai_telemetry_source,
    ai_telemetry_source_if_unset,
    current_job,
    current_source,
    job_context,
    normalize_source,
    run_in_thread,
)
from ai.errors import AIError, AIRequestError, AIResponseError, AIRetryableError
from ai.postprocess import post_process_inbound, score_lead
from ai.prices import PriceTable

__all__ = [
    "AIClient",
    "AIError",
    "AIRequestError",
    "AIResponseError",
    "AIResult",
    "AIRetryableError",
    "Completion",
    "JobContext",
    "PriceTable",
    "Prompt",
    "Usage",
    "ai_telemetry_source",
    "ai_telemetry_source_if_unset",
    "create_client",
    "current_job",
    "current_source",
    "job_context",
    "normalize_source",
    "post_process_inbound",
    "run_in_thread",
    "score_lead",
]
