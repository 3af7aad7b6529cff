"""The AI client against a local OpenAI-compatible server: one ai_interactions row per call."""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, datetime

import pytest

import ai
import db
from ai import AIClient, OpenAIProvider, Prompt
from ai._openai import retry_after_seconds
from ai.client import parse_json_object
from ai.prices import PriceTable, catalogue_version
from db.sqlite import ops
from tests.fake_openai import usage

pytestmark = pytest.mark.anyio

SOURCE = "test:ai-client"
NOW = datetime(2026, 1, 18, 10, 0, 0, 123000, tzinfo=UTC)
PROMPT = Prompt(
    feature_id="sentiment.classify",
    prompt_key="sentiment.classify.v1",
    system='Answer with only a JSON object: {"tag": "..."}',
    user="Reply: yes please",
)


@pytest.fixture
async def make_client(store, fake_openai):
    made: list[AIClient] = []

    def make(
        model: str = "gpt-4o-mini",
        prices: PriceTable | None = None,
        timeout: float = 10.0,
        base_url: str | None = None,
    ) -> AIClient:
        provider = OpenAIProvider(
            model=model,
            api_key="sk-test",
            base_url=base_url or fake_openai.base_url,
            timeout=timeout,
        )
        client = AIClient(store, provider, prices=prices, clock=lambda: NOW)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def rows_after(client: AIClient, database) -> list[dict]:
    await client.flush()
    return await client.store.list_interactions()


# -- success rows: tokens, cost, request -----------------------------------------------------


async def test_success_row_has_usage_tokens_and_cost_from_the_price_table(
    make_client, fake_openai, database
):
    fake_openai.push_json({"tag": "Interested"}, usage=usage(1000, 200, cached=400, reasoning=50))
    client = make_client(model="gpt-4o-mini")
    with ai.ai_telemetry_source(SOURCE):
        result = await client.complete_json(PROMPT)
    assert result.value == {"tag": "Interested"}

    [row] = await rows_after(client, database)
    assert row["cost_usd"] == pytest.approx((600 * 0.15 + 400 * 0.075 + 200 * 0.60) / 1e6)
    assert {k: row[k] for k in row if k not in ("id", "latency_ms", "cost_usd")} == {
        "source": SOURCE,
        "client_id": None,
        "lead_id": None,
        "message_id": None,
        "background_job_id": None,
        "job_attempt": None,
        "feature_id": "sentiment.classify",
        "prompt_key": "sentiment.classify.v1",
        "provider": "openai",
        "api_type": "chat_completions",
        "model": "gpt-4o-mini",
        "response_model": "gpt-4o-mini-2024-07-18",
        "input_tokens": 1000,
        "cached_input_tokens": 400,
        "output_tokens": 200,
        "reasoning_tokens": 50,
        "total_tokens": 1200,
        "status": "success",
        "error_message": None,
        "price_input_per_mtok": 0.15,
        "price_cached_input_per_mtok": 0.075,
        "price_output_per_mtok": 0.60,
        "price_source": f"genai-prices {catalogue_version()} openai/gpt-4o-mini",
        "created_at": "2026-01-18T10:00:00.123Z",
    }
    assert isinstance(row["latency_ms"], int) and row["latency_ms"] >= 0
    assert result.interaction["cost_usd"] == row["cost_usd"]

    [request] = fake_openai.requests
    assert request["model"] == "gpt-4o-mini"
    assert request["response_format"] == {"type": "json_object"}
    assert request["messages"] == [
        {"role": "system", "content": PROMPT.system},
        {"role": "user", "content": PROMPT.user},
    ]
    assert fake_openai.headers[0]["authorization"] == "Bearer sk-test"


async def test_price_falls_back_to_the_response_model(make_client, fake_openai, database):
    prices = PriceTable.from_json(
        '{"acme-1-20250131": {"input": 1.0, "cached_input": 0.5, "output": 2}}'
    )
    fake_openai.push_json({"ok": True}, usage=usage(300, 100, cached=100), model="acme-1-20250131")
    client = make_client(model="my-deployment-alias", prices=prices)
    with ai.ai_telemetry_source(SOURCE):
        await client.complete_json(PROMPT)
    [row] = await rows_after(client, database)
    assert row["model"] == "my-deployment-alias"
    assert row["response_model"] == "acme-1-20250131"
    assert row["cost_usd"] == pytest.approx((200 * 1.0 + 100 * 0.5 + 100 * 2.0) / 1e6)
    assert (row["price_input_per_mtok"], row["price_source"]) == (1.0, "env")


