"""The storage contract of the metrics endpoint's reads (``Store.job_gauges``), through the
interface only: every backend must pass it (``backend_store``)."""

from __future__ import annotations

import db
from db.vocab import LEAD_SCORING_POST_PROCESS, SMS_INBOUND_POST_PROCESS

T0 = "2026-01-18T10:00:00.000Z"
T1 = "2026-01-18T10:00:01.000Z"
T2 = "2026-01-18T10:05:00.000Z"
LATER = "2026-01-18T11:00:00.000Z"


def message(client_id: int, key: str, received_at: str) -> db.NewMessage:
    return db.NewMessage(
        client_id=client_id,
        channel="sms",
        direction="inbound",
        body="Sounds good",
        sent_at=received_at,
        received_at=received_at,
        source="test",
        dedupe_column="ghl_id",
        dedupe_value=key,
        job_type=SMS_INBOUND_POST_PROCESS,
    )


def counts(gauges: dict) -> dict[tuple[str, str], int]:
    return {(row["type"], row["status"]): row["jobs"] for row in gauges["jobs"]}


def test_an_empty_database_has_no_jobs_and_nothing_due(backend_store):
    assert backend_store.sync.job_gauges(now=T0) == {"jobs": [], "oldest_due_run_at": None}


def test_jobs_are_counted_by_type_and_status_and_the_oldest_due_is_found(backend_store):
    sync = backend_store.sync
    client, token = sync.create_client(name="Acme", now=T0, ghl_location_id="loc")
    token_hash = db.hash_token(token)
    lead = db.LeadFields(ghl_contact_id="c-1")
    stored = [
        sync.ingest(client.id, token_hash, message(client.id, f"m{n}", T0), lead) for n in range(6)
    ]
    # Six SMS jobs due at T0: one succeeds, one fails, one runs, one waits until LATER.
    done, failed, snoozed = sync.claim_jobs(runner_id="r", now=T1, limit=3)
    sync.finish_job(done, db.JobResult("SUCCEEDED"), runner_id="r", now=T1)
    sync.finish_job(failed, db.JobResult("FAILED", "boom"), runner_id="r", now=T1)
    later = db.JobResult("PENDING", "rate limited", run_at=LATER, snooze=True)
    sync.finish_job(snoozed, later, runner_id="r", now=T1)
    sync.claim_jobs(runner_id="r", now=T1, limit=1)
    scoring, created = sync.enqueue_job(
        job_type=LEAD_SCORING_POST_PROCESS,
        client_id=client.id,
        lead_id=stored[0].lead_id,
        message_id=stored[0].message_id,
        now=T2,
        run_at=T2,
    )
    assert created and scoring is not None

    gauges = sync.job_gauges(now=T2)
    assert counts(gauges) == {
        (SMS_INBOUND_POST_PROCESS, "SUCCEEDED"): 1,
        (SMS_INBOUND_POST_PROCESS, "FAILED"): 1,
        (SMS_INBOUND_POST_PROCESS, "RUNNING"): 1,
        (SMS_INBOUND_POST_PROCESS, "PENDING"): 3,  # two due since T0, one due at LATER
        (LEAD_SCORING_POST_PROCESS, "PENDING"): 1,
    }
    assert [(r["status"], r["type"]) for r in gauges["jobs"]] == sorted(
        (r["status"], r["type"]) for r in gauges["jobs"]
    )
    assert gauges["oldest_due_run_at"] == T0
    # Only what is due counts: before T0 nothing is, and the snoozed job is not due at T2.
    assert sync.job_gauges(now="2026-01-18T09:00:00.000Z")["oldest_due_run_at"] is None
    for job in sync.claim_jobs(runner_id="r", now=T2, limit=10):
        sync.finish_job(job, db.JobResult("SUCCEEDED"), runner_id="r", now=T2)
    assert sync.job_gauges(now=T2)["oldest_due_run_at"] is None
    assert sync.job_gauges(now=LATER)["oldest_due_run_at"] == LATER
