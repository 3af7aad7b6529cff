"""The job runner: claim due jobs, run them as asyncio tasks, record what happened.

One :class:`Runner` per server process. Its main loop claims as many due jobs as it has free
slots (``settings.job_concurrency``) and runs each as an asyncio task (one attempt:
:mod:`scheduler._attempt`; how it ends: :mod:`scheduler._retry`). It then waits until a job
finishes or a webhook wakes it (:meth:`Runner.wake`): both claim at once. The poll fallback is
:meth:`Runner.poll`, an APScheduler job every ``job_poll_seconds`` (``scheduler._lifespan``):
it claims only when a read shows a due job. A runner started without that job runs only
what wakes it. In the main loop a finished job's result write also claims the next due job
(``chain``), run by the same task. The cron route runs the same code once, bounded and without
chaining (:meth:`Runner.run_pass`).

Shutdown (:meth:`Runner.stop`): no more claims; running jobs get a grace period, then are
cancelled and put back to PENDING (not a failure). Recovery and leases: :mod:`scheduler._recovery`;
:meth:`Runner.housekeeping` is the APScheduler job that renews leases and takes back jobs of
dead runners. Every job write goes through the store's writer (group commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime

import db
from ai import AIClient
from config import Settings
from db.vocab import JOB_TYPES
from monitoring import Metrics
from scheduler import _recovery
from scheduler._attempt import AttemptRunner
from scheduler._recovery import LIVE_RUNNERS, LiveRunners, new_runner_id
from scheduler._registry import JobRegistry
from scheduler._retry import WRITE_TIMEOUT_SECONDS, Outcome, PassResult

log = logging.getLogger("leadhook.jobs")


class Runner:
    """Claims and runs background jobs for one process. See the module docstring.

    ``registry`` has the handlers; ``ai`` is what ``JobRunContext.ai`` gives them; ``live``
    is where the runner is known alive while it runs (one per process by default);
    ``metrics``: where each attempt is counted (the app's, ``app.state.metrics``).
    """

    def __init__(
        self,
        store: db.Store,
        settings: Settings,
        *,
        registry: JobRegistry,
        ai: AIClient | None = None,
        clock: Callable[[], datetime] = db.utcnow,
        rng: Callable[[], float] = random.random,
        runner_id: str | None = None,
        concurrency: int | None = None,
        live: LiveRunners = LIVE_RUNNERS,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.id = runner_id or new_runner_id()
        self.concurrency = max(1, concurrency or settings.job_concurrency)
        self.lease_seconds = settings.job_lease_seconds
        self.poll_seconds = settings.job_poll_seconds
        self.live = live
        self.totals = PassResult()  # the main loop's counts
        self._attempts = AttemptRunner(
            store=store,
            settings=settings,
            registry=registry,
            clock=clock,
            rng=rng,
            ai=ai,
            runner_id=self.id,
            metrics=metrics,
        )
        if ai is not None:  # each attempt's line says its AI calls and their cost
            ai.observers.append(self._attempts.count_ai)
        if metrics is not None:  # every type's series, at 0 until its first attempt
            metrics.bind(job_types=JOB_TYPES, job_outcomes=[str(o) for o in Outcome])
        self._running: dict[int, dict] = {}  # job id → the claimed row, until its result is written
        self._loop_tasks: set[asyncio.Task] = set()
        self._all_tasks: set[asyncio.Task] = set()
        self._wake_event = asyncio.Event()
        self._woken = False  # the event was set by a wake (claim at once), not by a poll
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task | None = None
        self._stopping = False
        live.add(self.id)

    # -- public -----------------------------------------------------------------------------

    @property
    def running_job_ids(self) -> list[int]:
        return sorted(self._running)

    def wake(self) -> None:
        """Claim now rather than at the next poll. Safe from the loop and from other threads."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is loop:
            self._wake_now()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._wake_now)

    async def poll(self) -> None:
        """The poll fallback (an APScheduler job): claim if a read shows a due job, e.g. a
        retry whose time has come. Runs in the runner's loop."""
        self._wake_event.set()

    async def start(self) -> None:
        """Take back jobs of dead runners, then start the main loop (in the running loop)."""
        if self._main is not None:
            return
        self._loop = asyncio.get_running_loop()
        self.live.add(self.id)
        try:
            await self.recover()
        except db.DatabaseUnavailable as exc:
            log.warning("start-up recovery skipped (housekeeping retries it): %s", exc)
        self._main = asyncio.create_task(self._main_loop(), name=f"leadhook-runner {self.id}")
        log.info("job runner %s started (concurrency %d)", self.id, self.concurrency)

    async def stop(self, grace: float | None = None) -> None:
        """Stop claiming, let running jobs finish for ``grace`` seconds, then cancel the rest
        and put their jobs back to PENDING (not a failure)."""
        grace = self.settings.job_grace_seconds if grace is None else grace
        self._stopping = True
        self.wake()
        if self._main is not None:
            try:
                await self._main
            except Exception:
                log.exception("job runner loop failed")
        tasks = [t for t in self._all_tasks if not t.done()]
        if tasks:
            log.info("waiting up to %.1fs for %d running job(s)", grace, len(tasks))
            _, pending = await asyncio.wait(tasks, timeout=grace) if grace > 0 else ((), tasks)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        await self._release_running("interrupted by shutdown; not counted as a failure")
        self.live.discard(self.id)
        ai = self._attempts.ai
        if ai is not None and self._attempts.count_ai in ai.observers:
            ai.observers.remove(self._attempts.count_ai)
        log.info("job runner %s stopped", self.id)

    async def run_pass(self, *, limit: int = 20, budget_seconds: float = 25.0) -> PassResult:
        """One bounded pass (the cron route): take back abandoned jobs, then claim and run up
        to ``limit`` due jobs, ``concurrency`` at a time, claiming no more once
        ``budget_seconds`` have passed; jobs already started are waited for."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        result = PassResult()
        started = time.monotonic()
        recovered = await self.recover()
        result.released_stale = len(recovered["released"]) + len(recovered["failed"])
        tasks: set[asyncio.Task] = set()
        claimed_total = 0
        while not self._stopping:
            elapsed = time.monotonic() - started
            free = min(self.concurrency - len(tasks), limit - claimed_total)
            claimed: list[dict] = []
            if free > 0 and elapsed < budget_seconds:
                claimed = await self._claim(free)
                claimed_total += len(claimed)
                for job in claimed:
                    self._spawn(job, result, tasks, chain=False)
            if not tasks:
                if not claimed:
                    break
                continue
            if claimed and len(claimed) == free:
                continue  # slots filled: more may be due, but wait for a free slot first
            timeout = max(0.0, budget_seconds - (time.monotonic() - started))
            if claimed_total >= limit or timeout <= 0:
                break
            await asyncio.wait(set(tasks), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if tasks:
            await asyncio.wait(set(tasks))
        result.remaining = await self.store.count_due(now=self._now_iso())
        return result

    async def recover(self) -> dict[str, list[int]]:
        """Take back RUNNING jobs of dead runners and jobs whose lease expired (never this
        runner's own); returns ``{"released": [...], "failed": [...]}``."""
        return await _recovery.recover(
            self.store,
            now=self.clock(),
            lease_seconds=self.lease_seconds,
            live=self.live,
            keep_ids=list(self._running),
        )

    async def renew_leases(self) -> None:
        """Move ``locked_at`` of this runner's running jobs to now."""
        await _recovery.renew_leases(
            self.store, runner_id=self.id, running=self._running, now=self._now_iso()
        )

    async def housekeeping(self) -> None:
        """Renew our leases and take back jobs of dead runners (an APScheduler job)."""
        try:
            await self.renew_leases()
            await self.recover()
        except db.DatabaseUnavailable as exc:
            log.warning("job housekeeping skipped: %s", exc)

    # -- the main loop ----------------------------------------------------------------------

    async def _main_loop(self) -> None:
        woken = True  # by a webhook or a finished job: claim at once; on a poll, look first
        while not self._stopping:
            self._wake_event.clear()
            free = self.concurrency - len(self._loop_tasks)
            claimed: list[dict] = []
            if free > 0:
                try:
                    if woken or await self.store.has_due(now=self._now_iso()):
                        claimed = await self._claim(free)
                except Exception as exc:
                    log.warning("claiming jobs failed, retrying at the next poll: %s", exc)
                for job in claimed:
                    self._spawn(job, self.totals, self._loop_tasks, chain=True)
            if self._stopping:
                break
            if free > 0 and len(claimed) == free:
                continue  # there may be more due: claim again once a slot is free
            await self._wake_event.wait()
            woken, self._woken = self._woken, False

    def _wake_now(self) -> None:
        self._woken = True
        self._wake_event.set()

    # -- claims and their tasks -------------------------------------------------------------

    def _now_iso(self) -> str:
        return db.iso(self.clock())

    async def _claim(self, n: int) -> list[dict]:
        claimed = await self.store.claim_jobs(
            runner_id=self.id, now=self._now_iso(), limit=n, timeout=WRITE_TIMEOUT_SECONDS
        )
        for job in claimed:
            self._running[job["id"]] = job
        return claimed

    def _spawn(
        self, job: dict, result: PassResult, tasks: set[asyncio.Task], *, chain: bool
    ) -> None:
        """Run ``job`` in a task counted in ``result``; ``chain``: its result write claims
        the next job, which the same task runs (the main loop)."""
        task = asyncio.create_task(self._run_job(job, result, chain), name=f"job {job['id']}")
        tasks.add(task)
        self._all_tasks.add(task)
        task.add_done_callback(tasks.discard)
        task.add_done_callback(self._all_tasks.discard)
        task.add_done_callback(lambda _: self._wake_now())

    async def _run_job(self, job: dict | None, result: PassResult, chain: bool) -> None:
        """Run ``job``, then (with ``chain``) each successor its result write claimed."""
        while job is not None:
            result.processed += 1
            outcome, successor = Outcome.RELEASED, None
            decision, ran, failure = None, None, None
            started = time.perf_counter()
            try:
                decision = await self._attempts.run(job)
                ran = time.perf_counter() - started
                chained = chain and not self._stopping  # no new claims once stopping
                outcome, successor = await self._attempts.write(job, decision, chain=chained)
            except Exception as exc:
                # DatabaseUnavailable: the result could not be written, the job stays RUNNING
                # until its lease expires; anything else is a bug of the runner.
                failure, outcome = exc, Outcome.LOST
            finally:
                result.record(outcome)
                self._attempts.report(job, decision, outcome, ran, failure)
            # Not reached on cancellation: stop() puts the job back.
            self._running.pop(job["id"], None)
            if successor is not None:
                self._running[successor["id"]] = successor
            job = successor

    async def _release_running(self, reason: str) -> None:
        """Put the jobs whose result was never written back to PENDING (not a failure)."""
        jobs = list(self._running.values())
        if not jobs:
            return
        try:
            released = await self.store.release_jobs(
                jobs, runner_id=self.id, now=self._now_iso(), reason=reason
            )
        except db.DatabaseUnavailable as exc:
            log.error("could not put back %d interrupted job(s): %s", len(jobs), exc)
            return
        for job in jobs:
            self._running.pop(job["id"], None)
        log.warning("put %d interrupted job(s) back to PENDING", released)
