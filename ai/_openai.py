"""The OpenAI-compatible provider: Chat Completions in JSON mode through the ``openai`` package.

The SDK's own retries are off (the job runner retries). Its exceptions stop here and leave as
:mod:`ai.errors` (:func:`sdk_errors`), each naming its endpoint
(``POST <base_url>/chat/completions``, without credentials or query):

- timeout, connection error → :class:`~ai.errors.AIRetryableError` (no status, ``kind``
  ``timeout`` / ``connection error``);
- HTTP 429 → :class:`~ai.errors.AIRateLimited` with ``retry_after`` from ``retry-after-ms`` /
  ``Retry-After`` (seconds or an HTTP date), None without either;
- HTTP 408, 409, 5xx → :class:`~ai.errors.AIRetryableError` with ``status_code`` (and
  ``retry_after`` when given);
- any other HTTP status (400, 401, 403, 404, 422, ...) → :class:`~ai.errors.AIRequestError`;
- a response the SDK cannot read → :class:`~ai.errors.AIResponseError`.

Usage comes from the response's ``usage``; a compatible server may leave it or its details
out, and the missing counts are None. The SDK takes over a second to import, so it is loaded
with the first provider and not by ``import ai`` (handlers import only the telemetry context).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ai._types import Completion, Prompt, Usage
from ai.errors import AIRateLimited, AIRequestError, AIResponseError, AIRetryableError

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_TIMEOUT_SECONDS = 30.0
RETRYABLE_STATUSES = frozenset({408, 409})
RATE_LIMITED = 429


def _sdk() -> ModuleType:
    import openai  # deferred: see the module doc

    return openai


def retry_after_seconds(
    headers: Mapping[str, str] | None, now: datetime | None = None
) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds, or an HTTP date counted
    from ``now``, by default the current UTC time); None when absent or unreadable."""
    if not headers:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            seconds = float(raw) / divisor
        except ValueError:
            continue
        if seconds >= 0 and seconds != float("inf"):
            return seconds
    raw = headers.get("retry-after")
    if raw:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is not None:
            return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    return None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_usage(raw: Any) -> Usage:
    """Chat Completions ``usage``; compatible servers may omit it or its details (None)."""
    if raw is None:
        return Usage()
    prompt_details = getattr(raw, "prompt_tokens_details", None)
    completion_details = getattr(raw, "completion_tokens_details", None)
    return Usage(
        input_tokens=_int_or_none(getattr(raw, "prompt_tokens", None)),
        cached_input_tokens=_int_or_none(getattr(prompt_details, "cached_tokens", None)),
        output_tokens=_int_or_none(getattr(raw, "completion_tokens", None)),
        reasoning_tokens=_int_or_none(getattr(completion_details, "reasoning_tokens", None)),
        total_tokens=_int_or_none(getattr(raw, "total_tokens", None)),
    )


def public_url(url: str) -> str:
    """``url`` without user, password or query (the endpoint as it is logged and stored)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _detail(exc: Any) -> str:
    """The provider's own error message (``{"error": {"message": ...}}``), else the SDK's."""
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping) and isinstance(body.get("message"), str) and body["message"]:
        return body["message"]
    return str(exc.message)


@contextmanager
def sdk_errors(endpoint: str | None = None) -> Iterator[None]:
    """Turn the ``openai`` exceptions raised inside into :mod:`ai.errors` (see the module doc),
    each naming ``endpoint``."""
    openai = _sdk()
    try:
        yield
    except openai.APITimeoutError as exc:
        raise AIRetryableError(f"timeout: {exc}", endpoint=endpoint, kind="timeout") from exc
    except openai.APIConnectionError as exc:
        raise AIRetryableError(
            f"connection error: {exc}", endpoint=endpoint, kind="connection error"
        ) from exc
    except openai.APIStatusError as exc:
        status = exc.status_code
        where = endpoint
        message = f"HTTP {status}: {_detail(exc)}"
        retry_after = retry_after_seconds(exc.response.headers)
        if status == RATE_LIMITED:
            raise AIRateLimited(
                message, retry_after=retry_after, status_code=status, endpoint=where
            ) from exc
        if status in RETRYABLE_STATUSES or status >= 500:
            raise AIRetryableError(
                message, retry_after=retry_after, status_code=status, endpoint=where
            ) from exc
        raise AIRequestError(message, status_code=status, endpoint=where) from exc
    except openai.APIResponseValidationError as exc:
        raise AIResponseError(f"invalid response: {exc}", endpoint=endpoint) from exc


class OpenAIProvider:
    """``openai.AsyncOpenAI`` Chat Completions in JSON mode, with the SDK's retries off."""

    name = "openai"
    free = False

    def __init__(
        self,
        *,
        model: str,
        api_key: str | None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.model = model
        self._client = _sdk().AsyncOpenAI(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout
        )
        self.base_url = public_url(str(self._client.base_url))
        self.endpoint = f"POST {self.base_url.rstrip('/')}/chat/completions"

    async def complete(self, prompt: Prompt) -> Completion:
        with sdk_errors(self.endpoint):
            response = await self._client.chat.completions.create(
                model=self.model,
                messages=[
                    {"role": "system", "content": prompt.system},
                    {"role": "user", "content": prompt.user},
                ],
                response_format={"type": "json_object"},
            )
        choices = response.choices or []
        content = choices[0].message.content if choices else None
        return Completion(
            content=content,
            response_model=response.model or None,
            usage=parse_usage(response.usage),
        )

    async def close(self) -> None:
        await self._client.close()