async def test_unknown_model_has_null_cost_never_zero(make_client, fake_openai, database):
    fake_openai.push_json({"ok": True}, usage=usage(500, 50), model="local-llama-3")
    client = make_client(model="local-llama-3")
    with ai.ai_telemetry_source(SOURCE):
        await client.complete_json(PROMPT)
    [row] = await rows_after(client, database)
    assert row["input_tokens"] == 500 and row["output_tokens"] == 50
    assert row["cost_usd"] is None
    assert row["price_source"] is None and row["price_input_per_mtok"] is None


async def test_missing_usage_is_null_tokens_and_null_cost(make_client, fake_openai, database):
    fake_openai.push_json({"ok": True}, usage=None)
    client = make_client()
    with ai.ai_telemetry_source(SOURCE):
        await client.complete_json(PROMPT)
    [row] = await rows_after(client, database)
    assert row["status"] == "success"
    for column in ("input_tokens", "cached_input_tokens", "output_tokens", "total_tokens"):
        assert row[column] is None
    assert row["cost_usd"] is None


# -- error rows ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [({"Retry-After": "7"}, 7.0), ({"retry-after-ms": "1500"}, 1.5), ({}, None)],
)
async def test_429_is_retryable_with_retry_after_and_an_error_row(
    make_client, fake_openai, database, headers, retry_after
):
    fake_openai.push_error(429, headers=headers, message="Rate limit reached")
    client = make_client()
    with ai.ai_telemetry_source(SOURCE), pytest.raises(ai.AIRateLimited) as caught:
        await client.complete_json(PROMPT)
    assert caught.value.retry_after == retry_after
    assert caught.value.endpoint == f"POST {fake_openai.base_url}/chat/completions"
    assert caught.value.feature_id == "sentiment.classify"
    [row] = await rows_after(client, database)
    assert row["status"] == "error"
    assert "429" in row["error_message"] and "Rate limit reached" in row["error_message"]
    assert row["source"] == SOURCE
    assert row["input_tokens"] is None and row["response_model"] is None
    assert row["latency_ms"] is not None
    assert row["cost_usd"] is None  # no usage: unknown, like every failure without usage
    assert row["price_input_per_mtok"] == 0.15  # what it would have been charged


async def test_500_is_retryable_and_an_error_row(make_client, fake_openai, database):
    fake_openai.push_error(500)
    client = make_client()
    with ai.ai_telemetry_source(SOURCE), pytest.raises(ai.AIRetryableError) as caught:
        await client.complete_json(PROMPT)
    assert (caught.value.retry_after, caught.value.status_code) == (None, 500)
    assert not isinstance(caught.value, ai.AIRateLimited)
    [row] = await rows_after(client, database)
    assert row["status"] == "error" and "HTTP 500" in row["error_message"]
    assert row["cost_usd"] is None


async def test_400_is_a_request_error_not_retryable(make_client, fake_openai, database):
    fake_openai.push_error(400, message="Unknown parameter")
    client = make_client()
    with ai.ai_telemetry_source(SOURCE), pytest.raises(ai.AIRequestError) as caught:
        await client.complete_json(PROMPT)
    assert caught.value.status_code == 400
    assert not isinstance(caught.value, ai.AIRetryableError)
    [row] = await rows_after(client, database)
    assert row["status"] == "error"


async def test_unparseable_content_is_a_response_error_row_with_its_usage(
    make_client, fake_openai, database
):
    fake_openai.push_json("Sure! The tag is {Interested", usage=usage(80, 12))
    client = make_client()
    with ai.ai_telemetry_source(SOURCE), pytest.raises(ai.AIResponseError):
        await client.complete_json(PROMPT)
    [row] = await rows_after(client, database)
    assert row["status"] == "error"
    assert row["error_message"].startswith("AIResponseError: answer is not JSON")
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (80, 12, 92)
    assert row["response_model"] == "gpt-4o-mini-2024-07-18"
    assert row["cost_usd"] == pytest.approx((80 * 0.15 + 12 * 0.60) / 1e6)  # it was billed


