"""Job handlers by type, what a handler receives, and how it asks for a later retry.

A handler is ``async def handler(ctx: JobRunContext) -> Skipped | None``, registered for one or
more job types with :func:`job_handler`. It returns normally on success (``ctx.skip(reason)``
when there was nothing to do), raises :class:`RetryJobAt` to be run again at a given time
without that counting as a failure, and raises anything else to fail this attempt (retried
with backoff until the job's attempts are used up).

Handlers must be idempotent: a job may run again after a crash, a lost lease or a retry.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import db
from config import Settings

log = logging.getLogger("leadhook.jobs")


class RetryJobAt(Exception):
    """Raised by a handler: run this job again at ``when``; this attempt is not a failure.

    ``when`` is an aware datetime (naive means UTC) or a number of seconds from now. The job
    goes back to PENDING at that time with ``last_error = reason``. A job may do this at most
    :data:`scheduler.MAX_SNOOZES` times; after that it is FAILED.
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


@dataclass
class JobRunContext:
    """What a job handler gets: the claimed job row and the process's services."""

    job: dict
    store: db.Store
    settings: Settings
    clock: Callable[[], datetime]
    services: Any = None  # the app's state (or any object); AI client at ``services.ai``

    @property
    def ai(self) -> Any:
        """The AI client of the app (``app.state.ai``), or None when there is none."""
        return getattr(self.services, "ai", None)

    def now_iso(self) -> str:
        return db.iso(self.clock())

    def skip(self, reason: str) -> Skipped:
        log.info(
            "job %s %s attempt %s: nothing to do: %s",
            self.job["id"],
            self.job["type"],
            self.job["attempts"],
            reason,
        )
        return Skipped(reason)


JobHandler = Callable[[JobRunContext], Awaitable[Skipped | None]]
_HANDLERS: dict[str, JobHandler] = {}


def register_job_handler(job_type: str, handler: JobHandler, *, replace: bool = False) -> None:
    """Make ``handler`` the handler of ``job_type`` (``replace=True`` to override one)."""
    if job_type in _HANDLERS and not replace and _HANDLERS[job_type] is not handler:
        raise ValueError(f"job type {job_type} already has a handler")
    _HANDLERS[job_type] = handler


def unregister_job_handler(job_type: str) -> JobHandler | None:
    """Remove the handler of ``job_type``; return it (None if there was none)."""
    return _HANDLERS.pop(job_type, None)


def job_handler(*job_types: str) -> Callable[[JobHandler], JobHandler]:
    """Decorator: register the function as the handler of each of ``job_types``."""

    def register(fn: JobHandler) -> JobHandler:
        for job_type in job_types:
            register_job_handler(job_type, fn)
        return fn

    return register


def get_handler(job_type: str) -> JobHandler | None:
    return _HANDLERS.get(job_type)


def registered_types() -> list[str]:
    return sorted(_HANDLERS)
