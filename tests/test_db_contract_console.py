"""The storage contract of the console's operations and the day-two commands (clients
disabled and updated, jobs found, discarded and retried by filter, leads' timelines, drafts
approved or rejected, AI spend from the roll-ups), tested only through :class:`db.Store`."""

from __future__ import annotations

import pytest

import db
from db.vocab import (
    DISCARDED,
    EMAIL_INBOUND_POST_PROCESS,
    LEAD_SCORING_POST_PROCESS,
    SMS_INBOUND_POST_PROCESS,
)

T0 = "2026-01-18T10:00:00.000Z"
T1 = "2026-01-18T10:00:01.000Z"
NEXT_DAY = "2026-01-19T09:30:00.000Z"


@pytest.fixture
def client(backend_store):
    found, token = backend_store.sync.create_client(name="Acme", now=T0, ghl_location_id="loc")
    return found, db.hash_token(token)


def ingest(store, client, key: str, job_type: str = SMS_INBOUND_POST_PROCESS, contact="c-1"):
    found, token_hash = client
    message = db.NewMessage(
        client_id=found.id,
        channel="sms",
        direction="inbound",
        body=f"reply {key}",
        sent_at=T0,
        received_at=T0,
        source="test",
        dedupe_column="ghl_id",
        dedupe_value=key,
        job_type=job_type,
    )
    lead = db.LeadFields(ghl_contact_id=contact)
    return store.sync.ingest(found.id, token_hash, message, lead)


def fail(store, job_id: int, error: str) -> None:
    """Claim jobs until ``job_id`` is claimed, fail it, and put the others back."""
    claimed = store.sync.claim_jobs(runner_id="r", now=T1, limit=100)
    for job in claimed:
        if job["id"] == job_id:
            store.sync.finish_job(job, db.JobResult("FAILED", error=error), runner_id="r", now=T1)
    store.sync.release_jobs([j for j in claimed if j["id"] != job_id], runner_id="r", now=T1,
                            reason="test")  # fmt: skip


# -- clients -------------------------------------------------------------------------------------


def test_a_disabled_client_is_refused_by_the_lookup_and_inside_writes(backend_store, client):
    found, token_hash = client
    sync = backend_store.sync
    disabled, changed = sync.disable_client(found.id, now=T1)
    assert changed and disabled.disabled_at == T1
    assert sync.client_by_token_hash(token_hash) is None
    with pytest.raises(db.TokenRevoked):
        ingest(backend_store, client, "m1")
    assert sync.disable_client(found.id, now=NEXT_DAY) == (disabled, False)
    enabled, changed = sync.enable_client(found.id, now=NEXT_DAY)
    assert changed and enabled.disabled_at is None
    assert sync.client_by_token_hash(token_hash) == enabled
    assert not ingest(backend_store, client, "m1").deduped
    assert sync.enable_client(found.id, now=NEXT_DAY)[1] is False
    assert sync.disable_client(9999, now=T1) == (None, False)


def test_a_client_is_updated_and_its_workspace_ids_stay_unique(backend_store, client):
    found, _ = client
    sync = backend_store.sync
    other, _ = sync.create_client(name="Other", now=T0, unipile_account_id="acc")
    updated = sync.update_client(found.id, now=T1, name="Acme EU", email_workspace_id="ws-9")
    assert (updated.name, updated.email_workspace_id, updated.ghl_location_id) == (
        "Acme EU",
        "ws-9",
        "loc",
    )
    assert sync.update_client(found.id, now=T1, ghl_location_id="").ghl_location_id is None
    with pytest.raises(db.DuplicateWorkspace):
        sync.update_client(found.id, now=T1, unipile_account_id="acc")
    assert sync.get_client(other.id).unipile_account_id == "acc"
    assert sync.update_client(9999, now=T1, name="x") is None


# -- jobs: find, discard, retry-all --------------------------------------------------------------