async def test_output_failing_validation_is_a_response_error_row(
    make_client, fake_openai, database
):
    fake_openai.push_json({"tag": 42})

    def validate(data: dict) -> str:
        if not isinstance(data["tag"], str):
            raise ValueError("tag must be a string")
        return data["tag"]

    client = make_client()
    with ai.ai_telemetry_source(SOURCE), pytest.raises(ai.AIResponseError, match="tag must be"):
        await client.complete_json(PROMPT, validate=validate)
    [row] = await rows_after(client, database)
    assert row["status"] == "error" and "tag must be a string" in row["error_message"]


async def test_timeout_is_retryable(make_client, fake_openai, database):
    fake_openai.push_json({"ok": True}, delay=2.0)
    client = make_client(timeout=0.3)
    with ai.ai_telemetry_source(SOURCE), pytest.raises(ai.AIRetryableError, match="timeout"):
        await client.complete_json(PROMPT)
    [row] = await rows_after(client, database)
    assert row["status"] == "error" and row["latency_ms"] >= 250
    assert row["cost_usd"] is None  # it may have been billed: unknown, counted as unpriced


async def test_connection_error_is_retryable(make_client, database):
    from tests.conftest import free_port

    client = make_client(base_url=f"http://127.0.0.1:{free_port()}/v1")
    with ai.ai_telemetry_source(SOURCE), pytest.raises(ai.AIRetryableError, match="connection"):
        await client.complete_json(PROMPT)
    [row] = await rows_after(client, database)
    assert row["status"] == "error"


async def test_the_sdk_posts_over_aiohttp(make_client, fake_openai, database):
    # Half the CPU a call of the SDK's default pool (bench/ai_client.py).
    import openai

    client = make_client()
    assert isinstance(client.provider._client._client, openai.DefaultAioHttpClient)
    with ai.ai_telemetry_source(SOURCE):
        await client.complete_json(PROMPT)
    [row] = await rows_after(client, database)
    assert row["status"] == "success"


async def test_a_connection_the_server_closes_is_a_connection_error(make_client, database):
    # The SDK's aiohttp transport calls this a connect timeout; the log must not say timeout.
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = make_client(base_url=f"http://127.0.0.1:{port}/v1")
        with (
            ai.ai_telemetry_source(SOURCE),
            pytest.raises(ai.AIRetryableError, match=r"^connection error: ") as raised,
        ):
            await client.complete_json(PROMPT)
        assert raised.value.kind == "connection error"
    finally:
        server.close()
        await server.wait_closed()
    [row] = await rows_after(client, database)
    assert row["status"] == "error" and "timeout" not in row["error_message"]


# -- telemetry never fails the call ----------------------------------------------------------


async def test_a_failing_telemetry_write_does_not_fail_the_call(
    make_client, fake_openai, database, monkeypatch, caplog
):
    def broken(database, row):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ops, "record_interaction", broken)
    fake_openai.push_json({"tag": "Interested"})
    client = make_client()
    with ai.ai_telemetry_source(SOURCE), caplog.at_level(logging.ERROR, "leadhook.ai"):
        result = await client.complete_json(PROMPT)
        await client.flush()
    assert result.value == {"tag": "Interested"}
    assert await client.store.list_interactions() == []
    assert client.records_failed == 1
    assert "disk on fire" in caplog.text


async def test_a_closed_store_does_not_fail_the_call(make_client, fake_openai, store, caplog):
    client = make_client()
    store.close()
    fake_openai.push_json({"tag": "Neutral"})
    with ai.ai_telemetry_source(SOURCE), caplog.at_level(logging.WARNING, "leadhook.ai"):
        result = await client.complete_json(PROMPT)
    assert result.value == {"tag": "Neutral"}
    assert (client.records_pending, client.records_failed) == (1, 0)  # kept for a retry
    assert "keeping 1 in memory" in caplog.text
    with caplog.at_level(logging.ERROR, "leadhook.ai"):
        await client.close()
    assert (client.records_pending, client.records_failed) == (0, 1)
    assert "1 AI interaction row(s) could not be written and are lost" in caplog.text


