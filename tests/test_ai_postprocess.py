"""Post-processing: sentiment (fast paths, model), lead status, drafts once, lead scores."""

from __future__ import annotations

import pytest

import ai
from ai.client import AIClient, OpenAIProvider
from ai.postprocess import (
    DRAFT_TAGS,
    MAX_REASONING_CHARS,
    SENTIMENT_TAGS,
    fast_path_sentiment,
    post_process_inbound,
    score_lead,
)
from tests.fake_openai import usage

pytestmark = pytest.mark.anyio

SMS_SOURCE = "background_job:SMS_INBOUND_POST_PROCESS"
SCORING_SOURCE = "background_job:LEAD_SCORING_POST_PROCESS"
EXPECTED_STATUS = {
    "New": "new",
    "Meeting Booked": "meeting-booked",
    "Meeting Requested": "meeting-requested",
    "Call Requested": "qualified",
    "Information Requested": "qualified",
    "Not Interested": "not-interested",
    "Blacklist": "blacklisted",
    "Follow Up": "new",
    "Out of Office": "new",
    "Automated Reply": "new",
    "Interested": "qualified",
    "Neutral": "new",
    "Snoozed": "new",
}


@pytest.fixture
async def client(store, fake_openai):
    provider = OpenAIProvider(model="gpt-4o-mini", api_key="sk-test", base_url=fake_openai.base_url)
    client = AIClient(store, provider)
    yield client
    await client.close()


def job_for(database, message: dict, attempt: int = 1) -> ai.JobContext:
    row = database.execute(
        "SELECT id, type FROM background_jobs WHERE message_id = ?", (message["id"],)
    ).fetchone()
    return ai.JobContext(
        job_id=row[0],
        job_type=row[1],
        attempt=attempt,
        client_id=message["client_id"],
        lead_id=message["lead_id"],
        message_id=message["id"],
    )


async def run_inbound(client, store, database, message, lead, attempt: int = 1) -> dict:
    """As the job handler runs it: inside the job's source and job context."""
    job = job_for(database, message, attempt)
    with ai.ai_telemetry_source(f"background_job:{job.job_type}"), ai.job_context(job):
        return await post_process_inbound(client, store, message, lead)


async def rows(client, database) -> list[dict]:
    await client.flush()
    return await client.store.list_interactions()


def lead_row(database, lead_id: int) -> dict:
    return dict(database.execute_returning_dicts("SELECT * FROM leads WHERE id = ?", [lead_id])[0])


def drafts(database) -> list[dict]:
    return [dict(r) for r in database.query("SELECT * FROM ai_drafts ORDER BY id")]


# -- sentiment -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "subject", "tag"),
    [
        ("STOP", None, "Blacklist"),
        ("Please unsubscribe me from this list", None, "Blacklist"),
        ("Remove me. Don’t text me again", None, "Blacklist"),
        ("I'd like to opt-out", None, "Blacklist"),
        (
            "Your message could not be delivered",
            "Delivery Status Notification (Failure)",
            "Blacklist",
        ),
        ("Not interested, thanks", None, "Not Interested"),
        ("no thanks", None, "Not Interested"),
        ("No, thank you.", None, "Not Interested"),
        ("I am out of the office until Monday 20th", "Automatic reply", "Out of Office"),
        ("OOO till next week", None, "Out of Office"),
    ],
)
async def test_fast_paths_set_the_tag_without_ai(
    client, store, database, fake_openai, seed_inbound, body, subject, tag
):
    channel = "email" if subject else "sms"
    message, lead = seed_inbound(body, channel=channel, subject=subject)
    result = await run_inbound(client, store, database, message, lead)
    assert (result["sentiment_tag"], result["classified_by"]) == (tag, "rule")
    assert result["status"] == EXPECTED_STATUS[tag]
    updated = lead_row(database, lead["id"])
    assert (updated["sentiment_tag"], updated["status"]) == (tag, EXPECTED_STATUS[tag])
    assert fake_openai.requests == []
    assert await rows(client, database) == []
    assert drafts(database) == []


def test_fast_paths_leave_ordinary_replies_to_the_model():
    for body in ("Yes, I'm interested", "Can we stop by your office?", "thanks!", "No problem"):
        assert fast_path_sentiment(body) is None, body


