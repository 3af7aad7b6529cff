"""The telemetry source and job context: set, nested, restored, carried across await, tasks
and threads; inside a job it is ``background_job:<TYPE>``, whoever runs the job."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

import ai
from config import Settings
from scheduler import JobRegistry, Runner
from tests.job_helpers import FakeClock, insert_jobs, seed_client

pytestmark = pytest.mark.anyio
CRON = "/api/cron/background-jobs"
PROBE = "TEST_SOURCE_PROBE"


def test_a_source_is_trimmed_capped_at_500_characters_and_empty_means_none():
    assert ai.normalize_source("  background_job:X \n") == "background_job:X"
    assert ai.normalize_source("x" * 600) == "x" * 500
    assert ai.normalize_source("   ") is None
    assert ai.normalize_source("") is None
    assert ai.normalize_source(None) is None
    with ai.ai_telemetry_source("  /api/webhooks/email  "):
        assert ai.current_source() == "/api/webhooks/email"


def test_the_innermost_source_wins_and_the_outer_one_comes_back():
    assert ai.current_source() is None
    with ai.ai_telemetry_source(CRON):
        assert ai.current_source() == CRON
        with ai.ai_telemetry_source("background_job:SMS_INBOUND_POST_PROCESS"):
            assert ai.current_source() == "background_job:SMS_INBOUND_POST_PROCESS"
            with ai.ai_telemetry_source(""):  # an empty source clears it inside
                assert ai.current_source() is None
            assert ai.current_source() == "background_job:SMS_INBOUND_POST_PROCESS"
        assert ai.current_source() == CRON
    assert ai.current_source() is None


def test_if_unset_keeps_an_outer_source_and_sets_one_otherwise():
    with ai.ai_telemetry_source_if_unset("action:draft.regenerate"):
        assert ai.current_source() == "action:draft.regenerate"
    with (
        ai.ai_telemetry_source("background_job:LEAD_SCORING_POST_PROCESS"),
        ai.ai_telemetry_source_if_unset("action:draft.regenerate"),  # evaluated inside the first
    ):
        assert ai.current_source() == "background_job:LEAD_SCORING_POST_PROCESS"
    assert ai.current_source() is None


def test_the_source_is_restored_when_the_block_raises():
    with pytest.raises(ValueError), ai.ai_telemetry_source("inner"):
        raise ValueError
    assert ai.current_source() is None


async def test_async_with_and_the_value_survives_await_tasks_and_threads():
    async def in_task() -> str | None:
        await asyncio.sleep(0)
        return ai.current_source()

    async with ai.ai_telemetry_source("background_job:EMAIL_INBOUND_POST_PROCESS"):
        await asyncio.sleep(0)
        assert ai.current_source() == "background_job:EMAIL_INBOUND_POST_PROCESS"
        assert await asyncio.create_task(in_task()) == "background_job:EMAIL_INBOUND_POST_PROCESS"
        assert await asyncio.to_thread(ai.current_source) == (
            "background_job:EMAIL_INBOUND_POST_PROCESS"
        )
        assert await ai.run_in_thread(ai.current_source) == (
            "background_job:EMAIL_INBOUND_POST_PROCESS"
        )
        loop = asyncio.get_running_loop()
        copied = contextvars.copy_context()
        assert await loop.run_in_executor(None, copied.run, ai.current_source) == (
            "background_job:EMAIL_INBOUND_POST_PROCESS"
        )
    assert ai.current_source() is None


async def test_a_task_changing_its_source_does_not_change_its_parents():
    async def child() -> None:
        with ai.ai_telemetry_source("background_job:CHILD"):
            await asyncio.sleep(0)

    with ai.ai_telemetry_source(CRON):
        await asyncio.gather(child(), child())
        assert ai.current_source() == CRON


# -- inside jobs ---------------------------------------------------------------------------------


@pytest.fixture
def registry() -> JobRegistry:
    return JobRegistry()


@pytest.fixture
def probe(registry):
    seen: list[dict] = []

    async def record(ctx) -> None:
        job = ai.current_job()
        seen.append(
            {
                "source": ai.current_source(),
                "after_await": await asyncio.sleep(0) or ai.current_source(),
                "run_in_thread": await ai.run_in_thread(ai.current_source),
                "to_thread": await asyncio.to_thread(ai.current_source),
                "thread_job": await asyncio.to_thread(ai.current_job),
                "job": job,
                "row": ctx.job,
            }
        )

    registry.register(PROBE, record)
    return seen


async def test_inside_a_job_the_source_is_the_jobs_also_across_threads_and_then_restored(
    database, store, db_path, probe, registry
):
    client_id = seed_client(database)
    [job_id] = insert_jobs(database, client_id, job_type=PROBE, lead_id=None)
    runner = Runner(store, Settings(db_path=str(db_path)), registry=registry, clock=FakeClock())
    with ai.ai_telemetry_source(CRON):  # as in the cron route
        result = await runner.run_pass()
        assert ai.current_source() == CRON  # the outer source is back
    assert result.succeeded == 1
    [seen] = probe
    expected = f"background_job:{PROBE}"
    assert seen["source"] == seen["after_await"] == expected
    assert seen["run_in_thread"] == seen["to_thread"] == expected
    assert seen["job"] == ai.JobContext(
        job_id=job_id, job_type=PROBE, attempt=1, client_id=client_id, lead_id=None, message_id=None
    )
    assert seen["thread_job"] == seen["job"]
    assert ai.current_job() is None


async def test_the_job_context_carries_the_attempt_number(
    database, store, db_path, probe, registry
):
    client_id = seed_client(database)
    [job_id] = insert_jobs(database, client_id, job_type=PROBE, attempts=2)
    runner = Runner(store, Settings(db_path=str(db_path)), registry=registry, clock=FakeClock())
    await runner.run_pass()
    assert probe[0]["job"].attempt == 3
    assert probe[0]["job"].job_id == job_id


async def test_the_main_loop_runs_jobs_in_their_source_too(
    database, store, db_path, probe, registry
):
    client_id = seed_client(database)
    insert_jobs(database, client_id, job_type=PROBE)
    settings = Settings(db_path=str(db_path), job_poll_seconds=0.02)
    runner = Runner(store, settings, registry=registry)
    with ai.ai_telemetry_source("lifespan"):  # the loop's own context does not leak in
        await runner.start()
    try:
        for _ in range(250):
            if probe:
                break
            await asyncio.sleep(0.02)
    finally:
        await runner.stop(grace=1)
    assert probe and probe[0]["source"] == probe[0]["to_thread"] == f"background_job:{PROBE}"
