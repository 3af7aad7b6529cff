"""The storage interface's contract: what every backend must do, tested only through
:class:`db.Store`'s operations (never its SQL). ``backend_store`` is parametrised by backend:
a second backend joins by adding its name to ``BACKENDS`` in ``tests/conftest.py``."""

from __future__ import annotations

import inspect
from concurrent.futures import ThreadPoolExecutor

import pytest

import db
from db.vocab import LEAD_SCORING_POST_PROCESS, SMS_INBOUND_POST_PROCESS

T0 = "2026-01-18T10:00:00.000Z"
T1 = "2026-01-18T10:00:01.000Z"
LATER = "2026-01-18T11:00:00.000Z"


def message(client_id: int, key: str = "m1", **overrides) -> db.NewMessage:
    values = dict(
        client_id=client_id,
        channel="sms",
        direction="inbound",
        body="Sounds good",
        sent_at=T0,
        received_at=T0,
        source="test",
        dedupe_column="ghl_id",
        dedupe_value=key,
        job_type=SMS_INBOUND_POST_PROCESS,
    )
    values.update(overrides)
    return db.NewMessage(**values)


@pytest.fixture
def client(backend_store):
    found, token = backend_store.sync.create_client(name="Acme", now=T0, ghl_location_id="loc")
    return found, db.hash_token(token)


def ingest(store, client, key: str = "m1", lead: db.LeadFields | None = None, **overrides):
    found, token_hash = client
    lead = lead or db.LeadFields(ghl_contact_id="c-1", first_name="Dana")
    return store.sync.ingest(found.id, token_hash, message(found.id, key, **overrides), lead)


def test_every_operation_of_the_interface_is_implemented(backend_store):
    names = [
        name
        for name, member in inspect.getmembers(db.Store, inspect.iscoroutinefunction)
        if not name.startswith("_")
        and name not in {"ready", "readiness", "flush", "write_op", "read_op"}
    ]
    assert len(names) > 30
    missing = [name for name in names if not callable(getattr(backend_store.ops, name, None))]
    assert missing == []


# -- clients -------------------------------------------------------------------------------------


def test_clients_are_found_by_token_hash_and_workspace_only(backend_store, client):
    found, token_hash = client
    sync = backend_store.sync
    assert sync.client_by_token_hash(token_hash) == found
    assert sync.client_by_token_hash(db.hash_token("lh_wrong")) is None
    assert sync.client_by_workspace("ghl_location_id", "loc") == found
    assert sync.get_client(found.id) == found
    assert sync.list_clients() == [found]
    with pytest.raises(db.DuplicateWorkspace):
        sync.create_client(name="Other", now=T0, ghl_location_id="loc")


def test_a_rotated_token_stops_working_at_once(backend_store, client):
    found, token_hash = client
    new_token = backend_store.sync.rotate_token(found.id, now=T1)
    assert backend_store.sync.client_by_token_hash(token_hash) is None
    assert backend_store.sync.client_by_token_hash(db.hash_token(new_token)).id == found.id
    with pytest.raises(db.TokenRevoked):
        ingest(backend_store, client)
    assert backend_store.sync.rotate_token(9999, now=T1) is None


# -- ingest: exactly once, the heal table --------------------------------------------------------


def test_a_message_is_stored_once_with_its_lead_and_job(backend_store, client):
    first = ingest(backend_store, client)
    again = ingest(backend_store, client)
    assert (first.deduped, first.job_enqueued) == (False, True)
    assert (again.deduped, again.job_enqueued) == (True, False)
    assert (again.message_id, again.lead_id, again.job_id) == (
        first.message_id,
        first.lead_id,
        first.job_id,
    )
    stored = backend_store.sync.get_message(first.message_id)
    assert (stored["body"], stored["ghl_id"], stored["sent_at"]) == ("Sounds good", "m1", T0)
    lead = backend_store.sync.get_lead(first.lead_id)
    assert (lead["first_name"], lead["last_inbound_at"], lead["status"]) == ("Dana", T0, "new")
    job = backend_store.sync.get_job(first.job_id)
    key = f"{client[0].id}:{first.message_id}:{SMS_INBOUND_POST_PROCESS}"
    assert (job["status"], job["dedupe_key"], job["max_attempts"]) == ("PENDING", key, 5)


def test_concurrent_identical_deliveries_make_one_message(backend_store, client):
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: ingest(backend_store, client), range(32)))
    assert sum(not r.deduped for r in results) == 1
    assert len({r.message_id for r in results}) == 1
    assert sum(r.job_enqueued for r in results) == 1


