"""In-process background jobs: the runner, its job handlers, APScheduler, maintenance.

- :class:`Runner` (``Runner(store, settings, registry=..., ai=...)``): the main loop,
  :meth:`Runner.wake`, the bounded :meth:`Runner.run_pass`, returning a :class:`PassResult`;
- :class:`JobRegistry`: handlers by job type; :func:`job_handler` registers into the
  product's registry, the one :func:`scheduler_lifespan` (used by ``app.py``) hands to its
  runner; :class:`JobsPort` is what the HTTP side may do with the runner;
- what a handler gets and returns: :class:`JobRunContext`, :class:`Skipped`,
  :class:`FinishWith` (succeed, with writes in the job's finishing transaction),
  :class:`RetryJobAt` (run again later without failing);
- :func:`register_maintenance`: add a daily maintenance task.

The parts: ``_runner`` (loop and pass), ``_attempt`` (one claim), ``_retry`` (the pure retry
decision and the counts), ``_recovery`` (runner ids, liveness, leases), ``_registry``,
``_lifespan``, ``_maintenance``; tests may import them.
"""

from scheduler._lifespan import JobsPort, scheduler_lifespan
from scheduler._maintenance import register_maintenance
from scheduler._registry import (
    FinishWith,
    JobRegistry,
    JobRunContext,
    RetryJobAt,
    Skipped,
    job_handler,
)
from scheduler._retry import PassResult
from scheduler._runner import Runner

__all__ = [
    "FinishWith",
    "JobRegistry",
    "JobRunContext",
    "JobsPort",
    "PassResult",
    "RetryJobAt",
    "Runner",
    "Skipped",
    "job_handler",
    "register_maintenance",
    "scheduler_lifespan",
]
