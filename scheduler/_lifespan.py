"""Start and stop the job runner and the AsyncIOScheduler in the Litestar lifespan.

The scheduler must be started inside the running loop, so it is created here. It runs the
runner's housekeeping (lease renewal, recovery of jobs of dead runners) every lease/3 seconds
and the daily maintenance. The runner's own loop drains the queue; webhooks wake it through
``app.state.wake_runner``. The runner exists even when ``scheduler_enabled`` is false: the
cron route then is the only thing that runs jobs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from litestar import Litestar

from scheduler._maintenance import run_maintenance
from scheduler._runner import Runner

log = logging.getLogger("leadhook.jobs")
MAINTENANCE_FIRST_RUN_SECONDS = 60


@asynccontextmanager
async def scheduler_lifespan(app: Litestar) -> AsyncIterator[None]:
    state = app.state
    settings = state.settings
    runner = Runner(state.store, settings, clock=state.clock, services=state)
    state.runner = runner
    if not settings.scheduler_enabled:
        try:
            yield
        finally:
            await runner.stop()
        return

    await runner.start()
    state.wake_runner = runner.wake
    # APScheduler logs every execution at INFO ("Running job ..."): keep its warnings only.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    scheduler = AsyncIOScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
    )
    scheduler.add_job(
        runner.housekeeping,
        "interval",
        seconds=max(1.0, settings.job_lease_seconds / 3),
        id="jobs-housekeeping",
        name="renew job leases, take back jobs of dead runners",
    )

    async def maintenance() -> None:
        await run_maintenance(state.store, settings, state.clock())

    scheduler.add_job(
        maintenance,
        "interval",
        days=1,
        id="maintenance",
        name="daily maintenance (pruning)",
        next_run_time=datetime.now(UTC) + timedelta(seconds=MAINTENANCE_FIRST_RUN_SECONDS),
        misfire_grace_time=3600,
    )
    scheduler.start()
    state.scheduler = scheduler
    try:
        yield
    finally:
        state.wake_runner = None
        await runner.stop()
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)