def test_a_lead_is_matched_by_its_identifiers_and_only_blanks_are_filled(backend_store, client):
    first = ingest(backend_store, client, lead=db.LeadFields(email="Dana@Example.com"))
    second = ingest(
        backend_store,
        client,
        "m2",
        lead=db.LeadFields(email="dana@example.com", phone="+1 (555) 010-9999", first_name="D"),
    )
    assert second.lead_id == first.lead_id
    lead = backend_store.sync.get_lead(first.lead_id)
    assert (lead["email"], lead["phone_digits"], lead["first_name"]) == (
        "dana@example.com",
        "15550109999",
        "D",
    )


def test_repeats_of_a_content_key_outside_the_window_are_new_messages(backend_store, client):
    keyed = dict(dedupe_column="webhook_dedupe_key", repeat_window_seconds=60)
    first = ingest(backend_store, client, "ghl_sms:abc", **keyed)
    retry = ingest(backend_store, client, "ghl_sms:abc", received_at=T1, **keyed)
    repeat = ingest(backend_store, client, "ghl_sms:abc", received_at=LATER, **keyed)
    assert retry.deduped and retry.message_id == first.message_id
    assert not repeat.deduped and repeat.message_id != first.message_id
    stored = backend_store.sync.get_message(repeat.message_id)
    assert stored["webhook_dedupe_key"] == "ghl_sms:abc#2"


def _fail_job(store, job_id: int) -> None:
    [claimed] = store.sync.claim_jobs(runner_id="r", now=T1, limit=1)
    assert claimed["id"] == job_id
    assert store.sync.finish_job(
        claimed, db.JobResult("FAILED", "boom"), runner_id="r", now=T1
    ) == (True, [])


def test_a_duplicate_heals_a_failed_job_and_leaves_the_others(backend_store, client):
    first = ingest(backend_store, client)
    _fail_job(backend_store, first.job_id)
    healed = ingest(backend_store, client)
    assert (healed.deduped, healed.job_enqueued) == (True, True)
    job = backend_store.sync.get_job(first.job_id)
    assert (job["status"], job["attempts"], job["last_error"]) == ("PENDING", 0, None)
    [running] = backend_store.sync.claim_jobs(runner_id="r", now=T1, limit=1)
    assert ingest(backend_store, client).job_enqueued is False  # RUNNING: unchanged
    assert backend_store.sync.get_job(first.job_id)["status"] == "RUNNING"
    backend_store.sync.finish_job(running, db.JobResult("SUCCEEDED"), runner_id="r", now=T1)
    assert ingest(backend_store, client).job_enqueued is False  # SUCCEEDED: unchanged
    assert backend_store.sync.get_job(first.job_id)["status"] == "SUCCEEDED"


def test_unsubscribe_blacklists_and_rejects_pending_drafts(backend_store, client):
    stored = ingest(backend_store, client)
    sync = backend_store.sync
    sync.insert_draft(client[0].id, stored.lead_id, stored.message_id, "sms", "Hi!", now=T0)
    lead_id = sync.unsubscribe(client[0].id, client[1], db.LeadFields(ghl_contact_id="c-1"), T1)
    assert lead_id == stored.lead_id
    lead = sync.get_lead(lead_id)
    assert (lead["status"], lead["sentiment_tag"]) == ("blacklisted", "Blacklist")
    assert sync.get_draft(stored.message_id, "sms")["status"] == "rejected"
    assert not sync.set_lead_sentiment(lead_id, "Interested", "qualified", now=LATER)


# -- post-processing -----------------------------------------------------------------------------


def test_sentiment_of_an_older_message_never_overrides_a_newer_one(backend_store, client):
    old = ingest(backend_store, client, "m1", sent_at=T0)
    new = ingest(backend_store, client, "m2", sent_at=T1, received_at=T1)
    sync = backend_store.sync
    assert sync.set_lead_sentiment(
        new.lead_id, "Interested", "qualified", now=T1, message_id=new.message_id
    )
    assert not sync.set_lead_sentiment(
        old.lead_id, "Not Interested", "not-interested", now=T1, message_id=old.message_id
    )
    assert sync.get_lead(old.lead_id)["sentiment_tag"] == "Interested"


