"""The storage contract of what issue #9 and #11 added for AI calls, through :class:`db.Store`
only (every backend runs it): rows stored in batches with their unit prices, a report that
never turns unknown costs into 0, a message's own classification kept for retries, and jobs'
failed attempts counted apart from their snoozes."""

from __future__ import annotations

import pytest

import db
from db.vocab import SMS_INBOUND_POST_PROCESS
from tests.test_db_contract import LATER, T0, T1, ingest

SOURCE = "background_job:SMS_INBOUND_POST_PROCESS"


@pytest.fixture
def client(backend_store):
    found, token = backend_store.sync.create_client(name="Acme", now=T0, ghl_location_id="loc")
    return found, db.hash_token(token)


def ai_row(**overrides) -> dict:
    row = dict(
        source=SOURCE,
        feature_id="sentiment.classify",
        provider="openai",
        api_type="chat_completions",
        model="gpt-4o-2024-05-13",
        input_tokens=1000,
        cached_input_tokens=0,
        output_tokens=100,
        total_tokens=1100,
        latency_ms=200,
        status="success",
        cost_usd=0.0065,
        price_input_per_mtok=5.0,
        price_cached_input_per_mtok=5.0,
        price_output_per_mtok=15.0,
        price_source="genai-prices 0.2.3 openai/gpt-4o-2024-05-13",
        created_at=T0,
    )
    row.update(overrides)
    return row


def test_interaction_rows_keep_their_unit_prices_and_are_written_in_batches(backend_store):
    ids = backend_store.sync.record_interactions([ai_row(), ai_row(model="x", cost_usd=None)])
    assert len(ids) == 2
    first, second = backend_store.sync.list_interactions()
    assert (first["id"], second["id"]) == tuple(ids)
    assert (
        first["price_input_per_mtok"],
        first["price_cached_input_per_mtok"],
        first["price_output_per_mtok"],
        first["price_source"],
        first["cost_usd"],
    ) == (5.0, 5.0, 15.0, "genai-prices 0.2.3 openai/gpt-4o-2024-05-13", 0.0065)
    assert backend_store.sync.record_interactions([]) == []


def test_a_batch_is_all_or_nothing(backend_store):
    with pytest.raises(db.DatabaseError):
        backend_store.sync.record_interactions([ai_row(), ai_row(status="maybe")])
    assert backend_store.sync.list_interactions() == []


@pytest.mark.allow_unattributed
def test_a_group_whose_calls_all_lack_a_cost_has_no_cost(backend_store):
    backend_store.sync.record_interactions(
        [
            ai_row(),
            ai_row(status="error", cost_usd=None, input_tokens=None, output_tokens=None),
            ai_row(model="local-llama", cost_usd=None, price_source=None),
            ai_row(model="local-llama", cost_usd=None, price_source=None, source=None),
            ai_row(provider="offline", model="offline", cost_usd=0.0, price_source="offline"),
        ]
    )
    by_model = {g["group"]: g for g in backend_store.sync.ai_report("model")["groups"]}
    assert (by_model["local-llama"]["cost_usd"], by_model["local-llama"]["unpriced_calls"]) == (
        None,
        2,
    )
    assert by_model["offline"]["cost_usd"] == 0.0  # known to be free is not unknown
    assert by_model["gpt-4o-2024-05-13"]["cost_usd"] == pytest.approx(0.0065)
    assert by_model["gpt-4o-2024-05-13"]["unpriced_calls"] == 1
    assert list(by_model)[-1] == "local-llama"  # groups without a cost come last
    by_source = {g["group"]: g for g in backend_store.sync.ai_report("source")["groups"]}
    assert by_source["unattributed"]["cost_usd"] is None
    total = backend_store.sync.ai_report("source")["total"]
    assert (total["calls"], total["unpriced_calls"]) == (5, 3)
    assert total["cost_usd"] == pytest.approx(0.0065)
    empty = backend_store.sync.ai_report("source", since=LATER)
    assert (empty["groups"], empty["total"]["cost_usd"]) == ([], None)


@pytest.mark.allow_unattributed
def test_the_same_in_the_sqlite_view_ai_spend_by_source(store, database):
    store.sync.record_interactions(
        [ai_row(), ai_row(source=None, model="local-llama", cost_usd=None, price_source=None)]
    )
    found = {r["source"]: r for r in database.query("SELECT * FROM ai_spend_by_source")}
    assert found["unattributed"]["cost_usd"] is None and found["unattributed"]["unpriced_calls"]
    assert found[SOURCE]["cost_usd"] == pytest.approx(0.0065)


def test_a_message_keeps_its_first_classification_with_the_lead_update(backend_store, client):
    stored = ingest(backend_store, client)
    sync = backend_store.sync
    assert sync.get_sentiment(stored.message_id) is None
    updated = sync.record_sentiment(
        stored.message_id, stored.lead_id, "Interested", "qualified", classified_by="ai", now=T1
    )
    assert updated is True
    lead = sync.get_lead(stored.lead_id)
    assert (lead["sentiment_tag"], lead["status"]) == ("Interested", "qualified")
    kept = sync.get_sentiment(stored.message_id)
    assert (kept["sentiment_tag"], kept["classified_by"], kept["created_at"]) == (
        "Interested",
        "ai",
        T1,
    )
    sync.record_sentiment(
        stored.message_id, stored.lead_id, "Neutral", "new", classified_by="rule", now=LATER
    )
    assert sync.get_sentiment(stored.message_id)["sentiment_tag"] == "Interested"  # first stays


def test_failed_attempts_are_counted_apart_from_snoozes(backend_store, client):
    sync = backend_store.sync
    job_id = ingest(backend_store, client).job_id

    def attempt(result: db.JobResult) -> None:
        [claimed] = sync.claim_jobs(runner_id="r", now=LATER, limit=1)
        assert sync.finish_job(claimed, result, runner_id="r", now=LATER)[0]

    attempt(db.JobResult("PENDING", "rate limited", run_at=T0, snooze=True))
    attempt(db.JobResult("PENDING", "boom", run_at=T0))
    [listed] = sync.list_jobs(job_type=SMS_INBOUND_POST_PROCESS)
    assert (listed["id"], listed["attempts"], listed["snoozes"], listed["failures"]) == (
        job_id,
        2,
        1,
        1,
    )
    [running] = sync.claim_jobs(runner_id="r", now=LATER, limit=1)
    assert sync.list_jobs(status="RUNNING")[0]["failures"] == 1  # the attempt running is none
    counts = sync.job_stats(now=LATER)["counts"]
    assert [(c["status"], c["failures"], c["snoozes"]) for c in counts] == [("RUNNING", 1, 1)]
    sync.finish_job(running, db.JobResult("SUCCEEDED"), runner_id="r", now=LATER)
    assert sync.list_jobs()[0]["failures"] == 1
