"""One attempt of a claimed job: the handler in the job's context, then the fenced write.

:meth:`AttemptRunner.run` runs the job's handler (from the runner's :class:`JobRegistry`)
inside the telemetry source ``background_job:<TYPE>`` and the job's :class:`ai.JobContext`, so
every AI call it makes is attributed to this job and attempt, also from threads it starts. It
returns the :class:`scheduler._retry.Decision` for what happened (an unknown type is decided
too, without running anything) and logs the decision's line: one line per attempt (a failed
AI call names its endpoint, status, attempt and job), its traceback at DEBUG only.

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
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import db
from ai import AIClient, JobContext, ai_telemetry_source, job_context
from config import Settings
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
        with ai_telemetry_source(f"background_job:{job_type}"), job_context(attribution):
            ended = await self._call_handler(job)
            decision = decide(job, ended, self.clock(), self.rng)
            if decision.note is not None:
                level, message, args, exc_info = decision.note
                log.log(level, message, *args)
                if exc_info is not None and log.isEnabledFor(logging.DEBUG):
                    log.debug(
                        "job %s attempt %s: traceback",
                        job["id"],
                        job["attempts"],
                        exc_info=exc_info,
                    )
        return decision

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
        if not written:
            log.warning(
                "job %s %s attempt %s: claim lost (taken back by recovery); result %s not written",
                job["id"],
                job["type"],
                job["attempts"],
                decision.outcome,
            )
            return Outcome.LOST, successor
        return decision.outcome, successor

    def _now_iso(self) -> str:
        return db.iso(self.clock())
