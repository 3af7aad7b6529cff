"""The contract of a job's one-hop reads (``inbound_context``, ``scoring_context``) and of the
writes a handler hands to its job's finish (``JobResult.writes``), on every backend."""

from __future__ import annotations

import importlib

import pytest

import db
from db.vocab import FINISH_WRITES, LEAD_SCORING_POST_PROCESS
from tests.test_db_contract import T0, T1, ingest

LATER = "2026-01-18T12:00:00.000Z"


@pytest.fixture
def client(backend_store):
    found, token = backend_store.sync.create_client(name="Acme", now=T0, ghl_location_id="loc")
    return found, db.hash_token(token)


def test_inbound_context_is_the_reads_it_replaces(backend_store, client):
    sync = backend_store.sync
    first = ingest(backend_store, client, "m1")
    stored = ingest(backend_store, client, "m2", sent_at=T1, received_at=T1)
    sync.record_sentiment(
        stored.message_id, stored.lead_id, "Interested", "qualified", classified_by="ai", now=T1
    )
    args = (client[0].id, stored.lead_id, stored.message_id)
    sync.insert_draft(*args, "email", "not this channel's", now=T1)
    sync.insert_draft(*args, "sms", "this one", now=T1)

    context = sync.inbound_context(stored.message_id, 1)
    assert context["message"] == sync.get_message(stored.message_id)
    assert context["lead"] == sync.get_lead(stored.lead_id)
    assert context["sentiment"] == sync.get_sentiment(stored.message_id)
    assert context["draft"] == sync.get_draft(stored.message_id, "sms")
    assert context["draft"]["body"] == "this one"
    assert context["transcript"] == sync.recent_transcript(stored.lead_id, 1)
    assert [m["id"] for m in sync.inbound_context(stored.message_id, 5)["transcript"]] == [
        first.message_id,
        stored.message_id,
    ]
    fresh = sync.inbound_context(first.message_id, 5)
    assert (fresh["sentiment"], fresh["draft"]) == (None, None)


def test_inbound_context_of_a_message_that_is_gone(backend_store, client):
    context = backend_store.sync.inbound_context(987654, 10)
    assert context == {
        "message": None,
        "lead": None,
        "sentiment": None,
        "draft": None,
        "transcript": [],
    }


def test_scoring_context(backend_store, client):
    sync = backend_store.sync
    stored = ingest(backend_store, client)
    context = sync.scoring_context(stored.lead_id, 20)
    assert context["lead"] == sync.get_lead(stored.lead_id)
    assert [m["id"] for m in context["transcript"]] == [stored.message_id]
    assert sync.scoring_context(987654, 20) == {"lead": None, "transcript": []}


def test_every_backend_runs_every_finish_write(backend_store):
    job_runs = importlib.import_module(f"db.{backend_store.backend}.job_runs")
    assert set(job_runs.FINISH_WRITES) == FINISH_WRITES


def _claimed_inbound(backend_store, client):
    stored = ingest(backend_store, client)
    [claimed] = backend_store.sync.claim_jobs(runner_id="r", now=T1, limit=1)
    return stored, claimed, backend_store.sync.get_message(stored.message_id)


def _scoring_jobs(sync) -> list[dict]:
    return [j for j in sync.list_jobs(limit=50) if j["type"] == LEAD_SCORING_POST_PROCESS]


@pytest.mark.parametrize(
    ("runner_id", "written", "status"),
    [("r", True, "SUCCEEDED"), ("someone else", False, "RUNNING")],
    ids=["claim held", "claim lost"],
)
def test_the_finish_writes_commit_with_the_result(
    backend_store, client, runner_id, written, status
):
    # Also when the claim was lost: they are the handler's results, and the job's next run
    # finds them instead of paying for them again.
    sync = backend_store.sync
    stored, claimed, row = _claimed_inbound(backend_store, client)
    result = db.JobResult("SUCCEEDED", writes=(("finish_inbound", (row, LATER)),))
    assert sync.finish_job(claimed, result, runner_id=runner_id, now=LATER) == (written, [])
    assert sync.get_job(claimed["id"])["status"] == status
    [scoring] = _scoring_jobs(sync)
    assert scoring["lead_id"] == stored.lead_id
    assert sync.get_lead(stored.lead_id)["last_inbound_at"] == row["sent_at"]


def test_a_failing_finish_write_writes_nothing(backend_store, client):
    sync = backend_store.sync
    stored, claimed, row = _claimed_inbound(backend_store, client)
    before = sync.get_lead(stored.lead_id)
    # The roll-ups move, then the scoring job names a client that does not exist.
    broken = {**row, "sent_at": LATER, "client_id": 987654}
    result = db.JobResult("SUCCEEDED", writes=(("finish_inbound", (broken, LATER)),))
    with pytest.raises(db.DatabaseError):
        sync.finish_job(claimed, result, runner_id="r", now=LATER)
    assert sync.get_job(claimed["id"])["status"] == "RUNNING"
    assert _scoring_jobs(sync) == []
    assert sync.get_lead(stored.lead_id) == before


def test_a_job_result_names_only_finish_writes():
    with pytest.raises(ValueError, match="cannot run"):
        db.JobResult("SUCCEEDED", writes=(("ingest", ()),))
    with pytest.raises(ValueError, match="no writes"):
        db.JobResult("FAILED", "boom", writes=(("finish_inbound", ()),))


def test_a_scoring_job_stores_its_scores_with_its_succeeded(backend_store, client):
    sync = backend_store.sync
    stored, claimed, _ = _claimed_inbound(backend_store, client)
    scores = (stored.lead_id, 3, 4, 4, "keen", LATER)
    result = db.JobResult("SUCCEEDED", writes=(("set_lead_score", scores),))
    assert sync.finish_job(claimed, result, runner_id="r", now=LATER) == (True, [])
    lead = sync.get_lead(stored.lead_id)
    assert (lead["fit_score"], lead["intent_score"], lead["overall_score"]) == (3, 4, 4)
    assert (lead["score_reasoning"], lead["scored_at"]) == ("keen", LATER)


def test_an_inbound_job_stores_its_draft_with_its_succeeded(backend_store, client):
    sync = backend_store.sync
    stored, claimed, row = _claimed_inbound(backend_store, client)
    draft = (client[0].id, stored.lead_id, stored.message_id, "sms", "Hi Dana", LATER)
    writes = (("insert_draft", draft), ("finish_inbound", (row, LATER)))
    result = db.JobResult("SUCCEEDED", writes=writes)
    assert sync.finish_job(claimed, result, runner_id="r", now=LATER) == (True, [])
    kept = sync.get_draft(stored.message_id, "sms")
    assert (kept["body"], kept["status"], kept["created_at"]) == ("Hi Dana", "pending", LATER)
    assert len(_scoring_jobs(sync)) == 1
