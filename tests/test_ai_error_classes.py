"""Issue #9 item 7, black box: each class of AI error does to the job what DESIGN "AI calls"
says, with jobs run by the in-process runner and by the cron route, the real ``openai`` client
talking to the local fake server; and a retried job never repeats a step that succeeded."""

from __future__ import annotations

import pytest

from tests.ai_jobs import MODES, Jobs
from tests.fake_openai import FakeOpenAI

SENTIMENT, DRAFT = "sentiment.classify", "draft.generate.sms"


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def features(jobs: Jobs) -> list[tuple[str, str, int]]:
    return [(r["feature_id"], r["status"], r["job_attempt"]) for r in jobs.ai_rows()]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", ["401-fails-at-once", "500-once-is-retried", "malformed-twice"])
def test_each_ai_error_class_retries_or_fails_the_job_as_designed(
    serve, workspace, database, fake, mode, case
):
    jobs = Jobs(serve, database, fake, mode)
    endpoint = f"POST {fake.base_url}/chat/completions"
    try:
        if case == "401-fails-at-once":
            # The sentiment call is paid, then the key is refused: the job fails at once
            # with the reason, after exactly one paid call (no retry pays sentiment again).
            fake.fail_always(401, from_call=2, message="Incorrect API key provided")
            jobs.deliver(workspace)
            job = jobs.wait_for(jobs.attempt_written(1), "the first attempt's result")
            assert (job["status"], job["attempts"]) == ("FAILED", 1)
            assert job["last_error"].startswith("AIRequestError: HTTP 401: Incorrect API key")
            assert f"AI call {DRAFT} to {endpoint}" in job["last_error"]
            assert features(jobs) == [(SENTIMENT, "success", 1), (DRAFT, "error", 1)]
            paid = [r for r in jobs.ai_rows() if r["cost_usd"]]
            assert [r["feature_id"] for r in paid] == [SENTIMENT]
            assert len(fake.requests) == 2
        elif case == "500-once-is-retried":
            # The draft call meets a 500 once: retried with backoff, and the retry reuses
            # the first attempt's classification instead of paying for it again.
            fake.fail_once(500, call=2)
            delivered = jobs.deliver(workspace)
            job = jobs.wait_for(jobs.status_is("SUCCEEDED"), "the retried job to succeed")
            assert (job["attempts"], job["snoozes"]) == (2, 0)
            assert features(jobs)[:3] == [
                (SENTIMENT, "success", 1),
                (DRAFT, "error", 1),
                (DRAFT, "success", 2),  # no second sentiment call
            ]
            [draft] = database.query("SELECT * FROM ai_drafts")
            assert draft["trigger_message_id"] == delivered["messageId"]
            [lead] = database.query("SELECT * FROM leads")
            assert (lead["sentiment_tag"], lead["status"]) == ("Interested", "qualified")
        else:
            # Every answer is valid JSON that fits no schema: retried once, then FAILED.
            fake.answer_malformed()
            jobs.deliver(workspace)
            job = jobs.wait_for(jobs.attempt_written(2), "the second attempt's result")
            assert (job["status"], job["attempts"]) == ("FAILED", 2)
            assert job["last_error"].startswith("AIResponseError: sentiment answer has no")
            assert features(jobs) == [(SENTIMENT, "error", 1), (SENTIMENT, "error", 2)]
            assert len(fake.requests) == 2
    finally:
        jobs.close()
