"""Reply drafts: at most one per (message, channel), per-channel limits, the offline templates."""

from __future__ import annotations

import pytest

import ai
import db
import postprocess
from postprocess import drafts as draft_rules
from postprocess.drafts import draft_prompt, write_draft
from tests.postprocess_helpers import SMS_SOURCE, drafts, lead_row, rows, run_inbound

pytestmark = pytest.mark.anyio


# -- units -----------------------------------------------------------------------------------


def test_drafts_use_the_first_name_and_the_channel():
    sms = write_draft("sms", "Dana Smith", "Meeting Requested")
    email = write_draft("email", "Dana", "Meeting Requested")
    linkedin = write_draft("linkedin", None, "Interested")
    assert sms.startswith("Hi Dana,") and len(sms) <= 300 and "\n" not in sms
    assert email.startswith("Hi Dana,\n\n") and email.endswith("Best regards")
    assert linkedin.startswith("Hi there,")
    assert (
        write_draft("sms", "Dana", "Snoozed") == "Hi Dana, thanks for your reply! How can I help?"
    )


def test_the_offline_answer_reads_the_prompt_context():
    message = {"channel": "linkedin", "body": "Sounds great"}
    prompt = draft_prompt(message, {"first_name": "Ana"}, "Interested", [])
    assert (prompt.feature_id, prompt.prompt_key) == (
        "draft.generate.linkedin",
        "draft.generate.linkedin.v1",
    )
    assert prompt.context == {"channel": "linkedin", "first_name": "Ana", "tag": "Interested"}
    answer = draft_rules.offline_answer(prompt)
    assert answer == {"body": write_draft("linkedin", "Ana", "Interested")}
    assert draft_rules.draft_validator("linkedin")(answer) == answer["body"]


def test_which_replies_get_a_draft():
    assert draft_rules.wants_draft("Interested", "sms")
    assert draft_rules.wants_draft("Follow Up", "email")
    assert not draft_rules.wants_draft("Neutral", "sms")
    assert not draft_rules.wants_draft("Interested", "fax")


# -- in the pipeline, against the fake OpenAI server -------------------------------------------


async def test_a_draft_is_made_at_most_once_per_message_and_channel(
    openai_client, store, database, fake_openai, seed_inbound
):
    message, lead = seed_inbound("Sounds good, tell me more")
    first = await run_inbound(openai_client, store, database, message, lead)
    second = await run_inbound(openai_client, store, database, message, lead, attempt=2)
    assert first["draft_created"] is True
    assert second["draft_created"] is False and second["draft_id"] == first["draft_id"]
    assert len(drafts(database)) == 1
    assert second["sentiment_reused"] is True
    features = [r["feature_id"] for r in await rows(openai_client, database)]
    # the second run reuses the message's classification and never pays for a second draft
    assert features == ["sentiment.classify", "draft.generate.sms"]
    assert len(fake_openai.requests) == 2


async def test_the_job_writes_its_draft_with_its_succeeded(
    openai_client, store, database, fake_openai, seed_inbound
):
    # The handler asks for the draft and hands it to the job's finish: no commit of its own.
    from types import SimpleNamespace

    from scheduler import FinishWith
    from scheduler.job_handlers import inbound_post_process

    message, _ = seed_inbound("Sounds good, tell me more")
    [job] = await store.claim_jobs(runner_id="r", now=db.iso(db.utcnow()), limit=1)
    ctx = SimpleNamespace(
        job=job,
        store=store,
        ai=openai_client,
        now_iso=lambda: db.iso(db.utcnow()),
        finish_with=lambda *writes: FinishWith(writes),
    )
    with ai.ai_telemetry_source(SMS_SOURCE):
        ended = await inbound_post_process(ctx)
    assert [name for name, _ in ended.writes] == ["insert_draft", "finish_inbound"]
    assert drafts(database) == []
    result = db.JobResult("SUCCEEDED", writes=ended.writes)
    assert await store.finish_job(job, result, runner_id="r", now=db.iso(db.utcnow()))
    [draft] = drafts(database)
    assert (draft["trigger_message_id"], draft["status"]) == (message["id"], "pending")
    assert draft["body"]  # the fake model's answer


def test_insert_draft_does_nothing_on_conflict(store, seed_inbound):
    message, lead = seed_inbound("hi")
    args = (message["client_id"], lead["id"], message["id"], "sms")
    first = store.sync.insert_draft(*args, "first", now="2026-01-18T10:00:00.000Z")
    second = store.sync.insert_draft(*args, "second", now="2026-01-18T10:00:01.000Z")
    assert first == (first[0], True) and second == (first[0], False)
    assert store.sync.get_draft(message["id"], "sms")["body"] == "first"


