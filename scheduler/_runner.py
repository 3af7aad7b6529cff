"""The job runner: claim due jobs, run them as asyncio tasks, record what happened.

One :class:`Runner` per server process. Its main loop claims as many due jobs as it has free
slots (``settings.job_concurrency``), runs each as an asyncio task inside the telemetry source
``background_job:<TYPE>`` and the job's :class:`ai.JobContext`, and sleeps until a job
finishes, a webhook wakes it (:meth:`Runner.wake`) or the poll interval passes. The cron route
runs the same code once, bounded (:meth:`Runner.run_pass`).

Every job write goes through the store's writer (group commit). Outcomes of a claim:

- success → SUCCEEDED (``Skipped`` results count as skipped, still SUCCEEDED);
- :class:`RetryJobAt`, or :class:`ai.AIRetryableError` with ``retry_after`` → PENDING at that
  time, ``snoozes + 1``, not a failure (at most :data:`MAX_SNOOZES` times, then FAILED);
- any other exception → PENDING at now + min(15 min, 2^failures s + jitter), or FAILED when
  failures (attempts - snoozes) reach ``max_attempts``;
- unknown job type → FAILED ``unknown job type <TYPE>`` at once;
- shutdown past the grace period → the task is cancelled and the job PENDING again, not a
  failure;
- claim lost (the lease expired and the job was recovered) → nothing is written.

Recovery: the runner's id is ``<hostname>:<pid>:<random hex>``. RUNNING jobs of a runner on
this host whose process is gone (or is this process, under an earlier runner) are taken back
at once; any other runner's jobs once their lease (``locked_at``, renewed by live runners every
lease/3) is older than ``settings.job_lease_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import db
from ai import AIRetryableError, JobContext, ai_telemetry_source, job_context
from config import Settings
from db import JobResult
from db.vocab import FAILED, PENDING, SUCCEEDED
from scheduler._registry import JobRunContext, RetryJobAt, Skipped, get_handler

log = logging.getLogger("leadhook.jobs")

MAX_BACKOFF_SECONDS = 15 * 60
MAX_SNOOZES = 20
WRITE_TIMEOUT_SECONDS = 10.0
WRITE_RETRIES = 5

# Runner ids of this process that are alive: never treated as abandoned.
_LIVE_RUNNERS: set[str] = set()


def new_runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def backoff_seconds(failures: int, jitter: float) -> float:
    """Delay before retrying after the ``failures``-th failure: min(15 min, 2^n s + jitter)."""
    return min(float(MAX_BACKOFF_SECONDS), 2.0 ** min(max(failures, 1), 20) + jitter)


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's process: alive
        return True
    return True


def abandoned_runners(
    lockers: list[str],
    *,
    host: str | None = None,
    pid: int | None = None,
    live: set[str] | None = None,
    alive: Callable[[int], bool] = pid_alive,
) -> list[str]:
    """The runner ids among ``lockers`` known to be dead without waiting for their lease.

    That is runners on this host whose process no longer exists, and runners that name this
    very process but are not one of its live runners (an earlier server with the same pid,
    e.g. pid 1 in a restarted container). Runners of other hosts wait for their lease.
    """
    host = socket.gethostname() if host is None else host
    pid = os.getpid() if pid is None else pid
    live = _LIVE_RUNNERS if live is None else live
    dead = []
    for locker in lockers:
        if locker in live:
            continue
        parts = locker.rsplit(":", 2)
        if len(parts) != 3 or parts[0] != host:
            continue
        try:
            locker_pid = int(parts[1])
        except ValueError:
            continue
        if locker_pid == pid or not alive(locker_pid):
            dead.append(locker)
    return dead


@dataclass
class PassResult:
    """What a runner pass did (the cron route's counts)."""

    released_stale: int = 0  # RUNNING jobs of dead runners taken back (or failed)
    processed: int = 0  # jobs claimed and run
    succeeded: int = 0  # SUCCEEDED, including skipped
    failed: int = 0  # FAILED: attempts used up, unknown type, too many retry requests
    retried: int = 0  # back to PENDING for a later attempt (backoff or a retry request)
    skipped: int = 0  # SUCCEEDED without work (message vanished, outbound, ...)
    lost: int = 0  # claim lost before the result was written: nothing written
    released: int = 0  # interrupted by shutdown, PENDING again
    remaining: int = 0  # due PENDING jobs after the pass

    def record(self, outcome: str) -> None:
        if outcome == "skipped":
            self.skipped += 1
            self.succeeded += 1
        elif outcome in ("succeeded", "failed", "retried", "lost", "released"):
            setattr(self, outcome, getattr(self, outcome) + 1)

    def as_json(self) -> dict[str, int]:
        """The cron route's counts, camelCase."""
        return {
            "releasedStale": self.released_stale,
            "processed": self.processed,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "retried": self.retried,
            "skipped": self.skipped,
            "remaining": self.remaining,
        }

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Runner:
    """Claims and runs background jobs for one process. See the module docstring."""

    def __init__(
        self,
        store: db.Store,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = db.utcnow,
        rng: Callable[[], float] = random.random,
        services: Any = None,
        runner_id: str | None = None,
        concurrency: int | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.rng = rng
        self.services = services
        self.id = runner_id or new_runner_id()
        self.concurrency = max(1, concurrency or settings.job_concurrency)
        self.lease_seconds = settings.job_lease_seconds
        self.poll_seconds = settings.job_poll_seconds
        self.totals = PassResult()
        self._running: dict[int, dict] = {}  # job id → the claimed row, until its result is written
        self._chained: set[int] = set()  # main-loop jobs whose result write also claims the next
        self._successors: dict[int, dict] = {}  # job id → the job its result write claimed
        self._loop_tasks: set[asyncio.Task] = set()
        self._all_tasks: set[asyncio.Task] = set()
        self._wake_event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task | None = None
        self._stopping = False
        _LIVE_RUNNERS.add(self.id)

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
            self._wake_event.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._wake_event.set)

    async def start(self) -> None:
        """Take back jobs of dead runners, then start the main loop (in the running loop)."""
        if self._main is not None:
            return
        self._loop = asyncio.get_running_loop()
        _LIVE_RUNNERS.add(self.id)
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
        self._successors.clear()
        _LIVE_RUNNERS.discard(self.id)
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
                    self._spawn(job, result, tasks)
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
        """Take back RUNNING jobs of dead runners (see :func:`abandoned_runners`) and jobs
        whose lease expired; returns ``{"released": [...], "failed": [...]}``."""
        now = self.clock()
        lockers = await self.store.running_lockers()
        dead = abandoned_runners(lockers)
        recovered = await self._write(
            partial(
                self.store.recover_jobs,
                now=db.iso(now),
                dead_runners=dead,
                locked_before=db.iso(now - timedelta(seconds=self.lease_seconds)),
                keep_ids=list(self._running),
            )
        )
        if recovered["released"] or recovered["failed"]:
            log.warning(
                "took back jobs of stopped runners: %d pending again %s, %d failed %s",
                len(recovered["released"]),
                recovered["released"][:20],
                len(recovered["failed"]),
                recovered["failed"][:20],
            )
        return recovered

    async def renew_leases(self) -> None:
        """Move ``locked_at`` of this runner's running jobs to now."""
        ids = list(self._running)
        if not ids:
            return
        renewed = await self._write(
            partial(self.store.renew_leases, runner_id=self.id, job_ids=ids, now=self._now_iso())
        )
        lost = set(ids) - set(renewed)
        lost &= set(self._running)  # those finished meanwhile are not lost
        if lost:
            log.warning("job runner %s lost its claim on jobs %s", self.id, sorted(lost))

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
                    if woken or await self._has_due():
                        claimed = await self._claim(free)
                except Exception as exc:
                    log.warning("claiming jobs failed, retrying at the next poll: %s", exc)
                for job in claimed:
                    self._spawn(job, self.totals, self._loop_tasks)
            if self._stopping:
                break
            if free > 0 and len(claimed) == free:
                continue  # there may be more due: claim again once a slot is free
            try:
                await asyncio.wait_for(self._wake_event.wait(), self.poll_seconds)
                woken = True
            except TimeoutError:
                woken = False

    # -- one job ----------------------------------------------------------------------------

    def _now_iso(self) -> str:
        return db.iso(self.clock())

    async def _has_due(self) -> bool:
        """A read (no write lock): is any job due? Polls claim only when one is."""
        return await self.store.has_due(now=self._now_iso())

    async def _claim(self, n: int) -> list[dict]:
        claimed = await self.store.claim_jobs(
            runner_id=self.id, now=self._now_iso(), limit=n, timeout=WRITE_TIMEOUT_SECONDS
        )
        for job in claimed:
            self._running[job["id"]] = job
        return claimed

    def _spawn(self, job: dict, result: PassResult, tasks: set[asyncio.Task]) -> None:
        if result is self.totals:
            self._chained.add(job["id"])
        task = asyncio.create_task(self._run_job(job, result), name=f"job {job['id']}")
        tasks.add(task)
        self._all_tasks.add(task)
        task.add_done_callback(tasks.discard)
        task.add_done_callback(self._all_tasks.discard)
        task.add_done_callback(lambda _: self._wake_event.set())

    async def _run_job(self, job: dict | None, result: PassResult) -> None:
        """Run ``job``, then the successors its result claimed (see :meth:`_finish`)."""
        while job is not None:
            result.processed += 1
            outcome = "released"
            try:
                outcome = await self._execute(job)
            except asyncio.CancelledError:
                raise  # stop() puts the job (and a claimed successor) back
            except db.DatabaseUnavailable as exc:
                # The result could not be written: the job stays RUNNING until its lease expires.
                log.error("job %s: its result could not be written: %s", job["id"], exc)
                self._running.pop(job["id"], None)
                outcome = "lost"
            except Exception:
                log.exception("job %s: runner error", job["id"])
                self._running.pop(job["id"], None)
                outcome = "lost"
            finally:
                result.record(outcome)
            job = self._successors.pop(job["id"], None)

    async def _execute(self, job: dict) -> str:
        """Run the handler inside the job's telemetry source and context; write the result."""
        job_type = job["type"]
        context = JobContext(
            job_id=job["id"],
            job_type=job_type,
            attempt=job["attempts"],
            client_id=job.get("client_id"),
            lead_id=job.get("lead_id"),
            message_id=job.get("message_id"),
        )
        with ai_telemetry_source(f"background_job:{job_type}"), job_context(context):
            handler = get_handler(job_type)
            if handler is None:
                log.error("job %s: unknown job type %s", job["id"], job_type)
                return await self._fail(job, f"unknown job type {job_type}")
            ctx = JobRunContext(
                job=job,
                store=self.store,
                settings=self.settings,
                clock=self.clock,
                services=self.services,
            )
            try:
                value = handler(ctx)
                if inspect.isawaitable(value):
                    value = await value
            except asyncio.CancelledError:
                raise
            except RetryJobAt as exc:
                return await self._snooze(job, exc.when, exc.reason)
            except AIRetryableError as exc:
                if exc.retry_after is not None:
                    return await self._snooze(job, float(exc.retry_after), f"{exc}")
                return await self._failure(job, exc)
            except Exception as exc:
                return await self._failure(job, exc)
        outcome = "skipped" if isinstance(value, Skipped) else "succeeded"
        return await self._finish(job, JobResult(SUCCEEDED), outcome)

    async def _failure(self, job: dict, exc: BaseException) -> str:
        failures = job["attempts"] - job.get("snoozes", 0)
        error = f"{type(exc).__name__}: {exc}"
        if failures >= job["max_attempts"]:
            log.warning(
                "job %s %s failed for good (attempt %s, %d failures of %d): %s",
                job["id"],
                job["type"],
                job["attempts"],
                failures,
                job["max_attempts"],
                error,
                exc_info=exc,
            )
            return await self._fail(job, error)
        now = self.clock()
        delay = backoff_seconds(failures, self.rng())
        log.warning(
            "job %s %s attempt %s failed, retrying in %.1fs: %s",
            job["id"],
            job["type"],
            job["attempts"],
            delay,
            error,
            exc_info=exc,
        )
        run_at = db.iso(now + timedelta(seconds=delay))
        return await self._finish(job, JobResult(PENDING, error, run_at), "retried")

    async def _snooze(self, job: dict, when: datetime | float, reason: str) -> str:
        if job.get("snoozes", 0) >= MAX_SNOOZES:
            return await self._fail(
                job, f"gave up after {MAX_SNOOZES} rate-limit retries: {reason}"
            )
        now = self.clock()
        run_at = now + timedelta(seconds=when) if isinstance(when, int | float) else when
        run_at = max(run_at, now)
        log.info(
            "job %s %s attempt %s asks to run again at %s: %s",
            job["id"],
            job["type"],
            job["attempts"],
            db.iso(run_at),
            reason,
        )
        result = JobResult(PENDING, reason, db.iso(run_at), snooze=True)
        return await self._finish(job, result, "retried")

    async def _fail(self, job: dict, error: str) -> str:
        return await self._finish(job, JobResult(FAILED, error), "failed")

    async def _finish(self, job: dict, result: JobResult, outcome: str) -> str:
        """Write the claim's result (fenced); ``lost`` when the claim was taken away.

        A main-loop job claims its successor in the same transaction as its result: one
        commit for each finished job while there is a backlog.
        """
        chain = job["id"] in self._chained and not self._stopping
        self._chained.discard(job["id"])
        finish = partial(self.store.finish_job, job, result, runner_id=self.id)
        claimed: list[dict] = []
        if chain:
            try:
                written, claimed = await finish(
                    now=self._now_iso(), claim_limit=1, timeout=WRITE_TIMEOUT_SECONDS
                )
            except db.DatabaseUnavailable:  # the result first; the main loop claims
                written, _ = await self._write(partial(finish, now=self._now_iso()))
        else:
            written, _ = await self._write(partial(finish, now=self._now_iso()))
        self._running.pop(job["id"], None)
        for next_job in claimed:  # this task runs it next: no new task, no main-loop turn
            self._running[next_job["id"]] = next_job
            self._chained.add(next_job["id"])
            self._successors[job["id"]] = next_job
        if not written:
            log.warning(
                "job %s %s attempt %s: claim lost (taken back by recovery); result %s not written",
                job["id"],
                job["type"],
                job["attempts"],
                outcome,
            )
            return "lost"
        return outcome

    async def _write(self, operation: Callable[..., Any]) -> Any:
        """A runner write (``operation(timeout=...)``, a store method): retried a few times
        while the database cannot take it."""
        for attempt in range(WRITE_RETRIES):
            try:
                return await operation(timeout=WRITE_TIMEOUT_SECONDS)
            except db.DatabaseUnavailable as exc:
                if attempt == WRITE_RETRIES - 1:
                    raise
                log.warning("job write refused (%s), retrying", exc)
                await asyncio.sleep(min(2**attempt, 10) * 0.5)
        raise AssertionError("unreachable")

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