@pytest.mark.parametrize("tag", SENTIMENT_TAGS)
async def test_model_tag_sets_lead_status_and_drafts_for_follow_up_and_positive_tags(
    client, store, database, fake_openai, seed_inbound, tag
):
    message, lead = seed_inbound("Hmm, tell me about it")
    fake_openai.push_json({"tag": tag, "reason": "scripted"}, usage=usage(300, 10))
    fake_openai.push_json({"body": "Hi Dana, happy to help. Does Tuesday work?"})
    result = await run_inbound(client, store, database, message, lead)

    assert (result["sentiment_tag"], result["classified_by"]) == (tag, "ai")
    updated = lead_row(database, lead["id"])
    assert (updated["sentiment_tag"], updated["status"]) == (tag, EXPECTED_STATUS[tag])
    found = await rows(client, database)
    if tag in DRAFT_TAGS:
        assert [r["feature_id"] for r in found] == ["sentiment.classify", "draft.generate.sms"]
        [draft] = drafts(database)
        assert draft["body"] == "Hi Dana, happy to help. Does Tuesday work?"
        assert (draft["trigger_message_id"], draft["channel"], draft["status"]) == (
            message["id"],
            "sms",
            "pending",
        )
        assert result["draft_id"] == draft["id"] and result["draft_created"] is True
    else:
        assert [r["feature_id"] for r in found] == ["sentiment.classify"]
        assert drafts(database) == []
        assert result["draft_id"] is None
    assert all(r["status"] == "success" and r["source"] == SMS_SOURCE for r in found)
    assert all(r["message_id"] == message["id"] and r["lead_id"] == lead["id"] for r in found)


async def test_tag_spelling_is_forgiven_but_unknown_tags_are_errors(
    client, store, database, fake_openai, seed_inbound
):
    message, lead = seed_inbound("What would the next step be?")
    fake_openai.push_json({"tag": "  meeting   REQUESTED "})
    fake_openai.push_json({"body": "Hi Dana, how about Tuesday at 10?"})
    result = await run_inbound(client, store, database, message, lead)
    assert result["sentiment_tag"] == "Meeting Requested"

    message2, lead2 = seed_inbound("And the price?", contact="c-2")
    fake_openai.push_json({"tag": "Very Positive"})
    with pytest.raises(ai.AIResponseError, match="unknown sentiment tag"):
        await run_inbound(client, store, database, message2, lead2)
    last = (await rows(client, database))[-1]
    assert last["status"] == "error" and "Very Positive" in last["error_message"]
    assert lead_row(database, lead2["id"])["sentiment_tag"] is None


async def test_unparseable_answer_is_an_error_row_and_a_clear_job_error(
    client, store, database, fake_openai, seed_inbound
):
    message, lead = seed_inbound("Interesting, go on")
    fake_openai.push_json("The tag is Interested.", usage=usage(200, 7))
    with pytest.raises(ai.AIResponseError, match="answer is not JSON"):
        await run_inbound(client, store, database, message, lead)
    [row] = await rows(client, database)
    assert (row["status"], row["feature_id"], row["input_tokens"]) == (
        "error",
        "sentiment.classify",
        200,
    )
    updated = lead_row(database, lead["id"])
    assert (updated["sentiment_tag"], updated["status"]) == (None, "new")


# -- drafts ----------------------------------------------------------------------------------


async def test_a_draft_is_made_at_most_once_per_message_and_channel(
    client, store, database, fake_openai, seed_inbound
):
    message, lead = seed_inbound("Sounds good, tell me more")
    first = await run_inbound(client, store, database, message, lead)
    second = await run_inbound(client, store, database, message, lead, attempt=2)
    assert first["draft_created"] is True
    assert second["draft_created"] is False and second["draft_id"] == first["draft_id"]
    assert len(drafts(database)) == 1
    features = [r["feature_id"] for r in await rows(client, database)]
    # the second run re-classifies but never pays for a second draft
    assert features == ["sentiment.classify", "draft.generate.sms", "sentiment.classify"]
    assert len(fake_openai.requests) == 3


def test_insert_draft_does_nothing_on_conflict(store, seed_inbound):
    message, lead = seed_inbound("hi")
    args = (message["client_id"], lead["id"], message["id"], "sms")
    first = store.sync.insert_draft(*args, "first", now="2026-01-18T10:00:00.000Z")
    second = store.sync.insert_draft(*args, "second", now="2026-01-18T10:00:01.000Z")
    assert first == (first[0], True) and second == (first[0], False)
    assert store.sync.get_draft(message["id"], "sms")["body"] == "first"


