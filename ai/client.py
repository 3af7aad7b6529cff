"""The AI client: one JSON completion per call, and one ``ai_interactions`` row per call.

:class:`AIClient` sends a :class:`Prompt` to its provider (OpenAI-compatible Chat
Completions through the ``openai`` package, or the deterministic :mod:`ai.offline`
provider), parses the answer as a JSON object, validates it, and records the call:

- ``source``: the ``source=`` argument when given, else :func:`ai.current_source`;
- the job (``background_job_id``, ``job_attempt``) from :func:`ai.current_job`, and its
  ``client_id`` / ``lead_id`` / ``message_id`` unless passed explicitly;
- tokens by type from the provider's ``usage`` (NULL when the server reports none),
  ``latency_ms`` of the provider call, ``status``, ``created_at`` (when the call started);
- ``cost_usd`` at call time (:mod:`ai.prices`): the price of the requested model, else of
  the response model, applied to the usage. NULL when neither model has a price or the
  usage is unknown (a success without usage, a timeout, a connection error), and 0.0 when
  the provider answered an HTTP error (nothing billed) or the provider is offline.

The row is handed to the store's group-commit writer without waiting for its commit (a few
microseconds on the call path); a failure to store it is logged and never fails the call.
:meth:`AIClient.flush` waits until every row submitted so far is committed.

Errors: a failed call records a ``status='error'`` row and raises
:class:`~ai.errors.AIRetryableError` (429 with ``retry_after`` from ``Retry-After``, 408,
409, 5xx, timeouts, connection errors), :class:`~ai.errors.AIResponseError` (output that is
not a JSON object or fails validation) or :class:`~ai.errors.AIRequestError` (other 4xx).
The client never retries: the job runner does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import openai

import db
from ai.context import current_job, current_source, normalize_source
from ai.errors import AIError, AIRequestError, AIResponseError, AIRetryableError
from ai.prices import PriceTable, cost_usd

log = logging.getLogger("leadhook.ai")

API_TYPE = "chat_completions"
DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_ERROR_MESSAGE = 1000


@dataclass(frozen=True)
class Prompt:
    """One request: what it is for, the two chat messages, and structured input.

    ``context`` carries the same input as data (message text, channel, first name,
    transcript, ...) for the offline provider, which does not read prose.
    """

    feature_id: str
    prompt_key: str
    system: str
    user: str
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None = None
    cached_input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    total_tokens: int | None = None


@dataclass(frozen=True)
class Completion:
    content: str | None
    response_model: str | None
    usage: Usage


@dataclass(frozen=True)
class AIResult:
    """A successful call: the validated value, the raw JSON object and the telemetry row."""

    value: Any
    data: dict[str, Any]
    interaction: dict[str, Any]


class Provider(Protocol):
    name: str  # 'openai' | 'offline', stored as ``provider``
    model: str  # the requested model, stored as ``model``
    free: bool  # known to cost nothing (cost_usd 0.0 rather than a price lookup)

    async def complete(self, prompt: Prompt) -> Completion: ...

    async def close(self) -> None: ...


# -- OpenAI-compatible Chat Completions ------------------------------------------------------


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
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
            return max(0.0, (when - db.utcnow()).total_seconds())
    return None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _usage(raw: Any) -> Usage:
    """Chat Completions ``usage``; compatible servers may omit it or its details (NULL)."""
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
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout
        )

    async def complete(self, prompt: Prompt) -> Completion:
        try:
            response = await self._client.chat.completions.create(
                model=self.model,
                messages=[
                    {"role": "system", "content": prompt.system},
                    {"role": "user", "content": prompt.user},
                ],
                response_format={"type": "json_object"},
            )
        except openai.APITimeoutError as exc:
            raise AIRetryableError(f"timeout: {exc}") from exc
        except openai.APIConnectionError as exc:
            raise AIRetryableError(f"connection error: {exc}") from exc
        except openai.APIStatusError as exc:
            status = exc.status_code
            message = f"HTTP {status}: {exc.message}"
            if status in (408, 409, 429) or status >= 500:
                retry_after = _retry_after(exc.response.headers)
                raise AIRetryableError(
                    message, retry_after=retry_after, status_code=status
                ) from exc
            raise AIRequestError(message, status_code=status) from exc
        except openai.APIResponseValidationError as exc:
            raise AIResponseError(f"invalid response: {exc}") from exc
        choices = response.choices or []
        content = choices[0].message.content if choices else None
        return Completion(
            content=content, response_model=response.model or None, usage=_usage(response.usage)
        )

    async def close(self) -> None:
        await self._client.close()


# -- the client ------------------------------------------------------------------------------


def parse_json_object(content: str | None) -> dict[str, Any]:
    """The answer as a JSON object (a ```json fence around it is tolerated)."""
    if content is None or not content.strip():
        raise AIResponseError("empty answer")
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`").strip()
        if text[:4].lower() == "json":
            text = text[4:]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AIResponseError(f"answer is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise AIResponseError(f"answer is a JSON {type(data).__name__}, not an object")
    return data


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= MAX_ERROR_MESSAGE else text[: MAX_ERROR_MESSAGE - 1] + "…"


class AIClient:
    """Calls a provider and records every call in ``ai_interactions`` (see the module doc)."""

    def __init__(
        self,
        store: db.Store,
        provider: Provider,
        *,
        prices: PriceTable | None = None,
        clock: Callable[[], datetime] = db.utcnow,
    ) -> None:
        self.store = store
        self.provider = provider
        self.prices = prices or PriceTable.from_json(None)
        self.clock = clock
        self.records_submitted = 0
        self.records_failed = 0

    @property
    def model(self) -> str:
        return self.provider.model

    def now(self) -> str:
        """The clock's time as stored (ISO-8601 UTC with milliseconds)."""
        return db.iso(self.clock())

    async def complete_json(
        self,
        prompt: Prompt,
        *,
        validate: Callable[[dict[str, Any]], Any] | None = None,
        source: str | None = None,
        client_id: int | None = None,
        lead_id: int | None = None,
        message_id: int | None = None,
    ) -> AIResult:
        """Send ``prompt``; return the validated value of the JSON object it answered.

        ``validate(data)`` returns the value to use and raises
        :class:`~ai.errors.AIResponseError` (or ``ValueError``/``KeyError``/``TypeError``)
        when the object is unusable; the call is then an ``error`` row.
        """
        created_at = self.now()
        started = time.perf_counter()
        completion: Completion | None = None
        try:
            completion = await self.provider.complete(prompt)
            latency_ms = round((time.perf_counter() - started) * 1000)
            data = parse_json_object(completion.content)
            try:
                value = validate(data) if validate is not None else data
            except (ValueError, KeyError, TypeError) as exc:
                raise AIResponseError(f"invalid answer: {exc}") from exc
        except (Exception, asyncio.CancelledError) as exc:
            if completion is None:
                latency_ms = round((time.perf_counter() - started) * 1000)
            self._record(
                prompt,
                completion,
                created_at=created_at,
                latency_ms=latency_ms,
                error=exc,
                explicit=(source, client_id, lead_id, message_id),
            )
            raise
        row = self._record(
            prompt,
            completion,
            created_at=created_at,
            latency_ms=latency_ms,
            error=None,
            explicit=(source, client_id, lead_id, message_id),
        )
        return AIResult(value=value, data=data, interaction=row)

    def interaction_row(
        self,
        prompt: Prompt,
        completion: Completion | None,
        *,
        created_at: str,
        latency_ms: int | None,
        error: BaseException | None,
        explicit: tuple[str | None, int | None, int | None, int | None] = (None,) * 4,
    ) -> dict[str, Any]:
        """The ``ai_interactions`` row for one call (not yet stored)."""
        source, client_id, lead_id, message_id = explicit
        job = current_job()
        usage = completion.usage if completion is not None else Usage()
        response_model = completion.response_model if completion is not None else None
        if self.provider.free:
            cost: float | None = 0.0
        else:
            price = self.prices.lookup(self.provider.model, response_model)
            cost = cost_usd(
                price, usage.input_tokens, usage.cached_input_tokens, usage.output_tokens
            )
            refused = getattr(error, "status_code", None) is not None
            if cost is None and price is not None and completion is None and refused:
                cost = 0.0  # the provider answered an HTTP error: nothing is billed
        total = usage.total_tokens
        if total is None and (usage.input_tokens is not None or usage.output_tokens is not None):
            total = (usage.input_tokens or 0) + (usage.output_tokens or 0)
        return {
            "source": normalize_source(source) or current_source(),
            "client_id": client_id if client_id is not None else (job.client_id if job else None),
            "lead_id": lead_id if lead_id is not None else (job.lead_id if job else None),
            "message_id": (
                message_id if message_id is not None else (job.message_id if job else None)
            ),
            "background_job_id": job.job_id if job else None,
            "job_attempt": job.attempt if job else None,
            "feature_id": prompt.feature_id,
            "prompt_key": prompt.prompt_key,
            "provider": self.provider.name,
            "api_type": API_TYPE,
            "model": self.provider.model,
            "response_model": response_model,
            "input_tokens": usage.input_tokens,
            "cached_input_tokens": usage.cached_input_tokens,
            "output_tokens": usage.output_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
            "total_tokens": total,
            "latency_ms": latency_ms,
            "status": "error" if error is not None else "success",
            "error_message": _error_text(error) if error is not None else None,
            "cost_usd": cost,
            "created_at": created_at,
        }

    def _record(self, prompt: Prompt, completion: Completion | None, **kwargs: Any) -> dict:
        """Submit the row to the writer without waiting; never raises."""
        row: dict[str, Any] = {}
        try:
            row = self.interaction_row(prompt, completion, **kwargs)
            future = self.store.submit_interaction(row)
        except Exception:
            self.records_failed += 1
            log.exception("could not record AI interaction %s", prompt.feature_id)
            return row
        self.records_submitted += 1
        future.add_done_callback(self._recorded)
        return row

    def _recorded(self, future: Future) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self.records_failed += 1
            log.error("AI interaction row was not stored: %s", _error_text(exc))

    async def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until every row submitted so far is committed."""
        try:
            await self.store.flush(timeout)
        except db.DatabaseUnavailable as exc:
            log.warning("AI telemetry flush failed: %s", exc)

    async def close(self) -> None:
        await self.provider.close()


def create_client(
    settings: Any,
    store: db.Store,
    *,
    clock: Callable[[], datetime] = db.utcnow,
    prices: PriceTable | None = None,
) -> AIClient:
    """The client ``settings`` ask for (``config.Settings``): provider, model, prices.

    ValueError for an unknown provider, ``openai`` without a key or base URL, or an invalid
    ``LEADHOOK_AI_PRICES_JSON``.
    """
    if prices is None:
        prices = PriceTable.from_json(settings.ai_prices_json)
    provider_name = (settings.ai_provider or "offline").strip().lower()
    provider: Provider
    if provider_name == "offline":
        from ai.offline import OfflineProvider

        provider = OfflineProvider()
    elif provider_name == "openai":
        api_key = settings.openai_api_key
        if not api_key:
            if not settings.openai_base_url:
                raise ValueError(
                    "LEADHOOK_AI_PROVIDER=openai needs OPENAI_API_KEY "
                    "(or OPENAI_BASE_URL for a server that takes no key)"
                )
            api_key = "unused"  # a compatible server that takes no key
        provider = OpenAIProvider(
            model=settings.ai_model or DEFAULT_MODEL,
            api_key=api_key,
            base_url=settings.openai_base_url,
            timeout=settings.ai_timeout_seconds or DEFAULT_TIMEOUT_SECONDS,
        )
    else:
        raise ValueError(
            f"LEADHOOK_AI_PROVIDER must be 'openai' or 'offline', not {provider_name!r}"
        )
    return AIClient(store, provider, prices=prices, clock=clock)


__all__ = [
    "API_TYPE",
    "AIClient",
    "AIError",
    "AIResult",
    "Completion",
    "OpenAIProvider",
    "Prompt",
    "Provider",
    "Usage",
    "create_client",
    "parse_json_object",
]
