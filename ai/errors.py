"""Errors of the AI client.

AIError
 ├── AIRetryableError     rate limit (429), 5xx, timeout, connection: the job should retry;
 │                        ``retry_after`` (seconds) is set when the provider said when
 └── AIResponseError      the model answered but its output cannot be used (bad JSON,
                          missing fields): retrying the same prompt is unlikely to help
"""

from __future__ import annotations


class AIError(Exception):
    """Base class of the AI client's errors."""


class AIRetryableError(AIError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AIResponseError(AIError):
    """The output could not be parsed or validated."""
