"""The AI client: one JSON completion per call, and one ``ai_interactions`` row per call.

:class:`AIClient` sends a :class:`~ai.Prompt` to its provider (OpenAI-compatible Chat
Completions, :mod:`ai._openai`, or the local :mod:`ai.offline` provider), parses the answer
as a JSON object, validates it, and records the call:

- ``source``: the ``source=`` argument when given, else :func:`ai.current_source`;
- the job (``background_job_id``, ``job_attempt``) from :func:`ai.current_job`, and its
  ``client_id`` / ``lead_id`` / ``message_id`` unless passed explicitly;
- tokens by type from the provider's ``usage`` (NULL when the server reports none),
  ``latency_ms`` of the provider call, ``status``, ``created_at`` (when the call started);
- ``cost_usd`` at call time (:mod:`ai.prices`): the price of the requested model, else of
  the response model, applied to the usage. NULL when neither model has a price or the
  usage is unknown (a success without usage, a timeout, a connection error), and 0.0 when
  the provider answered an HTTP error (nothing billed) or the provider is offline.

The row is handed to the store (``Store.submit_interaction``) without waiting for its commit
(a few microseconds on the call path); a failure to store it is logged and never fails the
call. :meth:`AIClient.flush` waits until every row submitted so far is committed.

Errors: a failed call records a ``status='error'`` row and raises
:class:`~ai.errors.AIRetryableError` (429 with ``retry_after`` from ``Retry-After``, 408,
409, 5xx, timeouts, connection errors), :class:`~ai.errors.AIResponseError` (output that is
not a JSON object or fails validation) or :class:`~ai.errors.AIRequestError` (other 4xx).
The client never retries: the job runner does.

:func:`create_client` picks the provider, model and prices from the settings.
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
from typing import Any, NamedTuple

import db
from ai._openai import DEFAULT_MODEL, DEFAULT_TIMEOUT_SECONDS, OpenAIProvider
from ai._types import AIResult, Completion, Prompt, Provider, Usage
from ai.context import current_job, current_source, normalize_source
from ai.errors import AIResponseError
from ai.offline import Answer, OfflineProvider
from ai.prices import PriceTable, cost_usd

log = logging.getLogger("leadhook.ai")

API_TYPE = "chat_completions"
MAX_ERROR_MESSAGE = 1000


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


def _validated(validate: Callable[[dict[str, Any]], Any] | None, data: dict[str, Any]) -> Any:
    if validate is None:
        return data
    try:
        return validate(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise AIResponseError(f"invalid answer: {exc}") from exc


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= MAX_ERROR_MESSAGE else text[: MAX_ERROR_MESSAGE - 1] + "…"


def _given_or(given: int | None, fallback: int | None) -> int | None:
    return given if given is not None else fallback


class _Attribution(NamedTuple):
    """What the caller said the call is for; None means "from the context"."""

    source: str | None = None
    client_id: int | None = None
    lead_id: int | None = None
    message_id: int | None = None


@dataclass
class _Call:
    """One provider call as it is recorded: what was asked, for whom, what came back."""

    prompt: Prompt
    attribution: _Attribution
    created_at: str
    started: float = field(default_factory=time.perf_counter)
    completion: Completion | None = None
    latency_ms: int | None = None

    def stop(self) -> None:
        """Take the latency of the provider call (the first stop counts)."""
        if self.latency_ms is None:
            self.latency_ms = round((time.perf_counter() - self.started) * 1000)


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
        attribution = _Attribution(source, client_id, lead_id, message_id)
        call = _Call(prompt, attribution, created_at=self.now())
        try:
            call.completion = await self.provider.complete(prompt)
            call.stop()
            data = parse_json_object(call.completion.content)
            value = _validated(validate, data)
        except (Exception, asyncio.CancelledError) as exc:
            call.stop()
            self._record(call, exc)
            raise
        return AIResult(value=value, data=data, interaction=self._record(call, None))

    def _interaction_row(self, call: _Call, error: BaseException | None) -> dict[str, Any]:
        """The ``ai_interactions`` row for one call (not yet stored)."""
        completion = call.completion
        usage = completion.usage if completion is not None else Usage()
        total = usage.total_tokens
        if total is None and (usage.input_tokens is not None or usage.output_tokens is not None):
            total = (usage.input_tokens or 0) + (usage.output_tokens or 0)
        return {
            **self._attribution(call.attribution),
            "feature_id": call.prompt.feature_id,
            "prompt_key": call.prompt.prompt_key,
            "provider": self.provider.name,
            "api_type": API_TYPE,
            "model": self.provider.model,
            "response_model": completion.response_model if completion is not None else None,
            "input_tokens": usage.input_tokens,
            "cached_input_tokens": usage.cached_input_tokens,
            "output_tokens": usage.output_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
            "total_tokens": total,
            "latency_ms": call.latency_ms,
            "status": "error" if error is not None else "success",
            "error_message": _error_text(error) if error is not None else None,
            "cost_usd": self._cost(completion, usage, error),
            "created_at": call.created_at,
        }

    @staticmethod
    def _attribution(explicit: _Attribution) -> dict[str, Any]:
        """Source and ids: the explicit ones, else the telemetry context's."""
        job = current_job()
        return {
            "source": normalize_source(explicit.source) or current_source(),
            "client_id": _given_or(explicit.client_id, job and job.client_id),
            "lead_id": _given_or(explicit.lead_id, job and job.lead_id),
            "message_id": _given_or(explicit.message_id, job and job.message_id),
            "background_job_id": job.job_id if job else None,
            "job_attempt": job.attempt if job else None,
        }

    def _cost(
        self, completion: Completion | None, usage: Usage, error: BaseException | None
    ) -> float | None:
        if self.provider.free:
            return 0.0
        response_model = completion.response_model if completion is not None else None
        price = self.prices.lookup(self.provider.model, response_model)
        cost = cost_usd(price, usage.input_tokens, usage.cached_input_tokens, usage.output_tokens)
        refused = getattr(error, "status_code", None) is not None
        if cost is None and price is not None and completion is None and refused:
            return 0.0  # the provider answered an HTTP error: nothing is billed
        return cost

    def _record(self, call: _Call, error: BaseException | None) -> dict[str, Any]:
        """Submit the row to the store without waiting; never raises."""
        row: dict[str, Any] = {}
        try:
            row = self._interaction_row(call, error)
            future = self.store.submit_interaction(row)
        except Exception:
            self.records_failed += 1
            log.exception("could not record AI interaction %s", call.prompt.feature_id)
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


