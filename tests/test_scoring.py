"""Lead scoring: 1–4 scores from the last 20 messages, disqualification, the offline heuristic."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import ai
from postprocess import scoring
from postprocess.scoring import MAX_REASONING_CHARS, score
from tests.fake_openai import usage
from tests.postprocess_helpers import SCORING_SOURCE, lead_row, rows, run_scoring

pytestmark = pytest.mark.anyio


# -- units -----------------------------------------------------------------------------------


def test_scores_are_heuristic_and_in_range():
    transcript = [
        {"direction": "outbound", "body": "Hi Dana, are you hiring?"},
        {"direction": "inbound", "body": "Yes we are, twelve engineers this year in two offices"},
        {"direction": "inbound", "body": "Could we set up a meeting next week to discuss it?"},
    ]
    assert score("Meeting Requested", transcript) == {
        "fit": 4,
        "intent": 4,
        "overall": 4,
        "reasoning": "Offline heuristic: latest sentiment Meeting Requested gives intent 4; "
        "2 inbound message(s), 21 words give fit 4.",
    }
    low = score("Not Interested", transcript[:2])
    assert (low["fit"], low["intent"], low["overall"]) == (2, 1, 1)
    assert score(None, [])["overall"] == 2


def test_the_offline_answer_reads_the_prompt_context():
    transcript = [{"direction": "inbound", "body": "Call me", "channel": "sms", "sent_at": "t"}]
    lead = {"first_name": "Dana", "last_name": "Smith", "sentiment_tag": "Call Requested"}
    prompt = scoring.scoring_prompt(lead, transcript)
    assert prompt.context == {"sentiment_tag": "Call Requested", "transcript": transcript}
    assert "Lead: Dana Smith" in prompt.user and "[t sms] Prospect: Call me" in prompt.user
    answer = scoring.offline_answer(prompt)
    assert answer == score("Call Requested", transcript)
    assert scoring.validate_score(answer) == answer


def test_disqualification():
    assert scoring.disqualification({"sentiment_tag": "Blacklist", "status": "new"}) == "Blacklist"
    assert scoring.disqualification({"sentiment_tag": None, "status": "blacklisted"}) == "Blacklist"
    assert scoring.disqualification({"sentiment_tag": "Interested", "status": "qualified"}) is None


# -- in the pipeline, against the fake OpenAI server -------------------------------------------


async def test_score_from_the_last_20_messages(
    openai_client, store, database, fake_openai, seed_inbound
):
    for i in range(25):
        _, lead = seed_inbound(f"message number {i:02d}", sent_at=f"2026-01-18T10:{i:02d}:00.000Z")
    fake_openai.push_json(
        {"fit": 3, "intent": "4", "overall": 4.0, "reasoning": "Asked for a demo."},
        usage=usage(900, 40),
    )
    result = await run_scoring(openai_client, store, lead["id"])
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
    [row] = await rows(openai_client, database)
    assert (row["feature_id"], row["source"], row["lead_id"], row["client_id"]) == (
        "lead_scoring.score",
        SCORING_SOURCE,
        lead["id"],
        lead["client_id"],
    )


async def test_long_reasoning_is_clipped_to_500_characters(
    openai_client, store, database, fake_openai, seed_inbound
):
    _, lead = seed_inbound("Let's talk")
    fake_openai.push_json({"fit": 2, "intent": 3, "overall": 3, "reasoning": "word " * 300})
    result = await run_scoring(openai_client, store, lead["id"])
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
    openai_client, store, database, fake_openai, seed_inbound, answer
):
    _, lead = seed_inbound("Let's talk")
    fake_openai.push_json(answer)
    with pytest.raises(ai.AIResponseError):
        await run_scoring(openai_client, store, lead["id"])
    [row] = await rows(openai_client, database)
    assert row["status"] == "error"
    assert lead_row(database, lead["id"])["scored_at"] is None


@pytest.mark.parametrize(
    ("tag", "status"), [("Blacklist", "blacklisted"), ("Neutral", "blacklisted")]
)
async def test_blacklisted_leads_are_disqualified_without_ai(
    openai_client, store, database, fake_openai, seed_inbound, tag, status
):
    _, lead = seed_inbound("whatever")
    await store.set_lead_sentiment(lead["id"], tag, status, now="2026-01-18T10:00:00.000Z")
    result = await run_scoring(openai_client, store, lead["id"])
    assert result["disqualified"] is True
    updated = lead_row(database, lead["id"])
    assert (updated["fit_score"], updated["intent_score"], updated["overall_score"]) == (1, 1, 1)
    assert updated["score_reasoning"] == "Disqualified: Blacklist"
    assert fake_openai.requests == []
    assert await rows(openai_client, database) == []


async def test_scoring_a_missing_lead_is_skipped(openai_client, store, fake_openai):
    """The scoring job reads the lead once; a lead that is gone is skipped without AI."""
    from scheduler.job_handlers import lead_scoring_post_process

    job = {"id": 7, "type": "LEAD_SCORING_POST_PROCESS", "client_id": 1, "lead_id": 12345}
    ctx = SimpleNamespace(job=job, store=store, ai=openai_client, skip=lambda reason: reason)
    assert await lead_scoring_post_process(ctx) == "lead 12345 no longer exists"
    assert fake_openai.requests == []
    assert await store.list_interactions() == []