def test_jobs_are_found_by_filter_newest_first_by_keyset(backend_store, client):
    ids = [ingest(backend_store, client, f"m{i}").job_id for i in range(5)]
    email = ingest(backend_store, client, "e1", EMAIL_INBOUND_POST_PROCESS).job_id
    fail(backend_store, ids[1], "AIResponseError: 401 invalid key")
    sync = backend_store.sync
    assert [j["id"] for j in sync.find_jobs({}, limit=3)] == [email, ids[4], ids[3]]
    assert [j["id"] for j in sync.find_jobs({}, before_id=ids[3], limit=3)] == ids[2::-1]
    assert [j["id"] for j in sync.find_jobs({"type": EMAIL_INBOUND_POST_PROCESS})] == [email]
    assert [j["id"] for j in sync.find_jobs({"status": "FAILED"})] == [ids[1]]
    assert [j["id"] for j in sync.find_jobs({"error": "INVALID KEY"})] == [ids[1]]
    assert sync.find_jobs({"client_id": client[0].id + 1}) == []
    assert sync.find_jobs({"status": "PENDING"}, limit=1)[0]["client_name"] == "Acme"


def test_discard_sets_a_pending_or_failed_job_aside_and_refuses_the_others(backend_store, client):
    pending, failed, done = (ingest(backend_store, client, f"m{i}").job_id for i in range(3))
    fail(backend_store, failed, "TimeoutError")
    sync = backend_store.sync
    [claimed] = [j for j in sync.claim_jobs(runner_id="r", now=T1, limit=5) if j["id"] == done]
    job, reason = sync.discard_job(done, now=T1)
    assert (job["status"], reason) == ("RUNNING", reason) and "RUNNING" in reason
    sync.finish_job(claimed, db.JobResult("SUCCEEDED"), runner_id="r", now=T1)
    sync.release_jobs([sync.get_job(pending)], runner_id="r", now=T1, reason="test")

    job, reason = sync.discard_job(pending, now=NEXT_DAY)
    assert reason is None
    assert (job["status"], job["last_error"], job["finished_at"]) == ("FAILED", DISCARDED, NEXT_DAY)
    assert sync.claim_jobs(runner_id="r", now=NEXT_DAY, limit=10) == []
    job, reason = sync.discard_job(failed, now=NEXT_DAY)
    assert reason is None and job["last_error"] == f"{DISCARDED} (it had failed: TimeoutError)"
    assert sync.discard_job(failed, now=NEXT_DAY)[1] == "it is already discarded"
    assert "SUCCEEDED" in sync.discard_job(done, now=NEXT_DAY)[1]
    assert sync.discard_job(9999, now=T1) == (None, "no job 9999")
    # Discarded jobs are left out of retry-all, but one can still be retried by hand.
    assert sync.count_retryable({}) == {"count": 0, "upto_id": None}
    job, retried = sync.retry_job(pending, now=NEXT_DAY)
    assert retried and (job["status"], job["last_error"]) == ("PENDING", None)


def test_retry_all_retries_the_counted_failed_jobs_of_the_filter(backend_store, client):
    sms = [ingest(backend_store, client, f"m{i}").job_id for i in range(5)]
    email = ingest(backend_store, client, "e1", EMAIL_INBOUND_POST_PROCESS).job_id
    for job_id in [*sms[:4], email]:
        fail(backend_store, job_id, "AIRetryableError: 503")
    sync = backend_store.sync
    sync.discard_job(sms[3], now=T1)
    counted = sync.count_retryable({"type": SMS_INBOUND_POST_PROCESS})
    assert counted == {"count": 3, "upto_id": sms[2]}
    fail(backend_store, sms[4], "AIRetryableError: 503")  # fails after the count was shown
    retried = sync.retry_failed_jobs(
        {"type": SMS_INBOUND_POST_PROCESS}, upto_id=counted["upto_id"], now=NEXT_DAY, batch=2
    )
    assert retried == 3
    status = {j["id"]: j["status"] for j in sync.find_jobs({}, limit=10)}
    assert [status[i] for i in sms] == ["PENDING", "PENDING", "PENDING", "FAILED", "FAILED"]
    assert status[email] == "FAILED"
    assert sync.get_job(sms[0])["attempts"] == 0
    assert sync.count_retryable({"error": "503"}) == {"count": 2, "upto_id": email}