async def test_a_rate_limited_draft_is_retried_and_made_once(
    client, store, database, fake_openai, seed_inbound
):
    message, lead = seed_inbound("Could you send me more info?")
    fake_openai.push_json({"tag": "Information Requested"})
    fake_openai.push_error(429, headers={"Retry-After": "2"})
    with pytest.raises(ai.AIRetryableError) as caught:
        await run_inbound(client, store, database, message, lead, attempt=1)
    assert caught.value.retry_after == 2.0
    assert lead_row(database, lead["id"])["status"] == "qualified"
    assert drafts(database) == []

    fake_openai.push_json({"tag": "Information Requested"})
    fake_openai.push_json({"body": "Hi Dana, I'll send the details today."})
    result = await run_inbound(client, store, database, message, lead, attempt=2)
    assert result["draft_created"] is True
    found = [(r["feature_id"], r["status"], r["job_attempt"]) for r in await rows(client, database)]
    assert found == [
        ("sentiment.classify", "success", 1),
        ("draft.generate.sms", "error", 1),
        ("sentiment.classify", "success", 2),
        ("draft.generate.sms", "success", 2),
    ]
    assert len(drafts(database)) == 1


async def test_draft_prompt_has_first_name_channel_and_transcript(
    client, store, database, fake_openai, seed_inbound
):
    seed_inbound("Earlier note from the lead", channel="email", contact="c-9", first_name="Ana")
    message, lead = seed_inbound(
        "Yes, interested. Can you call me?", channel="email", contact="c-9", subject="Re: hi"
    )
    fake_openai.push_json({"tag": "Call Requested"})
    fake_openai.push_json({"body": "Hi Ana,\n\nHappy to call. When suits you?\n\nBest"})
    result = await run_inbound(client, store, database, message, lead)
    assert result["draft_created"] is True
    draft_request = fake_openai.requests[1]
    system, user = (m["content"] for m in draft_request["messages"])
    assert "an email body" in system and '{"body"' in system
    assert "Prospect first name: Ana" in user and "Call Requested" in user
    assert "Earlier note from the lead" in user and "Can you call me?" in user
    classify_user = fake_openai.requests[0]["messages"][1]["content"]
    assert "Subject: Re: hi" in classify_user and "Channel: email" in classify_user
    features = [r["feature_id"] for r in await rows(client, database)]
    assert features == ["sentiment.classify", "draft.generate.email"]


async def test_an_empty_or_too_long_draft_is_an_error(
    client, store, database, fake_openai, seed_inbound
):
    message, lead = seed_inbound("Interested!")
    fake_openai.push_json({"tag": "Interested"})
    fake_openai.push_json({"body": "x" * 700})
    with pytest.raises(ai.AIResponseError, match="sms draft is 700 characters"):
        await run_inbound(client, store, database, message, lead)
    fake_openai.push_json({"tag": "Interested"})
    fake_openai.push_json({"body": "  "})
    with pytest.raises(ai.AIResponseError, match="non-empty"):
        await run_inbound(client, store, database, message, lead, attempt=2)
    assert drafts(database) == []


async def test_outbound_messages_and_blacklisted_leads_are_skipped(
    client, store, database, fake_openai, seed_inbound
):
    outbound, lead = seed_inbound("Hi Dana, following up", direction="outbound")
    with ai.ai_telemetry_source(SMS_SOURCE):
        result = await post_process_inbound(client, store, outbound, lead)
    assert result["skipped"] == "not an inbound message"

    message, lead = seed_inbound("STOP", contact="c-2")
    await run_inbound(client, store, database, message, lead)
    later, lead = seed_inbound("Actually yes, interested!", contact="c-2")
    result = await run_inbound(client, store, database, later, lead)
    assert result["skipped"] == "lead is blacklisted"
    assert lead_row(database, lead["id"])["status"] == "blacklisted"
    assert fake_openai.requests == []


async def test_a_late_job_for_an_older_reply_does_not_override_the_newer_tag(
    client, store, database, fake_openai, seed_inbound
):
    older, lead = seed_inbound("Could you send pricing?", sent_at="2026-01-18T10:00:00.000Z")
    newer, lead = seed_inbound("Not interested", sent_at="2026-01-18T11:00:00.000Z")
    result = await run_inbound(client, store, database, newer, lead)
    assert result["lead_updated"] is True

    fake_openai.push_json({"tag": "Information Requested"})
    fake_openai.push_json({"body": "Hi Dana, here is an overview of our pricing."})
    result = await run_inbound(client, store, database, older, lead)
    assert (result["sentiment_tag"], result["lead_updated"]) == ("Information Requested", False)
    updated = lead_row(database, lead["id"])
    assert (updated["sentiment_tag"], updated["status"]) == ("Not Interested", "not-interested")
    assert result["draft_created"] is True  # the older reply still gets its own draft


