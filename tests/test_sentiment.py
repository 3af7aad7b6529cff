"""Sentiment: the rule table (fast paths, offline classifier), the model's tag, lead status."""

from __future__ import annotations

import pytest

import ai
from db.vocab import LEAD_STATUSES, SENTIMENT_TAGS, is_sms_opt_out
from postprocess import sentiment
from postprocess.drafts import DRAFT_TAGS
from postprocess.sentiment import classify_offline, fast_path_sentiment
from tests.fake_openai import usage
from tests.postprocess_helpers import SMS_SOURCE, drafts, lead_row, rows, run_inbound

pytestmark = pytest.mark.anyio

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
FAST_PATH_CASES = [
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
]


# -- the vocabulary and the rule table (units) -------------------------------------------------


def test_tags_and_statuses_come_from_the_one_vocabulary():
    assert set(EXPECTED_STATUS) == set(SENTIMENT_TAGS)
    assert {tag: sentiment.status_for(tag) for tag in SENTIMENT_TAGS} == EXPECTED_STATUS
    assert set(sentiment.STATUS_BY_TAG.values()) <= set(LEAD_STATUSES)
    assert sentiment.DEFAULT_STATUS in LEAD_STATUSES
    assert {rule.tag for rule in sentiment.RULES} <= set(SENTIMENT_TAGS)
    assert DRAFT_TAGS.issubset(SENTIMENT_TAGS)


def test_the_fast_paths_are_the_first_rules_of_the_one_table():
    fast = [rule.fast for rule in sentiment.RULES]
    assert fast == sorted(fast, reverse=True)  # the fast paths first, then the offline rules
    assert [r.tag for r in sentiment.FAST_PATHS] == ["Blacklist", "Not Interested", "Out of Office"]
    for body, subject, tag in FAST_PATH_CASES:
        assert fast_path_sentiment(body, subject) == tag
        assert classify_offline(body, subject)[0] == tag  # offline agrees with the fast paths


@pytest.mark.parametrize(
    ("body", "tag"),
    [
        ("Yes, I'm interested!", "Interested"),
        ("Can you call me tomorrow?", "Call Requested"),
        ("Could we set up a meeting next week?", "Meeting Requested"),
        ("I just booked a slot on your calendar, see you on Monday", "Meeting Booked"),
        ("How much does it cost?", "Information Requested"),
        ("Not right now, maybe later", "Follow Up"),
        ("Reach out again next quarter", "Snoozed"),
        ("This is an automated message, do not reply", "Automated Reply"),
        ("I'm out of the office until the 20th", "Out of Office"),
        ("Not interested", "Not Interested"),
        ("STOP", "Blacklist"),
        ("Ok", "Neutral"),
        ("", "New"),
    ],
)
def test_offline_classifier_rules(body, tag):
    found, reason = classify_offline(body)
    assert found == tag, reason
    assert found in SENTIMENT_TAGS


@pytest.mark.parametrize(
    ("body", "tag"),
    [
        ("Please do not contact us again", "Blacklist"),
        ("no thank u", "Not Interested"),
        ("I'll be on vacation next week", "Out of Office"),
    ],
)
def test_the_offline_classifier_is_broader_than_the_fast_paths(body, tag):
    assert fast_path_sentiment(body) is None  # a real model decides these
    assert classify_offline(body)[0] == tag


def test_the_offline_answer_reads_the_prompt_context():
    prompt = sentiment.sentiment_prompt(
        {"channel": "email", "subject": "Re: hi", "body": "Could you send me pricing?"}
    )
    assert prompt.context == {"body": "Could you send me pricing?", "subject": "Re: hi"}
    assert sentiment.offline_answer(prompt) == {
        "tag": "Information Requested",
        "reason": "matched 'pricing'",
    }
    assert sentiment.validate_sentiment(sentiment.offline_answer(prompt)) == "Information Requested"


def test_fast_paths_leave_ordinary_replies_to_the_model():
    for body in ("Yes, I'm interested", "Can we stop by your office?", "thanks!", "No problem"):
        assert fast_path_sentiment(body) is None, body


# -- in the pipeline, against the fake OpenAI server -------------------------------------------


@pytest.mark.parametrize(("body", "subject", "tag"), FAST_PATH_CASES)
async def test_fast_paths_set_the_tag_without_ai(
    openai_client, store, database, fake_openai, seed_inbound, body, subject, tag
):
    # An SMS carrier keyword ("STOP") opts out when it is stored, before any job: as an
    # email it is left to the fast path.
    channel = "email" if subject or is_sms_opt_out(body) else "sms"
    message, lead = seed_inbound(body, channel=channel, subject=subject)
    result = await run_inbound(openai_client, store, database, message, lead)
    assert (result["sentiment_tag"], result["classified_by"]) == (tag, "rule")
    assert result["status"] == EXPECTED_STATUS[tag]
    updated = lead_row(database, lead["id"])
    assert (updated["sentiment_tag"], updated["status"]) == (tag, EXPECTED_STATUS[tag])
    assert fake_openai.requests == []
    assert await rows(openai_client, database) == []
    assert drafts(database) == []


@pytest.mark.parametrize("tag", SENTIMENT_TAGS)
async def test_model_tag_sets_lead_status_and_drafts_for_follow_up_and_positive_tags(
    openai_client, store, database, fake_openai, seed_inbound, tag
):
    message, lead = seed_inbound("Hmm, tell me about it")
    fake_openai.push_json({"tag": tag, "reason": "scripted"}, usage=usage(300, 10))
    fake_openai.push_json({"body": "Hi Dana, happy to help. Does Tuesday work?"})
    result = await run_inbound(openai_client, store, database, message, lead)

    assert (result["sentiment_tag"], result["classified_by"]) == (tag, "ai")
    updated = lead_row(database, lead["id"])
    assert (updated["sentiment_tag"], updated["status"]) == (tag, EXPECTED_STATUS[tag])
    found = await rows(openai_client, database)
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
    openai_client, store, database, fake_openai, seed_inbound
):
    message, lead = seed_inbound("What would the next step be?")
    fake_openai.push_json({"tag": "  meeting   REQUESTED "})
    fake_openai.push_json({"body": "Hi Dana, how about Tuesday at 10?"})
    result = await run_inbound(openai_client, store, database, message, lead)
    assert result["sentiment_tag"] == "Meeting Requested"

    message2, lead2 = seed_inbound("And the price?", contact="c-2")
    fake_openai.push_json({"tag": "Very Positive"})
    with pytest.raises(ai.AIResponseError, match="unknown sentiment tag"):
        await run_inbound(openai_client, store, database, message2, lead2)
    last = (await rows(openai_client, database))[-1]
    assert last["status"] == "error" and "Very Positive" in last["error_message"]
    assert lead_row(database, lead2["id"])["sentiment_tag"] is None


async def test_unparseable_answer_is_an_error_row_and_a_clear_job_error(
    openai_client, store, database, fake_openai, seed_inbound
):
    message, lead = seed_inbound("Interesting, go on")
    fake_openai.push_json("The tag is Interested.", usage=usage(200, 7))
    with pytest.raises(ai.AIResponseError, match="answer is not JSON"):
        await run_inbound(openai_client, store, database, message, lead)
    [row] = await rows(openai_client, database)
    assert (row["status"], row["feature_id"], row["input_tokens"]) == (
        "error",
        "sentiment.classify",
        200,
    )
    updated = lead_row(database, lead["id"])
    assert (updated["sentiment_tag"], updated["status"]) == (None, "new")
