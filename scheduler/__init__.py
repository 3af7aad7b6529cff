"""In-process background jobs: the runner, its job handlers, APScheduler, maintenance.

Public surface: :func:`scheduler_lifespan` (used by ``app.py``), :class:`Runner`,
:class:`RetryJobAt` (a handler asks to run again later without failing), :class:`Skipped`,
:class:`JobRunContext`, :func:`job_handler` (register a handler by type),
:func:`register_maintenance` (add a daily maintenance task), :data:`MAX_SNOOZES`.
"""

from scheduler import job_handlers
from scheduler._lifespan import scheduler_lifespan
from scheduler._maintenance import (
    MAINTENANCE_TASKS,
    MaintenanceContext,
    register_maintenance,
    run_maintenance,
)
from scheduler._registry import (
    JobRunContext,
    RetryJobAt,
    Skipped,
    get_handler,
    job_handler,
    register_job_handler,
    registered_types,
    unregister_job_handler,
)
from scheduler._runner import (
    MAX_BACKOFF_SECONDS,
    MAX_SNOOZES,
    PassResult,
    Runner,
    abandoned_runners,
    backoff_seconds,
)

__all__ = [
    "MAINTENANCE_TASKS",
    "MAX_BACKOFF_SECONDS",
    "MAX_SNOOZES",
    "JobRunContext",
    "MaintenanceContext",
    "PassResult",
    "RetryJobAt",
    "Runner",
    "Skipped",
    "abandoned_runners",
    "backoff_seconds",
    "get_handler",
    "job_handler",
    "job_handlers",
    "register_job_handler",
    "register_maintenance",
    "registered_types",
    "run_maintenance",
    "scheduler_lifespan",
    "unregister_job_handler",
]