async def test_the_call_path_does_not_wait_for_the_commit(make_client, fake_openai, store):
    """The row is submitted to the writer; the call returns before it is committed."""
    import threading

    gate = threading.Event()
    store.writer.submit(lambda database: gate.wait(5))  # the writer is busy until the gate opens
    fake_openai.push_json({"tag": "Neutral"})
    client = make_client()
    try:
        with ai.ai_telemetry_source(SOURCE):
            await client.complete_json(PROMPT)
        assert client.records_submitted == 1
    finally:
        gate.set()
    await client.flush()


# -- attribution -----------------------------------------------------------------------------


async def test_explicit_source_wins_over_the_context(make_client, fake_openai, database):
    client = make_client()
    with ai.ai_telemetry_source("background_job:SMS_INBOUND_POST_PROCESS"):
        await client.complete_json(PROMPT)
        await client.complete_json(PROMPT, source="  explicit:source  ")
        await client.complete_json(PROMPT, source="   ")  # empty: no explicit source
    sources = [r["source"] for r in await rows_after(client, database)]
    assert sources == [
        "background_job:SMS_INBOUND_POST_PROCESS",
        "explicit:source",
        "background_job:SMS_INBOUND_POST_PROCESS",
    ]


@pytest.mark.allow_unattributed
async def test_no_source_is_stored_as_null(make_client, fake_openai, database):
    client = make_client()
    assert ai.current_source() is None
    await client.complete_json(PROMPT)
    [row] = await rows_after(client, database)
    assert row["source"] is None
    assert (await client.store.unattributed_interactions())[0]["id"] == row["id"]


async def test_job_fields_come_from_the_job_context(
    make_client, fake_openai, database, seed_inbound
):
    message, lead = seed_inbound("yes please", contact="c-1")
    other_message, other_lead = seed_inbound("hello", contact="c-2")
    job_id = database.execute("SELECT id FROM background_jobs ORDER BY id LIMIT 1").fetchone()[0]
    job = ai.JobContext(
        job_id=job_id,
        job_type=db.vocab.SMS_INBOUND_POST_PROCESS,
        attempt=2,
        client_id=message["client_id"],
        lead_id=lead["id"],
        message_id=message["id"],
    )
    client = make_client()
    with ai.ai_telemetry_source("background_job:SMS_INBOUND_POST_PROCESS"), ai.job_context(job):
        await client.complete_json(PROMPT)
        await client.complete_json(PROMPT, lead_id=other_lead["id"], message_id=other_message["id"])
    first, second = await rows_after(client, database)
    assert (first["background_job_id"], first["job_attempt"]) == (job_id, 2)
    assert (first["client_id"], first["lead_id"], first["message_id"]) == (
        message["client_id"],
        lead["id"],
        message["id"],
    )
    assert (second["background_job_id"], second["job_attempt"]) == (job_id, 2)
    assert (second["lead_id"], second["message_id"]) == (other_lead["id"], other_message["id"])
    assert second["client_id"] == message["client_id"]


async def test_a_vanished_reference_is_stored_as_null(make_client, fake_openai, database):
    client = make_client()
    with ai.ai_telemetry_source(SOURCE):
        await client.complete_json(PROMPT, client_id=999, lead_id=998, message_id=997)
    [row] = await rows_after(client, database)
    assert (row["client_id"], row["lead_id"], row["message_id"]) == (None, None, None)


# -- parsing (units) -----------------------------------------------------------------------


def test_retry_after_header_forms():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"retry-after": "soon"}) is None
    later = "Sun, 18 Jan 2099 10:00:00 GMT"
    assert retry_after_seconds({"retry-after": later}) > 1e9
    assert retry_after_seconds({}) is None
    # an HTTP date counts from the clock given (else the current UTC time)
    date = {"retry-after": "Sun, 18 Jan 2026 10:00:30 GMT"}
    assert retry_after_seconds(date, now=datetime(2026, 1, 18, 10, 0, tzinfo=UTC)) == 30.0
    assert retry_after_seconds(date, now=datetime(2026, 1, 18, 11, 0, tzinfo=UTC)) == 0.0


def test_parse_json_object():
    assert parse_json_object('{"a": 1}') == {"a": 1}
    assert parse_json_object('```json\n{"a": 1}\n```') == {"a": 1}
    for bad in (None, "", "[1]", "nope"):
        with pytest.raises(ai.AIResponseError):
            parse_json_object(bad)
    assert math.isclose(parse_json_object('{"x": 0.5}')["x"], 0.5)
