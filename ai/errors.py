"""Errors of the AI client, one class per way a call can fail (what the job runner does with
each is ``scheduler._retry.decide``; DESIGN "AI calls").

AIError                   every error names ``endpoint`` (``POST https://.../chat/completions``,
 │                        or ``offline``), ``status_code`` (the HTTP status, None when there
 │                        was no answer) and ``feature_id`` (what the call was for)
 ├── AIRetryableError     the provider could not answer now: a timeout, a connection error,
 │    │                   5xx, 408, 409. Retry with backoff; ``retry_after`` (seconds) when the
 │    │                   provider said when
 │    └── AIRateLimited   429: the provider asks us to slow down. Not a failure: wait
 │                        ``retry_after`` (None when the answer had no ``Retry-After``)
 ├── AIResponseError      the model answered but the answer does not fit what was asked (not
 │                        JSON, missing fields, a value out of range): retried once
 └── AIRequestError       the provider refused the request (400, 401, 403, 404, 422, any other
                          4xx: a bad key, an unknown model, ...): a retry cannot fix it
"""

from __future__ import annotations


class AIError(Exception):
    """Base class of the AI client's errors; see the module doc for the attributes."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        endpoint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.endpoint = endpoint
        self.retry_after = retry_after
        self.feature_id: str | None = None

    @property
    def status_text(self) -> str:
        """``HTTP 401``, or what happened instead of an answer (``timeout``, ...)."""
        if self.status_code is not None:
            return f"HTTP {self.status_code}"
        return _NO_STATUS.get(type(self).__name__, "no answer")


class AIRetryableError(AIError):
    """Retry later (see the module doc)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = None,
        endpoint: str | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(
            message, status_code=status_code, endpoint=endpoint, retry_after=retry_after
        )
        self.kind = kind  # 'timeout' | 'connection error' | None (an HTTP status)

    @property
    def status_text(self) -> str:
        if self.status_code is None and self.kind:
            return self.kind
        return super().status_text


class AIRateLimited(AIRetryableError):
    """429: wait ``retry_after`` seconds (None: the provider did not say) and try again."""


class AIResponseError(AIError):
    """The answer could not be parsed or validated."""

    @property
    def status_text(self) -> str:
        return "unusable answer"


class AIRequestError(AIError):
    """The provider refused the request; ``status_code`` is its HTTP status."""


_NO_STATUS = {"AIRetryableError": "no answer", "AIRequestError": "refused"}
