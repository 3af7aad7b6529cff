"""The shapes of leadhook's JSON answers, as msgspec structs: the OpenAPI document's response
schemas come from them (:mod:`handlers.openapi`), and tests/test_openapi.py checks real answers
against that document. The routes build the same shapes as dicts."""

from __future__ import annotations

from typing import Literal

import msgspec


class Error(msgspec.Struct):
    """Every error: what is wrong and what to do."""

    success: Literal[False]
    error: str


class Stored(msgspec.Struct):
    """A message stored (``deduped`` false) or already stored (true); ``jobEnqueued`` is true
    when its post-process job was created or reset."""

    success: Literal[True]
    deduped: bool
    message_id: int = msgspec.field(name="messageId")
    lead_id: int = msgspec.field(name="leadId")
    job_enqueued: bool = msgspec.field(name="jobEnqueued")


class Ignored(msgspec.Struct, omit_defaults=True):
    """An event the route does not store (another event type, an empty message)."""

    success: Literal[True]
    ignored: Literal[True]
    event_type: str | None = msgspec.field(name="eventType", default=None)
    reason: str | None = None


class Unsubscribed(msgspec.Struct):
    """An unsubscribe: the lead is blacklisted (created if unknown)."""

    success: Literal[True]
    lead_id: int = msgspec.field(name="leadId")
    status: Literal["blacklisted"]


class CronPass(msgspec.Struct):
    """One runner pass: how many jobs it claimed and how each ended."""

    success: Literal[True]
    released_stale: int = msgspec.field(name="releasedStale")
    processed: int
    succeeded: int
    failed: int
    retried: int
    skipped: int
    remaining: int
    timestamp: str


class SpendGroup(msgspec.Struct):
    """One group of the AI spend report (or its total)."""

    group: str
    calls: int
    errors: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    total_tokens: int
    cost_usd: float | None  # None when no call of the group has a cost
    unpriced_calls: int
    latency_p50_ms: int | None
    latency_p95_ms: int | None


class SpendReport(msgspec.Struct):
    """The AI spend report: calls, errors, tokens, cost and latency per group."""

    success: Literal[True]
    by: str
    since: str | None
    groups: list[SpendGroup]
    total: SpendGroup


class Health(msgspec.Struct):
    status: Literal["ok"]


class Readiness(msgspec.Struct):
    """``checks``: each part (``database``, ``scheduler``, ...) and ``ok``, ``disabled`` or
    what is wrong."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, str]


WEBHOOK_ANSWERS = (Stored, Ignored, Unsubscribed)
ANSWERS = (Error, *WEBHOOK_ANSWERS, CronPass, SpendReport, Health, Readiness)