def test_the_overview_counts_jobs_failures_and_rows(backend_store, client):
    ids = [ingest(backend_store, client, f"m{i}", contact=f"c{i}").job_id for i in range(3)]
    fail(backend_store, ids[0], "boom")
    sync = backend_store.sync
    overview = sync.console_overview(now=NEXT_DAY)
    assert overview["by_status"] == {"PENDING": 2, "RUNNING": 0, "SUCCEEDED": 0, "FAILED": 1}
    assert overview["oldest_due"]["id"] == ids[1]
    assert overview["failed_24h"] == 1
    assert (overview["messages_total"], overview["leads_total"], overview["clients"]) == (3, 3, 1)
    assert sync.console_overview(now="2026-01-20T10:00:01.000Z")["failed_24h"] == 0


def test_job_detail_has_its_message_lead_and_ai_rows(backend_store, client):
    stored = ingest(backend_store, client, "m1")
    sync = backend_store.sync
    sync.record_interaction(ai_row(client, job_id=stored.job_id, lead_id=stored.lead_id))
    detail = sync.job_detail(stored.job_id)
    assert detail["job"]["client_name"] == "Acme"
    assert detail["message"]["body"] == "reply m1"
    assert detail["lead"]["id"] == stored.lead_id
    assert [r["background_job_id"] for r in detail["interactions"]] == [stored.job_id]
    assert sync.job_detail(9999) is None


# -- leads and drafts ----------------------------------------------------------------------------


def test_a_lead_timeline_has_its_messages_changes_drafts_and_spend(backend_store, client):
    first = ingest(backend_store, client, "m1")
    ingest(backend_store, client, "m2")
    sync = backend_store.sync
    lead_id = first.lead_id
    sync.set_lead_sentiment(lead_id, "Interested", "qualified", now=T1)
    sync.set_lead_score(lead_id, 3, 4, 4, "keen", now=NEXT_DAY)
    sync.insert_draft(client[0].id, lead_id, first.message_id, "sms", "Hi!", now=T1)
    sync.record_interaction(ai_row(client, lead_id=lead_id, cost=0.002))
    sync.record_interaction(ai_row(client, lead_id=lead_id, cost=None))
    timeline = sync.lead_timeline(lead_id)
    assert timeline["lead"]["client_name"] == "Acme"
    assert [m["body"] for m in timeline["messages"]] == ["reply m2", "reply m1"]
    changes = [(c["field"], c["old_value"], c["new_value"]) for c in timeline["changes"]]
    assert ("status", "new", "qualified") in changes
    assert ("sentiment_tag", None, "Interested") in changes
    assert ("overall_score", None, "4") in changes
    assert [d["body"] for d in timeline["drafts"]] == ["Hi!"]
    [spend] = timeline["spend"]
    assert (spend["calls"], spend["cost_usd"], spend["unpriced_calls"]) == (2, 0.002, 1)
    assert sync.lead_timeline(9999) is None
    assert [lead["id"] for lead in sync.list_leads({"status": "qualified"})] == [lead_id]
    assert sync.list_leads({"client_id": client[0].id}, before_id=lead_id) == []


def test_drafts_are_approved_or_rejected_once_and_never_for_an_opted_out_lead(
    backend_store, client
):
    sync = backend_store.sync
    ids = []
    for n in range(3):
        stored = ingest(backend_store, client, f"m{n}", contact=f"c{n}")
        ids.append(
            sync.insert_draft(client[0].id, stored.lead_id, stored.message_id, "sms", "Hi", now=T1)[
                0
            ]
        )
    draft, reason = sync.approve_draft(ids[0], now=NEXT_DAY)
    assert (draft["status"], reason) == ("approved", None)
    assert "already approved" in sync.reject_draft(ids[0], now=NEXT_DAY)[1]
    assert sync.reject_draft(ids[1], now=NEXT_DAY)[0]["status"] == "rejected"
    assert [d["id"] for d in sync.list_drafts({"status": "pending"})] == [ids[2]]
    # An opted-out lead's pending drafts are rejected; none of its drafts can be approved.
    found, token_hash = client
    sync.unsubscribe(found.id, token_hash, db.LeadFields(ghl_contact_id="c2"), NEXT_DAY)
    draft, reason = sync.approve_draft(ids[2], now=NEXT_DAY)
    assert draft["status"] == "rejected" and "already rejected" in reason
    assert sync.approve_draft(9999, now=T1) == (None, "no draft 9999")
    lead_id = sync.get_draft_by_id(ids[2])["lead_id"]
    fields = {c["field"] for c in sync.lead_timeline(lead_id)["changes"]}
    assert {"status", "sentiment_tag", "opted_out_at"} <= fields
    assert sync.get_draft_by_id(ids[0])["lead_status"] == "new"


