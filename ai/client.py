"""The AI client: one JSON completion per call, and one ``ai_interactions`` row per call.

:class:`AIClient` sends a :class:`~ai.Prompt` to its provider (OpenAI-compatible Chat
Completions, :mod:`ai._openai`, or the local :mod:`ai.offline` provider), parses the answer
as a JSON object, validates it, and records the call:

- ``source``: the ``source=`` argument when given, else :func:`ai.current_source`;
- the job (``background_job_id``, ``job_attempt``) from :func:`ai.current_job`, and its
  ``client_id`` / ``lead_id`` / ``message_id`` unless passed explicitly;
- tokens by type from the provider's ``usage`` (NULL when the server reports none),
  ``latency_ms`` of the provider call, ``status``, ``created_at`` (when the call started: when
  its request went, after any wait for the provider's rate limits, :mod:`ai._ratelimit`);
- the unit prices at call time (:mod:`ai.prices`): ``price_input_per_mtok``,
  ``price_cached_input_per_mtok``, ``price_output_per_mtok`` and ``price_source`` of the
  requested model, else of the response model; all NULL for an unpriced model, 0 and
  ``offline`` for the offline provider;
- ``cost_usd`` from those prices and the usage. NULL when the model is unpriced or the call
  reported no usage (a timeout, a connection error, any HTTP error: 429 like the others);
  0.0 for the offline provider. A row is never priced again afterwards.

Each row is also handed to the client's ``observers`` (callables taking the row, on the thread
of the call: the metrics, the runner's per-attempt tally); one that raises is logged and does
not fail the call.

Rows go to the store through :class:`ai._recorder.InteractionRecorder`: without waiting for
the commit, and kept and written again while the database cannot take them (a full disk);
recording never fails the call. :meth:`AIClient.flush` waits until every row so far is
committed.

Errors (:mod:`ai.errors`): a failed call records a ``status='error'`` row and raises
:class:`~ai.errors.AIRateLimited` (429), :class:`~ai.errors.AIRetryableError` (timeouts,
connection errors, 408, 409, 5xx), :class:`~ai.errors.AIRequestError` (other 4xx) or
:class:`~ai.errors.AIResponseError` (an answer that is not a JSON object or fails
validation), each naming the provider's ``endpoint`` and the call's ``feature_id``. The client
never retries: the job runner does (``scheduler._retry``).

:func:`create_client` picks the provider, model and prices from the settings.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import db
from ai import prices as ai_prices
from ai._openai import DEFAULT_MODEL, DEFAULT_TIMEOUT_SECONDS, OpenAIProvider
from ai._recorder import InteractionRecorder
from ai._types import AIResult, Completion, Prompt, Provider, Usage
from ai.context import current_job, current_source, normalize_source
from ai.errors import AIError, AIResponseError
from ai.offline import Answer, OfflineProvider
from ai.prices import OFFLINE_PRICE, Price, PriceTable, cost_usd

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
    clock: Callable[[], datetime]
    started_at: datetime
    started: float = field(default_factory=time.perf_counter)
    completion: Completion | None = None
    latency_ms: int | None = None

    def sent(self) -> None:
        """The request goes now: the time waited for the rate limits is not the call's."""
        self.started_at = self.clock()
        self.started = time.perf_counter()

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
        self.prices = prices or PriceTable.from_json(
            None, base_url=getattr(provider, "base_url", None)
        )
        self.clock = clock
        self.recorder = InteractionRecorder(store)
        # Told of every row as it is made (see the module docstring).
        self.observers: list[Callable[[dict[str, Any]], None]] = []

    @property
    def model(self) -> str:
        return self.provider.model

    @property
    def records_submitted(self) -> int:
        """Rows handed to the store."""
        return self.recorder.submitted

    @property
    def records_failed(self) -> int:
        """Rows given up (refused for good, or dropped because too many were waiting)."""
        return self.recorder.failed

    @property
    def records_pending(self) -> int:
        """Rows kept in memory until the database takes them."""
        return self.recorder.pending

    def price(self, model: str | None = None) -> Price | None:
        """What a call to ``model`` (default: this client's) is charged now, per million
        tokens; None when it is unpriced."""
        if self.provider.free:
            return OFFLINE_PRICE
        return self.prices.lookup(model or self.provider.model)

    def unpriced_warning(self) -> str | None:
        """The start-up warning when calls to the configured model will have no cost."""
        if self.price() is not None:
            return None
        return (
            f"AI model {self.provider.model!r} has no price in {ai_prices.CATALOGUE} "
            f"{ai_prices.catalogue_version()} or {ai_prices.ENV_VAR}: its calls are recorded "
            f"with cost_usd NULL (unpriced); set {ai_prices.ENV_VAR} to price it"
        )

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
        call = _Call(prompt, attribution, self.clock, started_at=self.clock())
        try:
            call.completion = await self.provider.complete(prompt, on_send=call.sent)
            call.stop()
            data = parse_json_object(call.completion.content)
            value = _validated(validate, data)
        except (Exception, asyncio.CancelledError) as exc:
            call.stop()
            if isinstance(exc, AIError):
                exc.endpoint = exc.endpoint or getattr(self.provider, "endpoint", None)
                exc.feature_id = prompt.feature_id
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
        price = self._price_of(call, completion, usage)
        cost = cost_usd(price, usage.input_tokens, usage.cached_input_tokens, usage.output_tokens)
        if self.provider.free:
            cost = 0.0
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
            "cost_usd": cost,
            "price_input_per_mtok": price.input if price else None,
            "price_cached_input_per_mtok": price.cached_input if price else None,
            "price_output_per_mtok": price.output if price else None,
            "price_source": price.source if price else None,
            "created_at": db.iso(call.started_at),
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

    def _price_of(self, call: _Call, completion: Completion | None, usage: Usage) -> Price | None:
        """The unit prices of this call: the requested model's, else the response model's,
        as they held when the call started."""
        if self.provider.free:
            return OFFLINE_PRICE
        response_model = completion.response_model if completion is not None else None
        return self.prices.lookup(
            self.provider.model,
            response_model,
            at=call.started_at,
            input_tokens=usage.input_tokens,
        )

    def _record(self, call: _Call, error: BaseException | None) -> dict[str, Any]:
        """Hand the row to the recorder (kept until written); never raises."""
        try:
            row = self._interaction_row(call, error)
        except Exception:
            log.exception("could not make the AI interaction row of %s", call.prompt.feature_id)
            return {}
        self.recorder.record(row)
        for observe in list(self.observers):
            try:
                observe(row)
            except Exception:
                log.exception("an observer of AI interaction rows failed")
        return row

    async def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until every row recorded so far is committed (kept rows are written now)."""
        try:
            await self.recorder.flush(timeout)
        except db.DatabaseUnavailable as exc:
            log.warning("AI telemetry flush failed: %s", exc)

    async def close(self) -> None:
        """Close the provider; rows that could still not be written are logged as lost."""
        await self.recorder.close()
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
        prices = PriceTable.from_json(settings.ai_prices_json, base_url=settings.openai_base_url)
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
