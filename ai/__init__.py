"""The AI client and its telemetry context."""

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
from ai.errors import AIError, AIResponseError, AIRetryableError

__all__ = [
    "AIError",
    "AIResponseError",
    "AIRetryableError",
    "JobContext",
    "ai_telemetry_source",
    "ai_telemetry_source_if_unset",
    "current_job",
    "current_source",
    "job_context",
    "normalize_source",
    "run_in_thread",
]
