"""The job runner's semantics, driven by a clock the tests move (no sleeping for backoff)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta
from functools import partial

import pytest

import db
from ai import AIRateLimited, AIRetryableError
from config import Settings
from scheduler import JobRegistry, RetryJobAt, Runner
from scheduler._lifespan import scheduled_runner
from scheduler._recovery import LiveRunners, abandoned_runners
from scheduler._retry import MAX_SNOOZES, backoff_seconds
from tests.job_helpers import (
    HELD_BACK,
    RECORD,
    FakeClock,
    create_runs_table,
    drain_in_thread,
    insert_jobs,
    job,
    registry_of_test_jobs,
    release_jobs,
    runs,
    seed_client,
    statuses,
    wait_for,
)

pytestmark = pytest.mark.anyio

FLAKY = "TEST_FLAKY"
GATED = "TEST_GATED"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client_id(database) -> int:
    create_runs_table(database)
    return seed_client(database)


@pytest.fixture
def job_settings(db_path) -> Settings:
    return Settings(db_path=str(db_path), job_concurrency=4, job_lease_seconds=60)


@pytest.fixture
def registry() -> JobRegistry:
    """This test's job types: the test helpers' (RECORD, BLOCK) and what ``handler`` adds."""
    return registry_of_test_jobs()


@pytest.fixture
def make_runner(store, job_settings, clock, registry):
    made: list[Runner] = []

    def make(**kwargs) -> Runner:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("rng", lambda: 0.25)
        kwargs.setdefault("registry", registry)
        runner = Runner(store, job_settings, **kwargs)
        made.append(runner)
        return runner

    yield make


@pytest.fixture
def handler(registry):
    """``handler(TYPE, fn)`` registers a test handler in this test's registry."""

    def register(job_type: str, fn) -> None:
        registry.register(job_type, fn, replace=True)

    return register


def failing(exc: BaseException):
    async def fail(ctx) -> None:
        raise exc

    return fail


# -- success, backoff, max attempts -------------------------------------------------------------


async def test_a_job_that_succeeds_is_succeeded_with_its_claim_cleared(
    database, client_id, make_runner, clock
):
    [job_id] = insert_jobs(database, client_id)
    runner = make_runner()
    result = await runner.run_pass()
    row = job(database, job_id)
    assert (row["status"], row["attempts"], row["snoozes"]) == ("SUCCEEDED", 1, 0)
    assert row["started_at"] == row["finished_at"] == clock.iso()
    assert row["locked_by"] is None and row["locked_at"] is None and row["last_error"] is None
    assert (result.processed, result.succeeded, result.remaining) == (1, 1, 0)
    assert [r["job_id"] for r in runs(database)] == [job_id]


async def test_claim_takes_due_jobs_oldest_first_and_no_more_than_asked(
    database, client_id, store, clock
):
    late = insert_jobs(database, client_id, 2, run_at=clock.iso(5), key_prefix="late")
    early = insert_jobs(database, client_id, 3, run_at=clock.iso(-5), key_prefix="early")
    claim = partial(store.claim_jobs, runner_id="r1", now=clock.iso(), limit=2)
    first = await claim()
    assert [j["id"] for j in first] == early[:2]
    assert all(j["status"] == "RUNNING" and j["attempts"] == 1 for j in first)
    assert all(j["locked_by"] == "r1" and j["locked_at"] == clock.iso() for j in first)
    second = await claim()
    assert [j["id"] for j in second] == early[2:]  # the late ones are not due yet
    assert job(database, late[0])["status"] == "PENDING"