# -- AI spend from the roll-ups ------------------------------------------------------------------


def ai_row(client, *, job_id=None, lead_id=None, cost=0.001, latency=1200, **overrides) -> dict:
    row = {
        "source": f"background_job:{SMS_INBOUND_POST_PROCESS}",
        "client_id": client[0].id,
        "lead_id": lead_id,
        "background_job_id": job_id,
        "feature_id": "sentiment.classify",
        "provider": "openai",
        "api_type": "chat_completions",
        "model": "gpt-4o-mini",
        "input_tokens": 100,
        "cached_input_tokens": 20,
        "output_tokens": 10,
        "reasoning_tokens": 0,
        "total_tokens": 110,
        "latency_ms": latency,
        "status": "success",
        "cost_usd": cost,
        "created_at": T0,
    }
    row.update(overrides)
    return row


def test_ai_spend_agrees_with_the_report_of_the_raw_rows(backend_store, client):
    sync = backend_store.sync
    other, _ = sync.create_client(name="Beta", now=T0)
    rows = [ai_row(client, latency=100 + 37 * n, cost=0.001 * n, created_at=T0) for n in range(20)]
    rows += [ai_row(client, feature_id="draft.generate.sms", latency=2500, status="error",
                    cost=None, created_at=NEXT_DAY)]  # fmt: skip
    rows += [ai_row((other, ""), source=f"background_job:{LEAD_SCORING_POST_PROCESS}",
                    feature_id="lead_scoring.score", model="unpriced", cost=None,
                    latency=None, created_at=NEXT_DAY)]  # fmt: skip
    for row in rows:
        sync.record_interaction(row)
    window = {"since": "2026-01-18", "until": "2026-01-20"}
    for by in ("source", "feature", "model"):
        spend, report = sync.ai_spend(by, **window), sync.ai_report(by)
        for name in ("calls", "errors", "total_tokens", "unpriced_calls", "cached_input_tokens"):
            assert spend["total"][name] == report["total"][name]
        assert spend["total"]["cost_usd"] == pytest.approx(report["total"]["cost_usd"])
        assert [g["label"] for g in spend["groups"]] == [g["group"] for g in report["groups"]]
        for mine, theirs in zip(spend["groups"], report["groups"], strict=True):
            assert mine["calls"] == theirs["calls"]
            for p in ("latency_p50_ms", "latency_p95_ms"):
                if theirs[p] is None:
                    assert mine[p] is None
                else:
                    assert mine[p] == pytest.approx(theirs[p], rel=0.05)
    by_client = sync.ai_spend("client", **window)
    assert [(g["label"], g["calls"]) for g in by_client["groups"]] == [("Acme", 21), ("Beta", 1)]
    first_day = sync.ai_spend("source", since="2026-01-18", until="2026-01-19")
    assert first_day["total"]["calls"] == 20
    series = sync.ai_spend_series("feature", **window, bucket="day")
    assert [(r["at"], r["label"], r["calls"]) for r in series] == [
        ("2026-01-18T00:00:00.000Z", "sentiment.classify", 20),
        ("2026-01-19T00:00:00.000Z", "draft.generate.sms", 1),
        ("2026-01-19T00:00:00.000Z", "lead_scoring.score", 1),
    ]
    hourly = sync.ai_spend_series("source", **window, bucket="hour")
    assert {r["at"] for r in hourly} == {"2026-01-18T10:00:00.000Z", "2026-01-19T09:00:00.000Z"}
    with pytest.raises(ValueError, match="by must be"):
        sync.ai_spend("colour", **window)


def test_the_database_says_which_migrations_it_has(backend_store):
    about = backend_store.sync.database_about()
    assert about["migrations"][0]["name"] == "m001_initial"
    assert "m009_console" in [m["name"] for m in about["migrations"]]
    assert about["size_bytes"] > 0
    # The About page names the engine that serves the data, never "SQLite" on Postgres.
    if about["backend"] == "postgres":
        assert about["server_version"].startswith("PostgreSQL ")
        assert "sqlite_version" not in about
    else:
        assert about["sqlite_version"].count(".") == 2 and "server_version" not in about
