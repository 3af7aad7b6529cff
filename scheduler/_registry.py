"""Job handlers by type, what a handler receives, and how it asks for a later retry.

A handler is ``async def handler(ctx: JobRunContext) -> Skipped | None``, registered for one or
more job types in a :class:`JobRegistry`. It returns normally on success (``ctx.skip(reason)``
when there was nothing to do), raises :class:`RetryJobAt` to be run again at a given time
without that counting as a failure, and raises anything else to fail this attempt (retried
with backoff until the job's attempts are used up).

Each :class:`scheduler.Runner` is given its registry. The product's handlers
(``scheduler/job_handlers.py``) register with :func:`job_handler` into :data:`JOB_HANDLERS`,
the registry the server's lifespan hands to its runner. A type registered in no runner's
registry fails as ``unknown job type <TYPE>``.

Handlers must be idempotent: a job may run again after a crash, a lost lease or a retry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import db
from ai import AIClient
from config import Settings


class RetryJobAt(Exception):
    """Raised by a handler: run this job again at ``when``; this attempt is not a failure.

    ``when`` is an aware datetime (naive means UTC) or a number of seconds from now. The job
    goes back to PENDING at that time with ``last_error = reason``. A job may do this at most
    ``MAX_SNOOZES`` (20) times; after that it is FAILED.
    """

    def __init__(self, when: datetime | float, reason: str) -> None:
        super().__init__(reason)
        if isinstance(when, datetime) and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        self.when = when
        self.reason = reason


@dataclass(frozen=True)
class Skipped:
    """A handler's result meaning "succeeded without doing anything", and why."""

    reason: str


@dataclass(frozen=True)
class FinishWith:
    """A handler's result meaning "succeeded; write these with the job's SUCCEEDED": store
    write operations ``(name, args)`` of :data:`db.vocab.FINISH_WRITES`, in the finish's
    transaction (one commit fewer than writing them first). They must be idempotent: they
    also run when the claim was lost, and a re-run of the job writes them again."""

    writes: tuple[tuple[str, tuple], ...]


@dataclass
class JobRunContext:
    """What a job handler gets: the claimed job row and what it may use to do its work."""

    job: dict
    store: db.Store
    settings: Settings
    clock: Callable[[], datetime]
    ai: AIClient | None = None  # the app's AI client; None when the runner was given none

    def now_iso(self) -> str:
        return db.iso(self.clock())

    def skip(self, reason: str) -> Skipped:
        """Succeed without work; the attempt's line (scheduler._attempt) gives ``reason``."""
        return Skipped(reason)

    def finish_with(self, *writes: tuple[str, tuple]) -> FinishWith:
        """Succeed, writing each store operation ``(name, args)`` in the job's finish."""
        return FinishWith(tuple(writes))


JobHandler = Callable[[JobRunContext], Awaitable[Skipped | FinishWith | None]]


class JobRegistry:
    """The handler of each job type, for the runners given this registry."""

    def __init__(self) -> None:
        self._handlers: dict[str, JobHandler] = {}

    def register(self, job_type: str, handler: JobHandler, *, replace: bool = False) -> None:
        """Make ``handler`` the handler of ``job_type`` (``replace=True`` to override one)."""
        known = self._handlers.get(job_type)
        if known is not None and known is not handler and not replace:
            raise ValueError(f"job type {job_type} already has a handler")
        self._handlers[job_type] = handler

    def unregister(self, job_type: str) -> JobHandler | None:
        """Remove the handler of ``job_type``; return it (None if there was none)."""
        return self._handlers.pop(job_type, None)

    def handler(self, *job_types: str) -> Callable[[JobHandler], JobHandler]:
        """Decorator: register the function as the handler of each of ``job_types``."""

        def register(fn: JobHandler) -> JobHandler:
            for job_type in job_types:
                self.register(job_type, fn)
            return fn

        return register

    def get(self, job_type: str) -> JobHandler | None:
        return self._handlers.get(job_type)

    def types(self) -> list[str]:
        return sorted(self._handlers)

    def __contains__(self, job_type: object) -> bool:
        return job_type in self._handlers


# The product's job types (filled by scheduler/job_handlers.py); the lifespan's runner uses it.
JOB_HANDLERS = JobRegistry()


def job_handler(*job_types: str) -> Callable[[JobHandler], JobHandler]:
    """Decorator: register the function in :data:`JOB_HANDLERS` for each of ``job_types``."""
    return JOB_HANDLERS.handler(*job_types)