async def test_a_failure_is_retried_with_exponential_backoff_and_jitter(
    database, client_id, make_runner, handler, clock
):
    handler(FLAKY, failing(ValueError("boom")))
    [job_id] = insert_jobs(database, client_id, job_type=FLAKY)
    runner = make_runner()

    result = await runner.run_pass()
    row = job(database, job_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("PENDING", 1, "ValueError: boom")
    # 2^1 s, less the jitter: rng 0.25 takes 0.25 of a quarter (6.25 %) of the delay off
    assert row["run_at"] == clock.iso(2 * 0.9375)
    assert row["locked_by"] is None
    assert (result.retried, result.failed, result.succeeded) == (1, 0, 0)

    assert (await runner.run_pass()).processed == 0  # not due yet: nothing is claimed
    clock.advance(2)
    await runner.run_pass()
    assert job(database, job_id)["run_at"] == clock.iso(4 * 0.9375)  # 2^2 s less the jitter
    clock.advance(4)
    await runner.run_pass()
    assert job(database, job_id)["run_at"] == clock.iso(8 * 0.9375)


def test_backoff_is_capped_at_fifteen_minutes():
    assert backoff_seconds(1, 0.0) == 2
    assert backoff_seconds(4, 0.5) == 16 * 0.875
    assert backoff_seconds(9, 0.0) == 512
    assert backoff_seconds(10, 0.0) == 900  # 1024 s capped
    assert backoff_seconds(500, 0.9) == 900 * (1 - 0.9 / 4)


async def test_the_last_allowed_failure_makes_the_job_failed(
    database, client_id, make_runner, handler, clock
):
    handler(FLAKY, failing(RuntimeError("still broken")))
    [job_id] = insert_jobs(database, client_id, job_type=FLAKY, max_attempts=3)
    runner = make_runner()
    outcomes = []
    for _ in range(4):
        result = await runner.run_pass()
        outcomes.append((result.retried, result.failed))
        clock.advance(1000)
    assert outcomes == [(1, 0), (1, 0), (0, 1), (0, 0)]  # 3 runs, then nothing left to run
    row = job(database, job_id)
    assert (row["status"], row["attempts"]) == ("FAILED", 3)
    assert row["last_error"] == "RuntimeError: still broken"
    assert row["finished_at"] is not None and row["locked_by"] is None


async def test_lead_scoring_jobs_get_three_attempts_others_five(database, store):
    client, token = await store.create_client(name="X", now=db.iso(db.utcnow()))
    message = await store.ingest(
        client.id,
        db.hash_token(token),
        db.NewMessage(
            client_id=client.id,
            channel="sms",
            direction="inbound",
            body="hi",
            sent_at="2026-01-18T10:00:00.000Z",
            received_at="2026-01-18T10:00:00.000Z",
            source="ghl",
            dedupe_column="ghl_id",
            dedupe_value="m1",
            job_type=db.vocab.SMS_INBOUND_POST_PROCESS,
        ),
        db.LeadFields(email="a@example.com"),
    )
    scoring_id, _ = await store.enqueue_job(
        job_type=db.vocab.LEAD_SCORING_POST_PROCESS,
        client_id=client.id,
        lead_id=message.lead_id,
        message_id=message.message_id,
        now="2026-01-18T10:00:00.000Z",
    )
    assert job(database, message.job_id)["max_attempts"] == 5
    assert job(database, scoring_id)["max_attempts"] == 3


# -- retry-at -----------------------------------------------------------------------------------


async def test_retry_at_reschedules_without_counting_a_failure(
    database, client_id, make_runner, handler, clock
):
    calls = []

    async def rate_limited(ctx) -> None:
        calls.append(ctx.job["attempts"])
        if len(calls) <= 4:
            raise RetryJobAt(ctx.clock() + timedelta(seconds=90), "rate limited by the provider")

    handler(FLAKY, rate_limited)
    [job_id] = insert_jobs(database, client_id, job_type=FLAKY, max_attempts=2)
    runner = make_runner()
    for n in range(1, 5):
        result = await runner.run_pass()
        assert result.retried == 1 and result.failed == 0
        row = job(database, job_id)
        assert (row["status"], row["attempts"], row["snoozes"]) == ("PENDING", n, n)
        assert row["run_at"] == clock.iso(90)
        assert row["last_error"] == "rate limited by the provider"
        clock.advance(90)
    await runner.run_pass()
    row = job(database, job_id)
    # 4 retries asked for, with max_attempts 2: never FAILED; attempts is the attempt number.
    assert (row["status"], row["attempts"], row["snoozes"]) == ("SUCCEEDED", 5, 4)
    assert calls == [1, 2, 3, 4, 5]


async def test_a_real_failure_after_retry_requests_still_gets_its_attempts(
    database, client_id, make_runner, handler, clock
):
    calls = []

    async def flaky(ctx) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RetryJobAt(30, "busy")  # seconds from now
        raise ValueError("broken")

    handler(FLAKY, flaky)
    [job_id] = insert_jobs(database, client_id, job_type=FLAKY, max_attempts=2)
    runner = make_runner()
    await runner.run_pass()
    assert job(database, job_id)["run_at"] == clock.iso(30)
    clock.advance(30)
    await runner.run_pass()  # attempt 2, failure 1 of 2: retried with 2^1 s backoff
    row = job(database, job_id)
    assert (row["status"], row["attempts"], row["run_at"]) == ("PENDING", 2, clock.iso(1.875))
    clock.advance(60)
    await runner.run_pass()  # attempt 3, failure 2 of 2
    assert job(database, job_id)["status"] == "FAILED"


async def test_ai_rate_limit_is_a_retry_at_its_retry_after(
    database, client_id, make_runner, handler, clock
):
    handler(FLAKY, failing(AIRateLimited("HTTP 429: Too Many Requests", retry_after=30)))
    [job_id] = insert_jobs(database, client_id, job_type=FLAKY)
    await make_runner().run_pass()
    row = job(database, job_id)
    assert (row["status"], row["snoozes"], row["run_at"]) == ("PENDING", 1, clock.iso(30))
    assert row["last_error"] == "rate limited: AIRateLimited: HTTP 429: Too Many Requests"


async def test_ai_retryable_error_is_an_ordinary_failure(
    database, client_id, make_runner, handler, clock
):
    handler(FLAKY, failing(AIRetryableError("503 Service Unavailable")))
    [job_id] = insert_jobs(database, client_id, job_type=FLAKY)
    await make_runner().run_pass()
    row = job(database, job_id)
    assert (row["status"], row["snoozes"], row["run_at"]) == ("PENDING", 0, clock.iso(1.875))
    assert row["last_error"] == "AIRetryableError: 503 Service Unavailable"


async def test_retry_requests_are_capped(database, client_id, make_runner, handler, clock):
    handler(FLAKY, failing(RetryJobAt(60, "429 again")))
    [job_id] = insert_jobs(database, client_id, job_type=FLAKY, snoozes=MAX_SNOOZES)
    result = await make_runner().run_pass()
    row = job(database, job_id)
    assert result.failed == 1
    assert row["status"] == "FAILED"
    assert row["last_error"] == f"gave up after {MAX_SNOOZES} rate-limit retries: 429 again"


# -- unknown type -------------------------------------------------------------------------------


async def test_an_unknown_job_type_fails_that_job_and_the_queue_drains_on(
    database, client_id, make_runner, clock
):
    [unknown] = insert_jobs(database, client_id, job_type="NO_SUCH_TYPE", run_at=clock.iso(-1))
    others = insert_jobs(database, client_id, 3, key_prefix="ok")
    result = await make_runner().run_pass()
    row = job(database, unknown)
    assert (row["status"], row["attempts"]) == ("FAILED", 1)
    assert row["last_error"] == "unknown job type NO_SUCH_TYPE"
    assert [job(database, i)["status"] for i in others] == ["SUCCEEDED"] * 3
    assert (result.processed, result.failed, result.succeeded) == (4, 1, 3)


# -- fencing, leases, recovery ------------------------------------------------------------------


async def test_a_runner_that_lost_its_claim_writes_nothing(
    database, client_id, make_runner, handler, clock, caplog
):
    release_first = asyncio.Event()
    started = asyncio.Event()

    async def gated(ctx) -> None:
        if ctx.job["attempts"] == 1:  # the first claim hangs until released
            started.set()
            await release_first.wait()
            raise ValueError("first attempt ended late")

    handler(GATED, gated)
    [job_id] = insert_jobs(database, client_id, job_type=GATED)
    a, b = make_runner(), make_runner()
    first = asyncio.create_task(a.run_pass())
    await asyncio.wait_for(started.wait(), 5)
    assert job(database, job_id)["locked_by"] == a.id

    clock.advance(61)  # A's lease (60 s) expires without renewal
    second = await b.run_pass()
    assert second.released_stale == 1 and second.succeeded == 1
    row = job(database, job_id)
    assert (row["status"], row["attempts"]) == ("SUCCEEDED", 2)

    release_first.set()  # A finishes its stale attempt with a failure: fenced out
    late = await asyncio.wait_for(first, 5)
    assert (late.lost, late.retried, late.failed) == (1, 0, 0)
    row = job(database, job_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("SUCCEEDED", 2, None)
    assert "claim lost" in caplog.text


async def test_completion_writes_are_fenced_by_runner_and_attempt(database, client_id, store):
    [job_id] = insert_jobs(database, client_id)
    now = db.iso(db.utcnow())
    [claimed] = await store.claim_jobs(runner_id="r1", now=now, limit=1)
    stale = {**claimed, "attempts": claimed["attempts"] - 1}
    succeeded, failed = db.JobResult("SUCCEEDED"), db.JobResult("FAILED", "x")
    assert await store.finish_job(claimed, succeeded, runner_id="r2", now=now) == (False, [])
    assert await store.finish_job(stale, failed, runner_id="r1", now=now) == (False, [])
    assert job(database, job_id)["status"] == "RUNNING"
    assert await store.finish_job(claimed, succeeded, runner_id="r1", now=now) == (True, [])
    assert await store.finish_job(claimed, failed, runner_id="r1", now=now) == (False, [])
    assert job(database, job_id)["status"] == "SUCCEEDED"


async def test_live_runners_renew_their_lease_so_it_never_expires(
    database, client_id, make_runner, handler, clock
):
    release = asyncio.Event()
    started = asyncio.Event()

    async def gated(ctx) -> None:
        started.set()
        await release.wait()

    handler(GATED, gated)
    [job_id] = insert_jobs(database, client_id, job_type=GATED)
    a, b = make_runner(), make_runner()
    first = asyncio.create_task(a.run_pass())
    await asyncio.wait_for(started.wait(), 5)
    for _ in range(3):
        clock.advance(40)  # 120 s in all, never 60 s without a renewal
        await a.renew_leases()
        assert job(database, job_id)["locked_at"] == clock.iso()
        assert (await b.recover()) == {"released": [], "failed": []}
    release.set()
    assert (await first).succeeded == 1
    assert job(database, job_id)["attempts"] == 1


def test_which_runners_are_known_dead_without_waiting_for_their_lease():
    def alive(pid: int) -> bool:
        return pid in (100, 200)

    lockers = [
        "web1:100:aaaa",  # live process on this host
        "web1:300:bbbb",  # dead process on this host
        "web1:200:cccc",  # this process, a runner that is not alive any more
        "web1:200:dddd",  # this process, a live runner
        "web2:300:eeee",  # another host: only its lease tells
        "garbage",
    ]
    dead = abandoned_runners(lockers, host="web1", pid=200, live={"web1:200:dddd"}, alive=alive)
    assert dead == ["web1:300:bbbb", "web1:200:cccc"]


def test_a_runner_is_live_from_its_creation_until_it_stops_and_so_never_abandoned(
    store, job_settings, registry
):
    live = LiveRunners()
    runner = Runner(store, job_settings, registry=registry, live=live)
    assert runner.id in live
    assert abandoned_runners([runner.id], live=live) == []  # this process, but live
    asyncio.run(runner.stop(grace=0))
    assert runner.id not in live
    assert abandoned_runners([runner.id], live=live) == [runner.id]


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


async def test_recovery_takes_back_jobs_of_dead_runners_at_once_others_at_lease_expiry(
    database, client_id, make_runner, clock
):
    host, now = socket.gethostname(), clock.iso()
    running = {"status": "RUNNING", "locked_at": now, "started_at": now, "attempts": 1}
    [dead_here] = insert_jobs(
        database, client_id, key_prefix="a", locked_by=f"{host}:{dead_pid()}:0001", **running
    )
    [earlier_self] = insert_jobs(
        database, client_id, key_prefix="b", locked_by=f"{host}:{os.getpid()}:0002", **running
    )
    [other_host] = insert_jobs(
        database, client_id, key_prefix="c", locked_by="elsewhere.example:1:0003", **running
    )
    exhausted_running = {**running, "attempts": 5}
    [exhausted] = insert_jobs(
        database,
        client_id,
        key_prefix="d",
        locked_by=f"{host}:{dead_pid()}:0004",
        **exhausted_running,
    )
    runner = make_runner()
    recovered = await runner.recover()
    assert recovered == {"released": [dead_here, earlier_self], "failed": [exhausted]}
    row = job(database, dead_here)
    assert (row["status"], row["attempts"], row["run_at"], row["locked_by"]) == (
        "PENDING",
        1,
        now,
        None,
    )
    assert row["last_error"].startswith("recovered: the runner ")
    row = job(database, exhausted)
    assert row["status"] == "FAILED"
    assert "during attempt 5 of 5; no attempts left" in row["last_error"]
    assert job(database, other_host)["status"] == "RUNNING"

    clock.advance(59)
    assert (await runner.recover())["released"] == []
    clock.advance(2)
    assert (await runner.recover())["released"] == [other_host]


# -- the registry -------------------------------------------------------------------------------


async def test_a_runner_runs_only_the_types_of_its_own_registry(
    database, client_id, make_runner, clock
):
    other = JobRegistry()
    other.register(FLAKY, failing(AssertionError("not this registry's runner")))
    [job_id] = insert_jobs(database, client_id, job_type=FLAKY)
    result = await make_runner().run_pass()
    assert result.failed == 1
    assert job(database, job_id)["last_error"] == f"unknown job type {FLAKY}"


def test_a_registry_keeps_one_handler_per_type_unless_told_to_replace_it():
    registry = JobRegistry()

    @registry.handler("A", "B")
    async def first(ctx) -> None: ...

    async def second(ctx) -> None: ...

    assert registry.types() == ["A", "B"] and "A" in registry and "C" not in registry
    assert registry.get("A") is registry.get("B") is first
    registry.register("A", first)  # the same handler again: fine
    with pytest.raises(ValueError, match="job type A already has a handler"):
        registry.register("A", second)
    registry.register("A", second, replace=True)
    assert registry.get("A") is second
    assert registry.unregister("A") is second and registry.unregister("A") is None
    assert registry.get("A") is None and registry.types() == ["B"]


# -- the main loop: wake-up, the poll, graceful shutdown ------------------------------------------


async def test_the_loop_starts_a_job_as_soon_as_it_is_woken(
    database, client_id, store, job_settings, handler, registry
):
    started = asyncio.Event()

    async def note(ctx) -> None:
        started.set()

    handler(GATED, note)
    runner = Runner(store, replace(job_settings, job_poll_seconds=30), registry=registry)
    await runner.start()
    try:
        await asyncio.sleep(0.05)  # the loop is now waiting (30 s poll)
        await asyncio.to_thread(insert_jobs, database, client_id, job_type=GATED)
        begin = time.monotonic()
        runner.wake()
        await asyncio.wait_for(started.wait(), 5)
        assert time.monotonic() - begin < 0.5
    finally:
        await runner.stop(grace=1)


async def test_the_poll_job_finds_jobs_that_became_due_without_a_wake(
    database, client_id, store, job_settings, registry
):
    [job_id] = insert_jobs(database, client_id, run_at=HELD_BACK)
    runner = Runner(store, replace(job_settings, job_poll_seconds=0.05), registry=registry)
    async with scheduled_runner(runner, grace=1) as scheduler:
        poll = scheduler.get_job("jobs-poll")
        assert (poll.coalesce, poll.max_instances) == (True, 1)  # polls never pile up
        await asyncio.sleep(0.1)  # the loop now waits: nothing was due
        await asyncio.to_thread(release_jobs, database, db.iso(db.utcnow()))
        for _ in range(100):
            if job(database, job_id)["status"] == "SUCCEEDED":
                break
            await asyncio.sleep(0.02)
    assert job(database, job_id)["status"] == "SUCCEEDED"
    assert [r["job_id"] for r in runs(database)] == [job_id]
    assert not scheduler.running and runner.running_job_ids == []


async def test_shutdown_waits_for_quick_jobs_and_puts_slow_ones_back(
    database, client_id, store, job_settings, handler, registry
):
    slow_started = asyncio.Event()

    async def slow(ctx) -> None:
        slow_started.set()
        await asyncio.sleep(60)

    async def quick(ctx) -> None:
        await slow_started.wait()
        await asyncio.sleep(0.1)

    handler(GATED, slow)
    handler(FLAKY, quick)
    [slow_id] = insert_jobs(database, client_id, job_type=GATED)
    [quick_id] = insert_jobs(database, client_id, job_type=FLAKY, key_prefix="q")
    runner = Runner(store, job_settings, registry=registry)
    await runner.start()
    await asyncio.wait_for(slow_started.wait(), 5)
    await runner.stop(grace=0.5)
    assert job(database, quick_id)["status"] == "SUCCEEDED"
    row = job(database, slow_id)
    assert (row["status"], row["attempts"], row["snoozes"]) == ("PENDING", 1, 1)
    assert row["locked_by"] is None
    assert row["last_error"] == "interrupted by shutdown; not counted as a failure"
    assert runner.running_job_ids == []


# -- many jobs, two runners --------------------------------------------------------------------


def test_two_runners_in_two_threads_run_each_of_2000_jobs_once(
    database, client_id, db_path, tmp_path, monkeypatch
):
    monkeypatch.setenv("LEADHOOK_TEST_JOB_SECONDS", "0.005")  # both runners get a share
    insert_jobs(database, client_id, 2000, run_at=HELD_BACK)
    results: list = []
    ready = [tmp_path / f"ready-{n}" for n in range(2)]
    threads = [drain_in_thread(str(db_path), str(path), results) for path in ready]
    wait_for(lambda: all(p.exists() for p in ready), what="both runners")
    release_jobs(database, db.iso(db.utcnow()))
    for thread in threads:
        thread.join(timeout=180)
    assert results == ["ok", "ok"]
    assert statuses(database) == {"SUCCEEDED": 2000}
    done = runs(database)
    assert len(done) == 2000
    assert len({r["job_id"] for r in done}) == 2000
    assert {r["runner"] for r in done} == {p.read_text() for p in ready}  # both took part
    assert {r["source"] for r in done} == {f"background_job:{RECORD}"}