async def test_a_lead_blacklisted_during_the_call_is_not_revived_nor_drafted_to(
    client, store, database, fake_openai, seed_inbound
):
    message, lead = seed_inbound("Sounds great")
    # the lead row the job read is stale: the lead opted out meanwhile
    await store.set_lead_sentiment(lead["id"], "Blacklist", "blacklisted", now="x")
    fake_openai.push_json({"tag": "Interested"})
    result = await run_inbound(client, store, database, message, lead)
    assert (result["lead_updated"], result["skipped"]) == (False, "lead is blacklisted")
    updated = lead_row(database, lead["id"])
    assert (updated["sentiment_tag"], updated["status"]) == ("Blacklist", "blacklisted")
    assert len(fake_openai.requests) == 1 and drafts(database) == []


# -- lead scoring ----------------------------------------------------------------------------


async def run_scoring(client, store, lead_id: int) -> dict:
    with ai.ai_telemetry_source(SCORING_SOURCE):
        return await score_lead(client, store, lead_id)


async def test_score_from_the_last_20_messages(client, store, database, fake_openai, seed_inbound):
    for i in range(25):
        _, lead = seed_inbound(f"message number {i:02d}", sent_at=f"2026-01-18T10:{i:02d}:00.000Z")
    fake_openai.push_json(
        {"fit": 3, "intent": "4", "overall": 4.0, "reasoning": "Asked for a demo."},
        usage=usage(900, 40),
    )
    result = await run_scoring(client, store, lead["id"])
    assert (result["fit_score"], result["intent_score"], result["overall_score"]) == (3, 4, 4)
    assert result["score_reasoning"] == "Asked for a demo." and not result["disqualified"]
    updated = lead_row(database, lead["id"])
    assert (updated["fit_score"], updated["intent_score"], updated["overall_score"]) == (3, 4, 4)
    assert updated["score_reasoning"] == "Asked for a demo."
    assert updated["scored_at"] == result["scored_at"]

    user = fake_openai.requests[0]["messages"][1]["content"]
    assert "message number 05" in user and "message number 24" in user
    assert "message number 04" not in user
    assert user.index("message number 05") < user.index("message number 24")
    [row] = await rows(client, database)
    assert (row["feature_id"], row["source"], row["lead_id"], row["client_id"]) == (
        "lead_scoring.score",
        SCORING_SOURCE,
        lead["id"],
        lead["client_id"],
    )


async def test_long_reasoning_is_clipped_to_500_characters(
    client, store, database, fake_openai, seed_inbound
):
    _, lead = seed_inbound("Let's talk")
    fake_openai.push_json({"fit": 2, "intent": 3, "overall": 3, "reasoning": "word " * 300})
    result = await run_scoring(client, store, lead["id"])
    assert len(result["score_reasoning"]) == MAX_REASONING_CHARS
    assert result["score_reasoning"].endswith("…")
    assert len(lead_row(database, lead["id"])["score_reasoning"]) == MAX_REASONING_CHARS


@pytest.mark.parametrize(
    "answer",
    [
        {"fit": 5, "intent": 3, "overall": 3, "reasoning": "x"},
        {"fit": 2, "intent": "high", "overall": 3, "reasoning": "x"},
        {"fit": True, "intent": 3, "overall": 3, "reasoning": "x"},
        {"fit": 2, "intent": 3, "overall": 3},
        {"fit": 2, "intent": 3, "reasoning": "x"},
    ],
)
async def test_invalid_scores_are_an_error_row_and_leave_the_lead_unscored(
    client, store, database, fake_openai, seed_inbound, answer
):
    _, lead = seed_inbound("Let's talk")
    fake_openai.push_json(answer)
    with pytest.raises(ai.AIResponseError):
        await run_scoring(client, store, lead["id"])
    [row] = await rows(client, database)
    assert row["status"] == "error"
    assert lead_row(database, lead["id"])["scored_at"] is None


@pytest.mark.parametrize(
    ("tag", "status"), [("Blacklist", "blacklisted"), ("Neutral", "blacklisted")]
)
async def test_blacklisted_leads_are_disqualified_without_ai(
    client, store, database, fake_openai, seed_inbound, tag, status
):
    _, lead = seed_inbound("whatever")
    await store.set_lead_sentiment(lead["id"], tag, status, now="2026-01-18T10:00:00.000Z")
    result = await run_scoring(client, store, lead["id"])
    assert result["disqualified"] is True
    updated = lead_row(database, lead["id"])
    assert (updated["fit_score"], updated["intent_score"], updated["overall_score"]) == (1, 1, 1)
    assert updated["score_reasoning"] == "Disqualified: Blacklist"
    assert fake_openai.requests == []
    assert await rows(client, database) == []


async def test_scoring_a_missing_lead_is_skipped(client, store, database, fake_openai):
    result = await run_scoring(client, store, 12345)
    assert result["skipped"] == "no such lead"
    assert fake_openai.requests == []
