"""Issue #11: an AI call's row is never lost while the process runs (a full disk keeps it in
memory and writes it once space returns), and a failed AI attempt is one WARNING line that
names the endpoint, the status, the attempt and the job, with its traceback at DEBUG only."""

from __future__ import annotations

import logging
import time

import pytest

import ai
from ai import AIClient, OpenAIProvider, Prompt
from tests.ai_jobs import Captured, Jobs
from tests.fake_openai import FakeOpenAI

# A long response model makes each row need about half a page, so a file that may not grow
# cannot take more than a row or two.
BIG_MODEL = "gpt-4o-mini-" + "x" * 1500
NO_LIMIT = 1_073_741_823
PROMPT = Prompt("sentiment.classify", "sentiment.classify.v1", 'JSON: {"tag": "..."}', "hi")


def fill_the_disk(store) -> None:
    """The file may not grow by a page from now on: SQLite answers "database or disk is
    full" (SQLITE_FULL) to every write that needs a new page, as on a full disk."""
    pages = store.writer.write_sync(lambda d: d.execute("PRAGMA page_count").fetchone()[0])
    store.writer.write_sync(lambda d: d.execute(f"PRAGMA max_page_count = {pages}").fetchall())


def free_the_disk(store) -> None:
    store.writer.write_sync(lambda d: d.execute(f"PRAGMA max_page_count = {NO_LIMIT}").fetchall())


def test_no_ai_row_is_lost_on_a_full_disk_once_space_returns(serve, workspace, database):
    with FakeOpenAI(model=BIG_MODEL) as fake:
        fake.answer_delay = 0.3  # the calls are in flight when the disk fills up
        jobs = Jobs(serve, database, fake, "runner")
        store = jobs.live.app.state.store
        client = jobs.live.app.state.ai
        for body in ("Yes, interested", "Sure, tell me more", "Sounds great, call me"):
            jobs.deliver(workspace, body=body)
        with Captured() as log:
            fill_the_disk(store)
            jobs.wait_for(lambda: len(fake.requests) >= 6, "more paid calls")
            time.sleep(1.0)  # their answers came (0.3 s) and their rows met the full disk
            stored = len(jobs.ai_rows())
            assert stored + 3 <= len(fake.requests)  # paid calls whose rows are not stored
            free_the_disk(store)

            def all_written():
                jobs_done = all(
                    j["status"] == "SUCCEEDED"
                    for j in database.query("SELECT status FROM background_jobs")
                )
                return jobs_done and len(jobs.ai_rows()) == len(fake.requests)

            jobs.wait_for(all_written, "every paid call's row", timeout=30)
            # The recorder says so once its last write has returned (after the commit the
            # rows above are seen by), and only when nothing else is pending by then.
            jobs.wait_for(
                lambda: any("written again" in line for line in log.lines(logging.INFO)),
                "the recorder's written-again line",
                timeout=10,
            )
        jobs.close()
    assert client.records_pending == client.records_failed == 0
    assert len(jobs.ai_rows()) == len(fake.requests) == 9  # 3 messages × sentiment, draft, score
    assert any("keeping" in line and "in memory" in line for line in log.lines())


@pytest.mark.anyio
async def test_rows_kept_are_written_at_shutdown_and_the_memory_they_take_is_bounded(
    store, fake_openai
):
    from ai._recorder import InteractionRecorder

    fake_openai.model = BIG_MODEL
    provider = OpenAIProvider(model="gpt-4o-mini", api_key="sk-test", base_url=fake_openai.base_url)
    client = AIClient(store, provider)
    client.recorder = InteractionRecorder(store, max_pending=4, first_retry_seconds=3600)
    try:
        fill_the_disk(store)
        with ai.ai_telemetry_source("test:full-disk"), Captured() as log:
            for _ in range(8):
                await client.complete_json(PROMPT)
            await store.flush()
        stored = len(await store.list_interactions())  # a row or two fit in the last page
        assert client.records_pending == 4  # the newest four are kept; the older ones dropped
        assert client.records_failed == 8 - stored - 4 >= 2
        assert any("AI interaction row(s) dropped" in line for line in log.lines(logging.ERROR))
        free_the_disk(store)
        await client.flush()  # at shutdown: the kept rows are written now, not at the next retry
        assert len(await store.list_interactions()) == stored + 4
        assert client.records_pending == 0
    finally:
        await client.close()


def test_a_failed_ai_attempt_is_one_warning_line_naming_endpoint_status_attempt_and_job(
    serve, workspace, database
):
    with FakeOpenAI() as fake:
        fake.fail_once(500, call=1, message="The server had an error")
        jobs = Jobs(serve, database, fake, "runner")
        with Captured(name="") as log:  # every logger, attached after the app's logging config
            delivered = jobs.deliver(workspace)
            job = jobs.wait_for(jobs.status_is("SUCCEEDED"), "the retried job")
        jobs.close()
    warnings = [r for r in log.records if r.levelno >= logging.WARNING]
    assert [r.name for r in warnings] == ["leadhook.jobs"]  # one line for the failed attempt
    [line] = [r.getMessage() for r in warnings]
    assert "\n" not in line and warnings[0].exc_info is None
    assert line.startswith(f"job {job['id']} SMS_INBOUND_POST_PROCESS attempt 1 failed")
    assert f"to POST {fake.base_url}/chat/completions: HTTP 500" in line
    assert "The server had an error" in line and "sk-test" not in line
    tracebacks = [r for r in log.records if r.exc_info and r.levelno == logging.DEBUG]
    assert [r.name for r in tracebacks] == ["leadhook.jobs"]  # the traceback, at DEBUG only
    assert delivered["jobEnqueued"] is True
