"""The AI client library and its telemetry context; no business rules live here.

- :mod:`ai.context`: the telemetry source and job context every AI row is attributed to;
- :mod:`ai.client`: :class:`AIClient` (one ``ai_interactions`` row per call),
  :func:`create_client` (provider, model and prices from the settings);
- :mod:`ai._types`: :class:`Prompt` and the other values the client and providers share;
- :mod:`ai._openai`: :class:`OpenAIProvider` (the ``openai`` package, loaded on first use);
- :mod:`ai.offline`: :class:`OfflineProvider`, answers handed in by feature id;
- :mod:`ai._recorder`: :class:`InteractionRecorder`, rows kept and written again until stored;
- :mod:`ai.prices`: prices from the genai-prices catalogue and ``LEADHOOK_AI_PRICES_JSON``;
- :mod:`ai.errors`: what a call raises, one class per way it fails.

What the product asks the model (prompts, validators, offline answers) is ``postprocess/``.
"""

from ai._openai import OpenAIProvider
from ai._types import AIResult, Prompt
from ai.client import AIClient, create_client
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
from ai.errors import (
    AIError,
    AIRateLimited,
    AIRequestError,
    AIResponseError,
    AIRetryableError,
)
from ai.offline import OfflineProvider
from ai.prices import Price, PriceTable

__all__ = [
    "AIClient",
    "AIError",
    "AIRateLimited",
    "AIRequestError",
    "AIResponseError",
    "AIResult",
    "AIRetryableError",
    "JobContext",
    "OfflineProvider",
    "OpenAIProvider",
    "Price",
    "PriceTable",
    "Prompt",
    "ai_telemetry_source",
    "ai_telemetry_source_if_unset",
    "create_client",
    "current_job",
    "current_source",
    "job_context",
    "normalize_source",
    "run_in_thread",
]