def _openai_provider(settings: Any) -> OpenAIProvider:
    api_key = settings.openai_api_key
    if not api_key:
        if not settings.openai_base_url:
            raise ValueError(
                "LEADHOOK_AI_PROVIDER=openai needs OPENAI_API_KEY "
                "(or OPENAI_BASE_URL for a server that takes no key)"
            )
        api_key = "unused"  # a compatible server that takes no key
    return OpenAIProvider(
        model=settings.ai_model or DEFAULT_MODEL,
        api_key=api_key,
        base_url=settings.openai_base_url,
        timeout=settings.ai_timeout_seconds or DEFAULT_TIMEOUT_SECONDS,
    )


def create_client(
    settings: Any,
    store: db.Store,
    *,
    clock: Callable[[], datetime] = db.utcnow,
    prices: PriceTable | None = None,
    offline_answers: Mapping[str, Answer] | None = None,
) -> AIClient:
    """The client ``settings`` ask for (``config.Settings``): provider, model, prices.

    ``offline_answers`` are the answers of the offline provider (see :mod:`ai.offline`);
    without them it knows no feature. ValueError for an unknown provider, ``openai`` without
    a key or base URL, or an invalid ``LEADHOOK_AI_PRICES_JSON``.
    """
    if prices is None:
        prices = PriceTable.from_json(settings.ai_prices_json)
    provider_name = (settings.ai_provider or "offline").strip().lower()
    provider: Provider
    if provider_name == "offline":
        provider = OfflineProvider(offline_answers)
    elif provider_name == "openai":
        provider = _openai_provider(settings)
    else:
        raise ValueError(
            f"LEADHOOK_AI_PROVIDER must be 'openai' or 'offline', not {provider_name!r}"
        )
    return AIClient(store, provider, prices=prices, clock=clock)


__all__ = [
    "API_TYPE",
    "AIClient",
    "create_client",
    "parse_json_object",
]
