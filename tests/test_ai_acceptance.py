"""End to end: a webhook over real HTTP, its jobs run by the in-process runner (or the cron
route), every AI call recorded and attributed to the job type that made it."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import load_payload
from tests.fake_openai import usage

GHL = "/api/webhooks/ghl/sms"
SMS_SOURCE = "background_job:SMS_INBOUND_POST_PROCESS"
SCORING_SOURCE = "background_job:LEAD_SCORING_POST_PROCESS"


def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def jobs_done(database, n: int = 2):
    def check():
        rows = list(database.query("SELECT * FROM background_jobs ORDER BY id"))
        return rows if len(rows) >= n and all(r["status"] == "SUCCEEDED" for r in rows) else None

    return check


def ai_rows(database) -> list[dict]:
    return list(database.query("SELECT * FROM ai_interactions ORDER BY id"))


def deliver_ghl(live, workspace) -> dict:
    with httpx.Client(base_url=live.url, timeout=30) as http:
        response = http.post(
            GHL, json=load_payload("ghl_sms_workflow.json"), headers=workspace.auth
        )
    assert response.status_code == 200, response.text
    return response.json()


def assert_attributed(database, delivered: dict) -> tuple[dict, dict]:
    jobs = {j["type"]: j for j in database.query("SELECT * FROM background_jobs")}
    sms_job, scoring_job = jobs["SMS_INBOUND_POST_PROCESS"], jobs["LEAD_SCORING_POST_PROCESS"]
    rows = ai_rows(database)
    sentiment = [r for r in rows if r["feature_id"] == "sentiment.classify"]
    scoring = [r for r in rows if r["feature_id"] == "lead_scoring.score"]
    assert sentiment and scoring
    for row in sentiment:
        assert row["source"] == SMS_SOURCE
        assert row["background_job_id"] == sms_job["id"]
        assert row["message_id"] == delivered["messageId"]
    for row in scoring:
        assert row["source"] == SCORING_SOURCE
        assert row["background_job_id"] == scoring_job["id"]
    drafts = [r for r in rows if r["feature_id"].startswith("draft.generate.")]
    for row in drafts:
        assert row["source"] == SMS_SOURCE
        assert row["feature_id"] == "draft.generate.sms"
    for row in rows:
        assert row["lead_id"] == delivered["leadId"]
        assert row["client_id"] is not None
        assert row["job_attempt"] == 1
    return sms_job, scoring_job


def test_offline_provider_end_to_end(live, workspace, database):
    delivered = deliver_ghl(live, workspace)
    wait_for(jobs_done(database), what="both jobs to succeed")
    assert_attributed(database, delivered)
    rows = ai_rows(database)
    assert {r["provider"] for r in rows} == {"offline"}
    lead = next(database.query("SELECT * FROM leads"))
    assert lead["sentiment_tag"] is not None
    assert lead["overall_score"] in (1, 2, 3, 4)


def test_openai_provider_end_to_end_with_tokens_and_cost(serve, workspace, database, fake_openai):
    fake_openai.push_json({"tag": "Meeting Requested"}, usage=usage(1000, 10, cached=400))
    live = serve(
        ai_provider="openai", openai_base_url=fake_openai.base_url, openai_api_key="sk-test"
    )
    delivered = deliver_ghl(live, workspace)
    wait_for(jobs_done(database), what="both jobs to succeed")
    assert_attributed(database, delivered)
    sentiment = next(r for r in ai_rows(database) if r["feature_id"] == "sentiment.classify")
    assert (sentiment["provider"], sentiment["api_type"]) == ("openai", "chat_completions")
    assert sentiment["model"] == "gpt-4o-mini"
    assert sentiment["response_model"] == "gpt-4o-mini-2024-07-18"
    assert (sentiment["input_tokens"], sentiment["cached_input_tokens"]) == (1000, 400)
    assert (sentiment["output_tokens"], sentiment["total_tokens"]) == (10, 1010)
    # gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output per million tokens.
    assert sentiment["cost_usd"] == pytest.approx((600 * 0.15 + 400 * 0.075 + 10 * 0.60) / 1e6)
    assert sentiment["status"] == "success"
    assert sentiment["latency_ms"] >= 0
    lead = next(database.query("SELECT * FROM leads"))
    assert (lead["sentiment_tag"], lead["status"]) == ("Meeting Requested", "meeting-requested")
    draft = next(database.query("SELECT * FROM ai_drafts"))
    assert (draft["trigger_message_id"], draft["channel"]) == (delivered["messageId"], "sms")


def test_rate_limited_call_is_retried_after_retry_after(serve, workspace, database, fake_openai):
    fake_openai.push_error(429, headers={"Retry-After": "1"})
    live = serve(
        ai_provider="openai", openai_base_url=fake_openai.base_url, openai_api_key="sk-test"
    )
    delivered = deliver_ghl(live, workspace)
    wait_for(jobs_done(database), timeout=20, what="the retried job to succeed")
    sms_job = next(
        database.query("SELECT * FROM background_jobs WHERE type = 'SMS_INBOUND_POST_PROCESS'")
    )
    assert sms_job["attempts"] == 2
    sentiment = [r for r in ai_rows(database) if r["feature_id"] == "sentiment.classify"]
    assert [(r["status"], r["job_attempt"]) for r in sentiment] == [("error", 1), ("success", 2)]
    assert all(r["source"] == SMS_SOURCE for r in sentiment)
    assert all(r["background_job_id"] == sms_job["id"] for r in sentiment)
    assert "429" in sentiment[0]["error_message"] or "rate" in sentiment[0]["error_message"].lower()
    first_try = sentiment[0]["created_at"]
    assert sms_job["started_at"] >= first_try  # the second claim came after the first call
    assert delivered["jobEnqueued"] is True


def test_jobs_run_by_the_cron_route_keep_their_job_source(serve, workspace, database):
    live = serve(scheduler_enabled=False, cron_secret="s3cret")
    delivered = deliver_ghl(live, workspace)
    headers = {"Authorization": "Bearer s3cret"}
    with httpx.Client(base_url=live.url, timeout=30) as http:
        first = http.post("/api/cron/background-jobs", headers=headers).json()
        second = http.get("/api/cron/background-jobs", headers=headers).json()
    # The pass drains what the SMS job enqueued too, if its budget allows.
    assert first["processed"] + second["processed"] == 2
    assert first["succeeded"] + second["succeeded"] == 2
    assert second["remaining"] == 0
    assert_attributed(database, delivered)
    assert "/api/cron/background-jobs" not in {r["source"] for r in ai_rows(database)}


CHANNELS = [
    ("/api/webhooks/email", "email_lead_replied.json", "EMAIL_INBOUND_POST_PROCESS", "email"),
    (
        "/api/webhooks/linkedin",
        "unipile_message_received.json",
        "LINKEDIN_INBOUND_POST_PROCESS",
        "linkedin",
    ),
    (
        "/api/webhooks/smartlead",
        "smartlead_email_reply.json",
        "SMARTLEAD_INBOUND_POST_PROCESS",
        "email",
    ),
    (
        "/api/webhooks/instantly",
        "instantly_reply_received.json",
        "INSTANTLY_INBOUND_POST_PROCESS",
        "email",
    ),
]


@pytest.mark.parametrize(("route", "sample", "job_type", "channel"), CHANNELS)
def test_every_channels_job_is_attributed_to_its_type(
    live, workspace, database, route, sample, job_type, channel
):
    with httpx.Client(base_url=live.url, timeout=30) as http:
        response = http.post(route, json=load_payload(sample), headers=workspace.auth)
    assert response.status_code == 200, response.text
    delivered = response.json()
    assert delivered["deduped"] is False
    wait_for(jobs_done(database), what=f"{job_type} and lead scoring to succeed")
    rows = ai_rows(database)
    by_feature = {r["feature_id"]: r for r in rows}
    assert by_feature["sentiment.classify"]["source"] == f"background_job:{job_type}"
    assert by_feature["sentiment.classify"]["message_id"] == delivered["messageId"]
    assert by_feature["lead_scoring.score"]["source"] == SCORING_SOURCE
    for feature, row in by_feature.items():
        if feature.startswith("draft.generate."):
            assert feature == f"draft.generate.{channel}"
            assert row["source"] == f"background_job:{job_type}"
