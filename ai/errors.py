"""Errors of the AI client.

AIError
 ├── AIRetryableError     rate limit (429), 408/409, 5xx, timeout, connection: the job should
 │                        retry; ``retry_after`` (seconds) is set when the provider said when
 ├── AIResponseError      the model answered but its output cannot be used (bad JSON,
 │                        missing fields): retrying the same prompt is unlikely to help
 └── AIRequestError       the provider refused the request (400, 401, 403, 404, 422: bad key,
                          unknown model, ...): retrying will not help until the configuration
                          is fixed
"""

from __future__ import annotations


class AIError(Exception):
    """Base class of the AI client's errors."""


class AIRetryableError(AIError):
    """Retry later: after ``retry_after`` seconds when set; ``status_code`` is the provider's
    HTTP status (None for a timeout or a connection error)."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status_code = status_code


class AIResponseError(AIError):
    """The output could not be parsed or validated."""


class AIRequestError(AIError):
    """The provider refused the request; ``status_code`` is its HTTP status."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