def test_one_draft_per_message_and_channel(backend_store, client):
    stored = ingest(backend_store, client)
    args = (client[0].id, stored.lead_id, stored.message_id, "sms")
    first = backend_store.sync.insert_draft(*args, "first", now=T0)
    second = backend_store.sync.insert_draft(*args, "second", now=T1)
    assert first == (first[0], True) and second == (first[0], False)
    assert backend_store.sync.get_draft(stored.message_id, "sms")["body"] == "first"


def test_finish_inbound_moves_rollups_and_enqueues_scoring_once(backend_store, client):
    stored = ingest(backend_store, client)
    row = backend_store.sync.get_message(stored.message_id)
    job_id, enqueued = backend_store.sync.finish_inbound(row, now=T1)
    assert enqueued and backend_store.sync.finish_inbound(row, now=T1) == (job_id, False)
    job = backend_store.sync.get_job(job_id)
    assert (job["type"], job["max_attempts"], job["lead_id"]) == (
        LEAD_SCORING_POST_PROCESS,
        3,
        stored.lead_id,
    )
    assert backend_store.sync.set_lead_score(stored.lead_id, 3, 4, 4, "keen", now=T1)
    assert backend_store.sync.get_lead(stored.lead_id)["overall_score"] == 4


def test_recent_transcript_is_oldest_first(backend_store, client):
    for n, at in enumerate((T1, T0, LATER)):
        ingest(backend_store, client, f"m{n}", sent_at=at, body=f"b{n}")
    lead_id = ingest(backend_store, client, "m0").lead_id
    transcript = backend_store.sync.recent_transcript(lead_id, 2)
    assert [m["body"] for m in transcript] == ["b0", "b2"]


# -- background jobs -----------------------------------------------------------------------------


def _jobs(store, client, n: int) -> list[int]:
    return [ingest(store, client, f"m{i}").job_id for i in range(n)]


def test_claims_are_exclusive_and_oldest_first(backend_store, client):
    ids = _jobs(backend_store, client, 5)
    first = backend_store.sync.claim_jobs(runner_id="a", now=T1, limit=3)
    second = backend_store.sync.claim_jobs(runner_id="b", now=T1, limit=3)
    assert [j["id"] for j in first] == ids[:3] and [j["id"] for j in second] == ids[3:]
    assert all(j["status"] == "RUNNING" and j["attempts"] == 1 for j in first + second)
    assert backend_store.sync.claim_jobs(runner_id="c", now=T1, limit=3) == []
    assert not backend_store.sync.has_due(now=T1) and backend_store.sync.count_due(now=T1) == 0


def test_concurrent_claims_never_share_a_job(backend_store, client):
    _jobs(backend_store, client, 20)
    with ThreadPoolExecutor(8) as pool:
        batches = list(
            pool.map(
                lambda n: backend_store.sync.claim_jobs(runner_id=f"r{n}", now=T1, limit=3),
                range(10),
            )
        )
    claimed = [job["id"] for batch in batches for job in batch]
    assert len(claimed) == len(set(claimed)) == 20


def test_results_are_fenced_by_runner_and_attempt(backend_store, client):
    _jobs(backend_store, client, 1)
    [claimed] = backend_store.sync.claim_jobs(runner_id="r1", now=T1, limit=1)
    sync = backend_store.sync
    ok = db.JobResult("SUCCEEDED")
    assert sync.finish_job(claimed, ok, runner_id="r2", now=T1) == (False, [])
    stale = {**claimed, "attempts": 0}
    assert sync.finish_job(stale, ok, runner_id="r1", now=T1) == (False, [])
    assert sync.finish_job(claimed, ok, runner_id="r1", now=T1) == (True, [])
    assert sync.finish_job(claimed, ok, runner_id="r1", now=T1) == (False, [])


def test_a_result_can_claim_the_successor_in_the_same_transaction(backend_store, client):
    ids = _jobs(backend_store, client, 2)
    [first] = backend_store.sync.claim_jobs(runner_id="r", now=T1, limit=1)
    written, claimed = backend_store.sync.finish_job(
        first, db.JobResult("SUCCEEDED"), runner_id="r", now=T1, claim_limit=1
    )
    assert written and [j["id"] for j in claimed] == ids[1:]


def test_a_snooze_reschedules_without_a_failure(backend_store, client):
    [job_id] = _jobs(backend_store, client, 1)
    [claimed] = backend_store.sync.claim_jobs(runner_id="r", now=T1, limit=1)
    snooze = db.JobResult("PENDING", "rate limited", run_at=LATER, snooze=True)
    assert backend_store.sync.finish_job(claimed, snooze, runner_id="r", now=T1)[0]
    job = backend_store.sync.get_job(job_id)
    assert (job["status"], job["run_at"], job["attempts"], job["snoozes"]) == (
        "PENDING",
        LATER,
        1,
        1,
    )
    assert backend_store.sync.claim_jobs(runner_id="r", now=T1, limit=1) == []


