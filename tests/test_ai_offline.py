"""The offline provider: deterministic sentiment, drafts and scores behind the same client."""

from __future__ import annotations

import json
import math

import pytest

import ai
from ai.offline import OfflineProvider, classify_sentiment, score, write_draft
from ai.postprocess import SENTIMENT_TAGS, post_process_inbound, score_lead, sentiment_prompt
from config import Settings

pytestmark = pytest.mark.anyio

SOURCE = "background_job:SMS_INBOUND_POST_PROCESS"


@pytest.fixture
def client(store):
    return ai.create_client(Settings(db_path=str(store.path), ai_provider="offline"), store)


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
def test_classifier_rules(body, tag):
    found, reason = classify_sentiment(body)
    assert found == tag, reason
    assert found in SENTIMENT_TAGS


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


async def test_offline_rows_are_free_estimated_and_deterministic(
    client, store, database, seed_inbound
):
    first, lead = seed_inbound("Sounds good, tell me more", first_name="Dana")
    second, lead2 = seed_inbound("Sounds good, tell me more", contact="c-2", first_name="Dana")
    with ai.ai_telemetry_source(SOURCE):
        a = await post_process_inbound(client, store, first, lead)
        b = await post_process_inbound(client, store, second, lead2)
    assert a["sentiment_tag"] == b["sentiment_tag"] == "Interested"
    bodies = [d["body"] for d in database.query("SELECT body FROM ai_drafts ORDER BY id")]
    assert bodies == [write_draft("sms", "Dana", "Interested")] * 2

    await client.flush()
    found = await store.list_interactions()
    assert [r["feature_id"] for r in found] == ["sentiment.classify", "draft.generate.sms"] * 2
    for row in found:
        assert (row["provider"], row["model"], row["response_model"]) == (
            "offline",
            "offline",
            "offline",
        )
        assert (row["api_type"], row["status"], row["source"]) == (
            "chat_completions",
            "success",
            SOURCE,
        )
        assert row["cost_usd"] == 0.0
        assert row["cached_input_tokens"] == 0 and row["reasoning_tokens"] == 0
        assert row["total_tokens"] == row["input_tokens"] + row["output_tokens"]
    prompt = sentiment_prompt(first)
    answer = json.dumps(OfflineProvider().answer(prompt), ensure_ascii=False)
    assert found[0]["input_tokens"] == math.ceil(len(prompt.system) / 4) + math.ceil(
        len(prompt.user) / 4
    )
    assert found[0]["output_tokens"] == math.ceil(len(answer) / 4)
    assert (found[0]["input_tokens"], found[0]["output_tokens"]) == (
        found[2]["input_tokens"],
        found[2]["output_tokens"],
    )
    assert (await store.ai_report())["total"]["unpriced_calls"] == 0


async def test_offline_scoring(client, store, database, seed_inbound):
    seed_inbound("Can we set up a meeting next week?")
    _, lead = seed_inbound("Thursday works for the demo")
    await store.set_lead_sentiment(lead["id"], "Meeting Requested", "meeting-requested", now="x")
    with ai.ai_telemetry_source("background_job:LEAD_SCORING_POST_PROCESS"):
        result = await score_lead(client, store, lead["id"])
    assert (result["intent_score"], result["fit_score"], result["overall_score"]) == (4, 3, 4)
    assert result["score_reasoning"].startswith("Offline heuristic")


def test_provider_defaults_to_offline_without_an_api_key(monkeypatch, store):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("LEADHOOK_AI_PROVIDER", raising=False)
    settings = Settings.from_env(db_path=store.path)
    assert settings.ai_provider == "offline"
    assert ai.create_client(settings, store).provider.name == "offline"


def test_the_app_puts_the_client_on_its_state(serve):
    server = serve()
    client = server.app.state.ai
    assert isinstance(client, ai.AIClient)
    assert (client.provider.name, client.model) == ("offline", "offline")
