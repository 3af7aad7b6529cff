"""One attempt of a claimed job: the handler in the job's context, then the fenced write.

:meth:`AttemptRunner.run` runs the job's handler (from the runner's :class:`JobRegistry`)
inside the telemetry source ``background_job:<TYPE>`` and the job's :class:`ai.JobContext`, so
every AI call it makes is attributed to this job and attempt, also from threads it starts. It
returns the :class:`scheduler._retry.Decision` for what happened (an unknown type is decided
too, without running anything).

:meth:`AttemptRunner.report` is the attempt's one log line once its result is written (or
could not be): at INFO for what went as it should, the decision's level otherwise (a failed AI
call names its endpoint, status, attempt and job), with the attempt's duration, its AI calls
and their cost (:meth:`AttemptRunner.count_ai`, an observer of the AI client, tallies them);
the traceback of a failure at DEBUG only. It also counts the attempt in the app's metrics
(``leadhook_job_runs_total``, ``leadhook_job_duration_seconds``,
``leadhook_job_queue_wait_seconds``) when the runner has them.

:meth:`AttemptRunner.write` writes that decision through ``store.finish_job``, fenced by
``locked_by`` and ``attempts``: when recovery took the claim away nothing is written and the
outcome is ``lost``. With ``chain`` (the main loop) the same transaction claims the next due
job, which the caller then runs: one commit per finished job while there is a backlog. If that
write cannot be made, the result alone is written (retried), and no successor is claimed.
Raises :class:`db.DatabaseUnavailable` when the result could not be written at all.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import db
from ai import AIClient, JobContext, ai_telemetry_source, job_context
from config import Settings
from monitoring import Metrics
from scheduler._registry import JobRegistry, JobRunContext
from scheduler._retry import (
    WRITE_TIMEOUT_SECONDS,
    Decision,
    Outcome,
    UnknownJobType,
    decide,
    write_retrying,
)

log = logging.getLogger("leadhook.jobs")


@dataclass(frozen=True)
class AttemptRunner:
    """What one runner's attempts need: where handlers come from and what they are given."""

    store: db.Store
    settings: Settings
    registry: JobRegistry
    clock: Callable[[], datetime]
    rng: Callable[[], float]
    ai: AIClient | None
    runner_id: str
    metrics: Metrics | None = None
    # AI calls and their cost by the id of a job whose attempt is running (count_ai).
    spend: dict[int, list] = field(default_factory=dict)

    async def run(self, job: dict) -> Decision:
        """Run the handler of ``job`` (a claimed row) and decide how this attempt ended.

        ``asyncio.CancelledError`` (shutdown) goes through: the runner puts the job back."""
        job_type = job["type"]
        attribution = JobContext(
            job_id=job["id"],
            job_type=job_type,
            attempt=job["attempts"],
            client_id=job.get("client_id"),
            lead_id=job.get("lead_id"),
            message_id=job.get("message_id"),
        )
        self.spend[job["id"]] = [job["attempts"], 0, 0.0]
        with ai_telemetry_source(f"background_job:{job_type}"), job_context(attribution):
            ended = await self._call_handler(job)
            decision = decide(job, ended, self.clock(), self.rng)
            note = decision.note
            if note is not None and note.exc_info is not None and log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "job %s attempt %s: traceback",
                    job["id"],
                    job["attempts"],
                    exc_info=note.exc_info,
                )
        return decision

    def count_ai(self, row: dict[str, Any]) -> None:
        """Tally an AI row of a running attempt (an observer of the AI client)."""
        entry = self.spend.get(row.get("background_job_id"))  # type: ignore[arg-type]
        if entry is not None and entry[0] == row.get("job_attempt"):
            entry[1] += 1
            entry[2] += row.get("cost_usd") or 0.0

    def report(
        self,
        job: dict,
        decision: Decision | None,
        outcome: Outcome,
        seconds: float | None,
        failure: BaseException | None = None,
    ) -> None:
        """The attempt's one line and its metrics (see the module docstring); ``seconds``:
        how long its handler ran (None if it did not finish), ``failure``: why its result
        could not be written."""
        _, calls, cost = self.spend.pop(job["id"], (0, 0, 0.0))
        level, message, args, exc_info = _line(job, decision, outcome, failure)
        took = "" if seconds is None else f"{seconds:.3f} s, "
        fields = {
            "job_id": job["id"],
            "job_type": job["type"],
            "attempt": job["attempts"],
            "outcome": str(outcome),
            "duration_ms": None if seconds is None else round(seconds * 1000, 1),
            "ai_calls": calls,
            "ai_cost_usd": round(cost, 9),
        }
        message += f" ({took}AI calls %d, cost $%.6f)"
        log.log(level, message, *args, calls, cost, extra=fields, exc_info=exc_info)
        if self.metrics is not None:
            self.metrics.job_attempt(job["type"], str(outcome), seconds, _waited(job))

    async def _call_handler(self, job: dict) -> object:
        """The handler's result, or the exception it raised (or :class:`UnknownJobType`)."""
        handler = self.registry.get(job["type"])
        if handler is None:
            return UnknownJobType(job["type"])
        ctx = JobRunContext(
            job=job, store=self.store, settings=self.settings, clock=self.clock, ai=self.ai
        )
        try:
            value = handler(ctx)
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:
            return exc
        return value

    async def write(
        self, job: dict, decision: Decision, *, chain: bool
    ) -> tuple[Outcome, dict | None]:
        """Write the attempt's result (fenced): the outcome (``lost`` when the claim was
        taken away) and, with ``chain``, the job claimed in the same transaction."""
        finish = partial(self.store.finish_job, job, decision.result, runner_id=self.runner_id)
        claimed: list[dict] = []
        if chain:
            try:
                written, claimed = await finish(
                    now=self._now_iso(), claim_limit=1, timeout=WRITE_TIMEOUT_SECONDS
                )
            except db.DatabaseUnavailable:  # the result first; the main loop claims
                written, _ = await write_retrying(partial(finish, now=self._now_iso()))
        else:
            written, _ = await write_retrying(partial(finish, now=self._now_iso()))
        successor = claimed[0] if claimed else None
        return (decision.outcome if written else Outcome.LOST), successor

    def _now_iso(self) -> str:
        return db.iso(self.clock())


