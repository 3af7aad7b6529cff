"""The offline provider: answers handed in by feature id, free rows with estimated tokens, and
the product's offline answers (postprocess.OFFLINE_ANSWERS) behind the same client."""

from __future__ import annotations

import json
import math

import pytest

import ai
import postprocess
from config import Settings
from postprocess.drafts import write_draft
from postprocess.sentiment import sentiment_prompt

pytestmark = pytest.mark.anyio

SOURCE = "background_job:SMS_INBOUND_POST_PROCESS"


def prompt(feature_id: str) -> ai.Prompt:
    return ai.Prompt(feature_id, f"{feature_id}.v1", "system text", "user text", {"n": 1})


@pytest.fixture
def client(store):
    settings = Settings(db_path=str(store.path), ai_provider="offline")
    return ai.create_client(settings, store, offline_answers=postprocess.OFFLINE_ANSWERS)


# -- the provider (generic) ------------------------------------------------------------------


def test_answers_by_feature_id_exact_then_longest_prefix():
    provider = ai.OfflineProvider(
        {
            "draft.": lambda p: {"by": "draft."},
            "draft.generate.": lambda p: {"by": "draft.generate."},
            "draft.generate.sms": lambda p: {"by": "exact", "n": p.context["n"]},
        }
    )
    assert provider.answer(prompt("draft.generate.sms")) == {"by": "exact", "n": 1}
    assert provider.answer(prompt("draft.generate.email")) == {"by": "draft.generate."}
    assert provider.answer(prompt("draft.other")) == {"by": "draft."}
    with pytest.raises(ValueError, match="does not know feature 'draft'"):
        provider.answer(prompt("draft"))  # a prefix key matches only what follows its dot


async def test_an_unknown_feature_is_an_error_row(store):
    client = ai.AIClient(store, ai.OfflineProvider())
    with ai.ai_telemetry_source(SOURCE), pytest.raises(ValueError, match="does not know"):
        await client.complete_json(prompt("sentiment.classify"))
    await client.flush()
    [row] = await store.list_interactions()
    assert (row["status"], row["provider"], row["cost_usd"]) == ("error", "offline", 0.0)
    assert "does not know feature" in row["error_message"]


async def test_rows_are_free_with_estimated_tokens(store):
    answer = {"text": "é" * 9}
    client = ai.AIClient(store, ai.OfflineProvider({"x.y": lambda p: answer}))
    with ai.ai_telemetry_source(SOURCE):
        result = await client.complete_json(ai.Prompt("x.y", "x.y.v1", "s" * 9, "u" * 4))
    assert result.value == answer
    await client.flush()
    [row] = await store.list_interactions()
    output = math.ceil(len(json.dumps(answer, ensure_ascii=False)) / 4)
    assert (row["input_tokens"], row["output_tokens"]) == (3 + 1, output)
    assert (row["cached_input_tokens"], row["reasoning_tokens"]) == (0, 0)
    assert row["total_tokens"] == 4 + output
    assert (row["model"], row["response_model"], row["cost_usd"]) == ("offline", "offline", 0.0)


# -- the product's offline answers -----------------------------------------------------------


def test_the_offline_answers_cover_every_feature_of_the_pipeline():
    provider = ai.OfflineProvider(postprocess.OFFLINE_ANSWERS)
    for feature in ("sentiment.classify", "lead_scoring.score", "draft.generate.sms"):
        assert provider.answer_for(feature) is not None
    assert set(postprocess.OFFLINE_ANSWERS) == {
        "sentiment.classify",
        "draft.generate.",
        "lead_scoring.score",
    }


async def test_offline_rows_are_free_estimated_and_deterministic(
    client, store, database, seed_inbound
):
    first, lead = seed_inbound("Sounds good, tell me more", first_name="Dana")
    second, lead2 = seed_inbound("Sounds good, tell me more", contact="c-2", first_name="Dana")
    with ai.ai_telemetry_source(SOURCE):
        a = await postprocess.post_process_inbound(client, store, first, lead)
        b = await postprocess.post_process_inbound(client, store, second, lead2)
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
    provider = ai.OfflineProvider(postprocess.OFFLINE_ANSWERS)
    answer = json.dumps(provider.answer(prompt), ensure_ascii=False)
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
    lead = await store.get_lead(lead["id"])
    with ai.ai_telemetry_source("background_job:LEAD_SCORING_POST_PROCESS"):
        result = await postprocess.score_lead(client, store, lead)
    assert (result["intent_score"], result["fit_score"], result["overall_score"]) == (4, 3, 4)
    assert result["score_reasoning"].startswith("Offline heuristic")


def test_the_app_puts_the_client_on_its_state(serve):
    server = serve()
    client = server.app.state.ai
    assert isinstance(client, ai.AIClient)
    assert (client.provider.name, client.model) == ("offline", "offline")
    assert client.provider.answer_for("draft.generate.email") is not None
