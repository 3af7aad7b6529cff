"""The Prometheus instruments of one app (``app.state.metrics``), on a registry of its own.

Names and labels are DESIGN "Metrics"; ``docs/operations.md`` says what each one means.
**Every counter and histogram counts from process start** (a restart starts them at 0 again,
which ``rate()`` and ``increase()`` handle); **the gauges are read from the database** at
scrape time. The database's history is the spend report's and the console's, never replayed
into counters (a restart would then jump, and pruning would make a counter go down).

Counted where it happens, with direct calls (no middleware on the webhook path; label children
bound once, then cached):

- :meth:`Metrics.delivery` (``handlers/metrics.py``, once per request that reaches a webhook
  route): ``leadhook_deliveries_total{route,outcome}`` (route: the webhook's path; outcome:
  ``stored`` (a new message, or an unsubscribe), ``deduped``, ``ignored``, ``rejected`` (any
  4xx or 5xx)) and ``leadhook_delivery_duration_seconds{route}``;
- :meth:`Metrics.job_attempt` (``scheduler/_attempt.py``, once per attempt):
  ``leadhook_job_runs_total{type,outcome}`` (outcome: ``succeeded``, ``skipped``, ``failed``,
  ``retried``, ``lost``, ``released``), ``leadhook_job_duration_seconds{type}`` (the handler's
  run) and ``leadhook_job_queue_wait_seconds{type}`` (claimed at minus due at);
- :meth:`Metrics.ai_call` (an observer of the AI client, once per ``ai_interactions`` row):
  ``leadhook_ai_calls_total{source,feature,model,status}``,
  ``leadhook_ai_tokens_total{source,kind}`` (``input`` (every prompt token, cached ones
  included, as ``input_tokens``), ``cached_input``, ``output``, ``reasoning``),
  ``leadhook_ai_cost_usd_total{source}`` (priced calls only) and
  ``leadhook_ai_latency_seconds{source,feature}``; a call without a source is
  ``unattributed``.

At scrape time (:meth:`Metrics.render`, given what ``Store.job_gauges`` read):
``leadhook_jobs{type,status}`` (every known type and status, 0 included),
``leadhook_job_oldest_due_seconds`` (how long the PENDING job due longest has waited; 0 when
none is due), and ``leadhook_deliveries_unrecorded_total``: requests without a valid token
past the ledger's per-minute cap (``LEADHOOK_LEDGER_REJECTED_PER_MINUTE``), counted in
``leadhook_deliveries_total{outcome="rejected"}`` but with no ledger row (read from
``unrecorded()``; the ledger's count from its start). Plus the standard ``process_*``
metrics of this process (CPU, memory, open files, start time).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector

from db import parse_iso
from db.vocab import DELIVERY_OUTCOMES, JOB_STATUSES, JOB_TYPES

__all__ = ["CONTENT_TYPE", "Metrics"]

# The ``*_created`` series (one more per child) carry nothing a scrape needs.
disable_created_metrics()

# The text format every Prometheus reads (leadhook's names need none of 1.0.0's escaping).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
UNATTRIBUTED = "unattributed"
TOKEN_KINDS = (
    ("input", "input_tokens"),
    ("cached_input", "cached_input_tokens"),
    ("output", "output_tokens"),
    ("reasoning", "reasoning_tokens"),
)
# Seconds. A webhook answers in milliseconds (a 429 after LEADHOOK_WRITER timeouts, 8 s);
# jobs and AI calls in seconds (the AI timeout is 30 s); a due job waits for a free slot.
DELIVERY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
WAIT_BUCKETS = (0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)
AI_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60)

# What Store.job_gauges read, for the scrape being rendered (see Metrics.render).
_GAUGES: contextvars.ContextVar[tuple[Mapping[str, Any], datetime] | None] = contextvars.ContextVar(
    "leadhook_job_gauges", default=None
)


class Metrics:
    """The registry and instruments of one app (see the module docstring).

    ``unrecorded``: how many requests the delivery ledger counted without a row (read at
    scrape time; 0 when there is no ledger)."""

    def __init__(self, *, unrecorded: Callable[[], int] | None = None) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=False)
        self.deliveries = Counter(
            "leadhook_deliveries",
            "Requests that reached a webhook route, by route and outcome (from process start)",
            ["route", "outcome"],
            registry=registry,
        )
        self.delivery_seconds = Histogram(
            "leadhook_delivery_duration_seconds",
            "Time from a webhook request's start to its answer",
            ["route"],
            buckets=DELIVERY_BUCKETS,
            registry=registry,
        )
        self.job_runs = Counter(
            "leadhook_job_runs",
            "Job attempts by type and how they ended (from process start)",
            ["type", "outcome"],
            registry=registry,
        )
        self.job_seconds = Histogram(
            "leadhook_job_duration_seconds",
            "Time a job attempt's handler ran",
            ["type"],
            buckets=JOB_BUCKETS,
            registry=registry,
        )
        self.job_wait_seconds = Histogram(
            "leadhook_job_queue_wait_seconds",
            "Time from when a job was due to when a runner claimed it",
            ["type"],
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.ai_calls = Counter(
            "leadhook_ai_calls",
            "AI calls by telemetry source, feature, requested model and status",
            ["source", "feature", "model", "status"],
            registry=registry,
        )
        self.ai_tokens = Counter(
            "leadhook_ai_tokens",
            "AI tokens by telemetry source and kind (input includes cached_input)",
            ["source", "kind"],
            registry=registry,
        )
        self.ai_cost = Counter(
            "leadhook_ai_cost_usd",
            "Cost of priced AI calls in USD, by telemetry source",
            ["source"],
            registry=registry,
        )
        self.ai_seconds = Histogram(
            "leadhook_ai_latency_seconds",
            "Latency of AI provider calls",
            ["source", "feature"],
            buckets=AI_BUCKETS,
            registry=registry,
        )
        registry.register(_ScrapeTime(unrecorded or (lambda: 0)))
        ProcessCollector(registry=registry)
        self._delivery: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._job: dict[tuple[str, str], tuple[Any, Any, Any]] = {}

    def bind(
        self,
        *,
        routes: Iterable[str] = (),
        job_types: Iterable[str] = (),
        job_outcomes: Iterable[str] = (),
    ) -> None:
        """Create the series of these routes (every delivery outcome) and job types (each of
        ``job_outcomes``) now, at 0, so that a rate over them exists before the first event
        (an alert on ``rejected`` needs the series). The app binds its webhook routes, the
        runner the job types and its outcomes."""
        for route in routes:
            for outcome in DELIVERY_OUTCOMES:
                self._delivery_children(route, outcome)
        outcomes = list(job_outcomes)
        for job_type in job_types:
            for outcome in outcomes:
                self._job_children(job_type, outcome)

    # -- counted where it happens -----------------------------------------------------------

    def delivery(self, route: str, outcome: str, seconds: float) -> None:
        """One request that reached the webhook route ``route``."""
        children = self._delivery.get((route, outcome)) or self._delivery_children(route, outcome)
        children[0].inc()
        children[1].observe(seconds)

    def job_attempt(
        self, job_type: str, outcome: str, seconds: float | None, waited: float | None
    ) -> None:
        """One job attempt that ended with ``outcome``; ``seconds`` its handler's run and
        ``waited`` its time in the queue (None: not known)."""
        key = (job_type, outcome)
        children = self._job.get(key) or self._job_children(job_type, outcome)
        children[0].inc()
        if seconds is not None:
            children[1].observe(seconds)
        if waited is not None:
            children[2].observe(max(0.0, waited))

    def ai_call(self, row: Mapping[str, Any]) -> None:
        """One ``ai_interactions`` row (the AI client's observer; any thread)."""
        source = row.get("source") or UNATTRIBUTED
        feature = row.get("feature_id") or ""
        self.ai_calls.labels(source, feature, row.get("model") or "", row.get("status")).inc()
        for kind, column in TOKEN_KINDS:
            tokens = row.get(column)
            if tokens:
                self.ai_tokens.labels(source, kind).inc(tokens)
        cost = row.get("cost_usd")
        if cost:
            self.ai_cost.labels(source).inc(cost)
        latency_ms = row.get("latency_ms")
        if latency_ms is not None:
            self.ai_seconds.labels(source, feature).observe(latency_ms / 1000)

    # -- the scrape -------------------------------------------------------------------------

    def render(self, gauges: Mapping[str, Any] | None, now: datetime) -> bytes:
        """The text format of every metric, the gauges from ``gauges`` (what
        ``Store.job_gauges(now)`` read; None when it could not be read: they are left out).
        Blocking (a few milliseconds): call it off the event loop."""
        token = _GAUGES.set(None if gauges is None else (gauges, now))
        try:
            return generate_latest(self.registry)
        finally:
            _GAUGES.reset(token)

    def _delivery_children(self, route: str, outcome: str) -> tuple[Any, Any]:
        children = (
            self.deliveries.labels(route, outcome),
            self.delivery_seconds.labels(route),
        )
        self._delivery[(route, outcome)] = children
        return children

    def _job_children(self, job_type: str, outcome: str) -> tuple[Any, Any, Any]:
        children = (
            self.job_runs.labels(job_type, outcome),
            self.job_seconds.labels(job_type),
            self.job_wait_seconds.labels(job_type),
        )
        self._job[(job_type, outcome)] = children
        return children


class _ScrapeTime:
    """The metrics computed when scraped: jobs by type and status, the oldest due job's wait
    (from the scrape's :meth:`Metrics.render`) and the ledger's unrecorded requests."""

    def __init__(self, unrecorded: Callable[[], int]) -> None:
        self.unrecorded = unrecorded

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        jobs, oldest, unrecorded = self._families()
        unrecorded.add_metric([], float(self.unrecorded()))
        yield unrecorded
        snapshot = _GAUGES.get()
        if snapshot is None:
            return
        gauges, now = snapshot
        counts = {(r["type"], r["status"]): r["jobs"] for r in gauges["jobs"]}
        types = sorted(set(JOB_TYPES) | {job_type for job_type, _ in counts})
        for job_type in types:
            for status in JOB_STATUSES:
                jobs.add_metric([job_type, status], counts.get((job_type, status), 0))
        yield jobs
        due_at = gauges.get("oldest_due_run_at")
        waited = (now - parse_iso(due_at)).total_seconds() if due_at else 0.0
        oldest.add_metric([], max(0.0, waited))
        yield oldest

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, CounterMetricFamily]:
        return (
            GaugeMetricFamily(
                "leadhook_jobs", "Background jobs by type and status", labels=["type", "status"]
            ),
            GaugeMetricFamily(
                "leadhook_job_oldest_due_seconds",
                "Seconds the PENDING job due longest has waited (0: none is due)",
            ),
            CounterMetricFamily(
                "leadhook_deliveries_unrecorded",
                "Requests without a valid token past the ledger's per-minute cap: counted in "
                "leadhook_deliveries_total, without a ledger row",
            ),
        )