def test_release_puts_claims_back_without_a_failure(backend_store, client):
    _jobs(backend_store, client, 2)
    claimed = backend_store.sync.claim_jobs(runner_id="r", now=T1, limit=2)
    assert backend_store.sync.release_jobs(claimed, runner_id="r", now=T1, reason="bye") == 2
    stats = backend_store.sync.job_stats(now=T1)
    assert stats["by_status"]["PENDING"] == 2 and stats["oldest_due"] is not None


def test_leases_are_renewed_and_expired_ones_recovered(backend_store, client):
    ids = _jobs(backend_store, client, 2)
    backend_store.sync.claim_jobs(runner_id="live", now=T0, limit=1)
    backend_store.sync.claim_jobs(runner_id="dead", now=T0, limit=1)
    assert backend_store.sync.renew_leases(runner_id="live", job_ids=[ids[0]], now=LATER) == [
        ids[0]
    ]
    assert sorted(backend_store.sync.running_lockers()) == ["dead", "live"]
    recovered = backend_store.sync.recover_jobs(now=LATER, locked_before=T1)
    assert recovered == {"released": [ids[1]], "failed": []}
    assert backend_store.sync.get_job(ids[1])["status"] == "PENDING"
    assert backend_store.sync.recover_jobs(now=LATER, dead_runners=["live"]) == {
        "released": [ids[0]],
        "failed": [],
    }


def test_retry_resets_only_failed_jobs(backend_store, client):
    [job_id] = _jobs(backend_store, client, 1)
    assert backend_store.sync.retry_job(job_id, now=T1) == (
        backend_store.sync.get_job(job_id),
        False,
    )
    _fail_job(backend_store, job_id)
    job, retried = backend_store.sync.retry_job(job_id, now=LATER)
    assert retried and (job["status"], job["attempts"], job["run_at"]) == ("PENDING", 0, LATER)
    assert backend_store.sync.retry_job(424242, now=T1) == (None, False)


def test_listing_and_pruning_finished_jobs(backend_store, client):
    [job_id, pending_id] = _jobs(backend_store, client, 2)
    _fail_job(backend_store, job_id)
    failed = backend_store.sync.list_jobs(status="FAILED")
    assert [j["id"] for j in failed] == [job_id]
    assert backend_store.sync.list_jobs(job_type=SMS_INBOUND_POST_PROCESS, limit=1)[0]["id"] == (
        pending_id
    )
    assert backend_store.sync.prune_jobs(before=LATER, batch=100) == 1
    assert backend_store.sync.get_job(job_id) is None
    assert backend_store.sync.get_job(pending_id) is not None


# -- AI telemetry ---------------------------------------------------------------------------------


@pytest.mark.allow_unattributed
def test_interactions_are_recorded_reported_and_pruned(backend_store, client):
    stored = ingest(backend_store, client)
    row = dict(
        source="background_job:SMS_INBOUND_POST_PROCESS",
        client_id=client[0].id,
        message_id=stored.message_id,
        background_job_id=999_999,  # gone: stored as NULL, the row is kept
        feature_id="sentiment.classify",
        provider="openai",
        api_type="chat_completions",
        model="gpt-4o-mini",
        input_tokens=100,
        output_tokens=10,
        total_tokens=110,
        latency_ms=250,
        status="success",
        cost_usd=0.5,
        created_at=T0,
    )
    backend_store.sync.record_interaction(row)
    backend_store.submit_interaction({**row, "source": None, "created_at": LATER}).result(10)
    backend_store.sync.flush()
    [first, second] = backend_store.sync.list_interactions()
    assert first["background_job_id"] is None and first["message_id"] == stored.message_id
    assert [r["id"] for r in backend_store.sync.unattributed_interactions()] == [second["id"]]
    report = backend_store.sync.ai_report("source")
    assert [g["group"] for g in report["groups"]] == [row["source"], "unattributed"]
    assert report["total"]["calls"] == 2 and report["total"]["latency_p50_ms"] == 250
    assert backend_store.sync.prune_interactions(before=T1, batch=100) == 1
    assert backend_store.sync.ai_report()["total"]["calls"] == 1


def test_ready_and_flush(backend_store):
    backend_store.sync.ready()
    backend_store.sync.flush()
