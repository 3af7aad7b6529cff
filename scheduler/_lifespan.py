"""Start and stop the job runner and the AsyncIOScheduler in the Litestar lifespan.

The runner gets the product's registry (:data:`scheduler._registry.JOB_HANDLERS`, filled by
``scheduler/job_handlers.py``) and the app's AI client (``app.state.ai``). It is on
``app.state.runner``, and :class:`JobsPort` on ``app.state.jobs`` is what the HTTP side may do
with it. It exists even when ``scheduler_enabled`` is false: the cron route then is the only
thing that runs jobs.

Otherwise the runner's main loop drains the queue, webhooks wake it through
``app.state.wake_runner`` (enqueue → start in milliseconds), and APScheduler (started inside the
running loop, so created here) runs the background work: the poll fallback every
``job_poll_seconds``, the runner's housekeeping (lease renewal, recovery of jobs of dead
runners) every lease/3 seconds, and the daily maintenance. No job piles up (``coalesce``, at
most one instance). On shutdown the poll stops first, then the runner (housekeeping keeps
renewing leases during its grace period), then the scheduler.

With several processes on one database (Postgres), a job committed by another process wakes
this runner too (``store.listen_for_jobs``: LISTEN/NOTIFY; the poll stays the fallback), and
the daily maintenance runs in the process whose turn it is (``store.maintenance_turn``: an
advisory lock and the time of the last run), once a day across all of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from litestar import Litestar

import db
from scheduler import job_handlers  # noqa: F401  (its decorators fill JOB_HANDLERS)
from scheduler._maintenance import run_maintenance
from scheduler._registry import JOB_HANDLERS
from scheduler._retry import PassResult
from scheduler._runner import Runner

log = logging.getLogger("leadhook.jobs")
MAINTENANCE_FIRST_RUN_SECONDS = 60
# The daily maintenance runs again only this long after the last run (in any process): a
# little less than a day, so that a process's daily tick is never just too early.
MAINTENANCE_EVERY = 23 * 3600
POLL_JOB, HOUSEKEEPING_JOB, MAINTENANCE_JOB = "jobs-poll", "jobs-housekeeping", "maintenance"


@dataclass(frozen=True)
class JobsPort:
    """What the HTTP side may do with the jobs: wake the runner (a webhook enqueued a job;
    safe from any thread) and run one bounded pass (the cron route)."""

    wake: Callable[[], None]
    run_pass: Callable[..., Awaitable[PassResult]]


@asynccontextmanager
async def scheduler_lifespan(app: Litestar) -> AsyncIterator[None]:
    state = app.state
    settings = state.settings
    runner = Runner(
        state.store,
        settings,
        registry=JOB_HANDLERS,
        ai=getattr(state, "ai", None),
        clock=state.clock,
        metrics=getattr(state, "metrics", None),
    )
    state.runner = runner
    state.jobs = JobsPort(wake=runner.wake, run_pass=runner.run_pass)
    if not settings.scheduler_enabled:
        try:
            yield
        finally:
            await runner.stop()
        return

    async with scheduled_runner(runner, maintenance=True) as scheduler:
        state.wake_runner = runner.wake
        state.scheduler = scheduler
        try:
            yield
        finally:
            state.wake_runner = None


@asynccontextmanager
async def scheduled_runner(
    runner: Runner, *, maintenance: bool = False, grace: float | None = None
) -> AsyncIterator[AsyncIOScheduler]:
    """Start ``runner`` and an AsyncIOScheduler with its poll and housekeeping jobs (and the
    daily maintenance); on exit stop them (``grace``: see :meth:`Runner.stop`)."""
    await runner.start()
    stop_listening = runner.store.listen_for_jobs(runner.wake)
    scheduler = _new_scheduler()
    _schedule_runner(scheduler, runner)
    if maintenance:
        _schedule_maintenance(scheduler, runner)
    scheduler.start()
    try:
        yield scheduler
    finally:
        stop_listening()
        scheduler.remove_job(POLL_JOB)
        await runner.stop(grace)
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # the shutdown is scheduled in the loop


def _new_scheduler() -> AsyncIOScheduler:
    # APScheduler logs every execution at INFO ("Running job ..."): keep its warnings only.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    return AsyncIOScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
    )


def _schedule_runner(scheduler: AsyncIOScheduler, runner: Runner) -> None:
    scheduler.add_job(
        runner.poll,
        "interval",
        seconds=runner.poll_seconds,
        id=POLL_JOB,
        name="look for due jobs (the poll fallback; webhooks wake the runner at once)",
        misfire_grace_time=None,  # a late poll still runs (once: coalesced), without a warning
    )
    scheduler.add_job(
        runner.housekeeping,
        "interval",
        seconds=max(1.0, runner.lease_seconds / 3),
        id=HOUSEKEEPING_JOB,
        name="renew job leases, take back jobs of dead runners",
    )


def _schedule_maintenance(scheduler: AsyncIOScheduler, runner: Runner) -> None:
    async def maintenance() -> None:
        now = runner.clock()
        turn = runner.store.maintenance_turn(now=db.iso(now), every_seconds=MAINTENANCE_EVERY)
        async with turn as mine:
            if mine:
                await run_maintenance(runner.store, runner.settings, now)
            else:
                log.info("daily maintenance: another process has run it or runs it now")

    scheduler.add_job(
        maintenance,
        "interval",
        days=1,
        id=MAINTENANCE_JOB,
        name="daily maintenance (pruning)",
        next_run_time=datetime.now(UTC) + timedelta(seconds=MAINTENANCE_FIRST_RUN_SECONDS),
        misfire_grace_time=3600,
    )