async def test_a_rate_limited_draft_is_retried_and_made_once(
    openai_client, store, database, fake_openai, seed_inbound
):
    message, lead = seed_inbound("Could you send me more info?")
    fake_openai.push_json({"tag": "Information Requested"})
    fake_openai.push_error(429, headers={"Retry-After": "2"})
    with pytest.raises(ai.AIRateLimited) as caught:
        await run_inbound(openai_client, store, database, message, lead, attempt=1)
    assert caught.value.retry_after == 2.0
    assert lead_row(database, lead["id"])["status"] == "qualified"
    assert drafts(database) == []

    fake_openai.push_json({"body": "Hi Dana, I'll send the details today."})
    result = await run_inbound(openai_client, store, database, message, lead, attempt=2)
    assert result["draft_created"] is True
    assert (result["sentiment_tag"], result["sentiment_reused"]) == ("Information Requested", True)
    found = [
        (r["feature_id"], r["status"], r["job_attempt"])
        for r in await rows(openai_client, database)
    ]
    assert found == [  # the retry does not classify again: the first attempt's tag is kept
        ("sentiment.classify", "success", 1),
        ("draft.generate.sms", "error", 1),
        ("draft.generate.sms", "success", 2),
    ]
    assert len(drafts(database)) == 1


async def test_draft_prompt_has_first_name_channel_and_transcript(
    openai_client, store, database, fake_openai, seed_inbound
):
    seed_inbound("Earlier note from the lead", channel="email", contact="c-9", first_name="Ana")
    message, lead = seed_inbound(
        "Yes, interested. Can you call me?", channel="email", contact="c-9", subject="Re: hi"
    )
    fake_openai.push_json({"tag": "Call Requested"})
    fake_openai.push_json({"body": "Hi Ana,\n\nHappy to call. When suits you?\n\nBest"})
    result = await run_inbound(openai_client, store, database, message, lead)
    assert result["draft_created"] is True
    draft_request = fake_openai.requests[1]
    system, user = (m["content"] for m in draft_request["messages"])
    assert "an email body" in system and '{"body"' in system
    assert "Prospect first name: Ana" in user and "Call Requested" in user
    assert "Earlier note from the lead" in user and "Can you call me?" in user
    classify_user = fake_openai.requests[0]["messages"][1]["content"]
    assert "Subject: Re: hi" in classify_user and "Channel: email" in classify_user
    features = [r["feature_id"] for r in await rows(openai_client, database)]
    assert features == ["sentiment.classify", "draft.generate.email"]


async def test_an_empty_or_too_long_draft_is_an_error(
    openai_client, store, database, fake_openai, seed_inbound
):
    message, lead = seed_inbound("Interested!")
    fake_openai.push_json({"tag": "Interested"})
    fake_openai.push_json({"body": "x" * 700})
    with pytest.raises(ai.AIResponseError, match="sms draft is 700 characters"):
        await run_inbound(openai_client, store, database, message, lead)
    fake_openai.push_json({"tag": "Interested"})
    fake_openai.push_json({"body": "  "})
    with pytest.raises(ai.AIResponseError, match="non-empty"):
        await run_inbound(openai_client, store, database, message, lead, attempt=2)
    assert drafts(database) == []


async def test_outbound_messages_and_blacklisted_leads_are_skipped(
    openai_client, store, database, fake_openai, seed_inbound
):
    outbound, lead = seed_inbound("Hi Dana, following up", direction="outbound")
    with ai.ai_telemetry_source(SMS_SOURCE):
        result = await postprocess.post_process_inbound(openai_client, store, outbound, lead)
    assert result["skipped"] == "not an inbound message"

    message, lead = seed_inbound("STOP", contact="c-2")
    await run_inbound(openai_client, store, database, message, lead)
    later, lead = seed_inbound("Actually yes, interested!", contact="c-2")
    result = await run_inbound(openai_client, store, database, later, lead)
    assert result["skipped"] == "lead is blacklisted"
    assert lead_row(database, lead["id"])["status"] == "blacklisted"
    assert fake_openai.requests == []


async def test_a_late_job_for_an_older_reply_does_not_override_the_newer_tag(
    openai_client, store, database, fake_openai, seed_inbound
):
    older, lead = seed_inbound("Could you send pricing?", sent_at="2026-01-18T10:00:00.000Z")
    newer, lead = seed_inbound("Not interested", sent_at="2026-01-18T11:00:00.000Z")
    result = await run_inbound(openai_client, store, database, newer, lead)
    assert result["lead_updated"] is True

    fake_openai.push_json({"tag": "Information Requested"})
    fake_openai.push_json({"body": "Hi Dana, here is an overview of our pricing."})
    result = await run_inbound(openai_client, store, database, older, lead)
    assert (result["sentiment_tag"], result["lead_updated"]) == ("Information Requested", False)
    updated = lead_row(database, lead["id"])
    assert (updated["sentiment_tag"], updated["status"]) == ("Not Interested", "not-interested")
    assert result["draft_created"] is True  # the older reply still gets its own draft


async def test_a_lead_blacklisted_during_the_call_is_not_revived_nor_drafted_to(
    openai_client, store, database, fake_openai, seed_inbound
):
    message, lead = seed_inbound("Sounds great")
    # the lead row the job read is stale: the lead opted out meanwhile
    await store.set_lead_sentiment(lead["id"], "Blacklist", "blacklisted", now="x")
    fake_openai.push_json({"tag": "Interested"})
    result = await run_inbound(openai_client, store, database, message, lead)
    assert (result["lead_updated"], result["skipped"]) == (False, "lead is blacklisted")
    updated = lead_row(database, lead["id"])
    assert (updated["sentiment_tag"], updated["status"]) == ("Blacklist", "blacklisted")
    assert len(fake_openai.requests) == 1 and drafts(database) == []
