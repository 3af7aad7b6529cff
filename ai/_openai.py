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
- a response that is not a JSON object → :class:`~ai.errors.AIResponseError`.

Every call is paced by the provider's :class:`~ai._ratelimit.RateLimiter` (one per provider,
and the process has one provider: ``app.state.ai``): it waits for its turn from the
``x-ratelimit-*`` headers and ``Retry-After`` of earlier answers, and its own answer's headers
(any status) pace the next calls. A call's tokens are estimated for the tokens budget as its
prompt's (four characters a token) plus the output tokens calls have been answering with.

Usage comes from the response's ``usage``; a compatible server may leave it or its details
out, and the missing counts are None. The SDK takes over a second to import, so it is loaded
with the first provider and not by ``import ai`` (handlers import only the telemetry context).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ai._ratelimit import RateLimiter
from ai._types import Completion, Prompt, Usage
from ai.errors import AIRateLimited, AIRequestError, AIResponseError, AIRetryableError
from ai.offline import estimate_tokens

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_TIMEOUT_SECONDS = 30.0
RETRYABLE_STATUSES = frozenset({408, 409})
RATE_LIMITED = 429


def _sdk() -> ModuleType:
    import openai  # deferred: see the module doc

    return openai


def _response_class() -> type:
    import httpx2  # the SDK's HTTP client: its raw response (the SDK's "undocumented endpoints")

    return httpx2.Response


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


def _field(raw: Any, name: str) -> Any:
    return raw.get(name) if isinstance(raw, Mapping) else None


def parse_usage(raw: Any) -> Usage:
    """Chat Completions ``usage`` (the JSON object); compatible servers may omit it or its
    details (None)."""
    prompt_details = _field(raw, "prompt_tokens_details")
    completion_details = _field(raw, "completion_tokens_details")
    return Usage(
        input_tokens=_int_or_none(_field(raw, "prompt_tokens")),
        cached_input_tokens=_int_or_none(_field(prompt_details, "cached_tokens")),
        output_tokens=_int_or_none(_field(raw, "completion_tokens")),
        reasoning_tokens=_int_or_none(_field(completion_details, "reasoning_tokens")),
        total_tokens=_int_or_none(_field(raw, "total_tokens")),
    )


def parse_completion(body: bytes) -> Completion:
    """A Chat Completions answer's first message, model and usage, read from its JSON body
    (:class:`~ai.errors.AIResponseError` when it is not a JSON object)."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise AIResponseError(f"invalid response: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise AIResponseError(f"invalid response: a JSON {type(data).__name__}, not an object")
    choices = data.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    content = _field(_field(first, "message"), "content")
    if content is not None and not isinstance(content, str):
        raise AIResponseError("invalid response: the message content is not text")
    model = data.get("model")
    return Completion(
        content=content,
        response_model=model if isinstance(model, str) and model else None,
        usage=parse_usage(data.get("usage")),
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


def _connection_failure(exc: BaseException) -> BaseException | None:
    """The aiohttp error under an SDK timeout that was no timeout: the SDK's aiohttp transport
    maps every connection failure (refused, reset, closed by the server) to a connect timeout."""
    import aiohttp

    cause = exc.__cause__ or exc.__context__
    for _ in range(8):  # a chain is short; a cycle must not hang the caller
        if cause is None:
            return None
        if isinstance(cause, aiohttp.ClientConnectionError):
            return None if isinstance(cause, TimeoutError) else cause
        cause = cause.__cause__ or cause.__context__
    return None


@contextmanager
def sdk_errors(endpoint: str | None = None) -> Iterator[None]:
    """Turn the ``openai`` exceptions raised inside into :mod:`ai.errors` (see the module doc),
    each naming ``endpoint``."""
    openai = _sdk()
    try:
        yield
    except openai.APITimeoutError as exc:
        if (failure := _connection_failure(exc)) is not None:
            raise AIRetryableError(
                f"connection error: {failure}", endpoint=endpoint, kind="connection error"
            ) from exc
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
    """``openai.AsyncOpenAI`` Chat Completions in JSON mode, with the SDK's retries off, paced
    by ``limiter`` (a new :class:`~ai._ratelimit.RateLimiter` unless one is shared)."""

    name = "openai"
    free = False

    def __init__(
        self,
        *,
        model: str,
        api_key: str | None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.model = model
        openai = _sdk()
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=timeout,
            # aiohttp under the SDK's client: half the CPU a call of the default pool, which
            # checks every kept connection on each request (bench/ai_client.py, docs/ai.md).
            http_client=openai.DefaultAioHttpClient(timeout=timeout),
        )
        self.base_url = public_url(str(self._client.base_url))
        self.endpoint = f"POST {self.base_url.rstrip('/')}/chat/completions"
        self._response = _response_class()
        self.limiter = limiter or RateLimiter()
        self._output_tokens = 0.0  # what answers have been using, for the tokens estimate

    def estimate_tokens(self, prompt: Prompt) -> float:
        """What a call of ``prompt`` is expected to take from the tokens budget."""
        asked = estimate_tokens(prompt.system) + estimate_tokens(prompt.user)
        return asked + self._output_tokens

    async def complete(
        self, prompt: Prompt, *, on_send: Callable[[], None] | None = None
    ) -> Completion:
        openai = _sdk()
        with sdk_errors(self.endpoint):
            slot = await self.limiter.acquire(self.estimate_tokens(prompt))
            if on_send is not None:
                on_send()
            try:
                # The SDK's raw POST: its request-type transform and response models cost
                # more CPU than the call's own HTTP (bench/ai_drain.py); the body is plain.
                raw = await self._client.post(
                    "/chat/completions", cast_to=self._response, body=self._body(prompt)
                )
            except openai.APIStatusError as exc:
                headers = exc.response.headers
                self.limiter.observe(slot, headers, exc.status_code, retry_after_seconds(headers))
                raise
            except BaseException:
                self.limiter.release(slot)
                raise
            self.limiter.observe(slot, raw.headers, raw.status_code)
            body = raw.content  # read by the SDK (not a stream)
        completion = parse_completion(body)
        if (output := completion.usage.output_tokens) is not None:
            self._output_tokens = 0.8 * (self._output_tokens or output) + 0.2 * output
        return completion

    def _body(self, prompt: Prompt) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user},
            ],
            "response_format": {"type": "json_object"},
        }

    async def close(self) -> None:
        await self._client.close()