def _waited(job: dict) -> float | None:
    """How long the claimed ``job`` waited to be claimed after it was due (seconds)."""
    try:
        return (db.parse_iso(job["started_at"]) - db.parse_iso(job["run_at"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return None


def _line(
    job: dict, decision: Decision | None, outcome: Outcome, failure: BaseException | None
) -> tuple[int, str, tuple, BaseException | None]:
    """What the attempt's line says: level, message, args and the exception to show."""
    ids = (job["id"], job["type"], job["attempts"])
    if isinstance(failure, db.DatabaseUnavailable):
        why = "its result could not be written (the job stays RUNNING until its lease expires)"
        return logging.ERROR, "job %s %s attempt %s: %s: %s", (*ids, why, failure), None
    if failure is not None:  # a bug of the runner: its traceback
        return logging.ERROR, "job %s %s attempt %s: runner error", ids, failure
    if outcome is Outcome.LOST and decision is not None:
        why = "claim lost (taken back by recovery); result %s not written"
        return logging.WARNING, f"job %s %s attempt %s: {why}", (*ids, decision.outcome), None
    if outcome is Outcome.RELEASED:
        why = "interrupted by shutdown, back to PENDING (not a failure)"
        return logging.INFO, "job %s %s attempt %s %s", (*ids, why), None
    if decision is not None and decision.note is not None:
        level, message, args, _ = decision.note
        return level, message, args, None
    return logging.INFO, "job %s %s attempt %s %s", (*ids, outcome), None
