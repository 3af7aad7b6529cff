"""``GET /metrics`` over real HTTP: who may read it, that Prometheus can parse it, and that its
numbers are what happened (the answers the server gave, the jobs it ran, the AI rows it stored)
and what the database holds (the gauges)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import db
from db.sqlite import connect, migrate
from db.sqlite.migrations import migrations
from db.vocab import DELIVERY_OUTCOMES, JOB_STATUSES, JOB_TYPES
from tests.ai_jobs import Jobs
from tests.conftest import load_payload, rows
from tests.fake_openai import FakeOpenAI

ADMIN = "metrics-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
GHL, EMAIL, LINKEDIN = "/api/webhooks/ghl/sms", "/api/webhooks/email", "/api/webhooks/linkedin"
SMARTLEAD, INSTANTLY = "/api/webhooks/smartlead", "/api/webhooks/instantly"
WEBHOOKS = (GHL, EMAIL, LINKEDIN, SMARTLEAD, INSTANTLY)
CALL_LABELS = ("source", "feature", "model", "status")


def scrape(url: str, headers: dict | None = None) -> dict[str, list]:
    """The samples of every metric family, by family name, parsed as Prometheus does."""
    response = httpx.get(url + "/metrics", headers=AUTH if headers is None else headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = text_string_to_metric_families(response.text)
    return {family.name: family.samples for family in families}


def values(samples: list, name: str, *labels: str) -> dict[tuple, float]:
    """``{label values: value}`` of the samples called ``name``."""
    return {tuple(s.labels[label] for label in labels): s.value for s in samples if s.name == name}


def nonzero(found: dict) -> dict:
    return {key: value for key, value in found.items() if value}


# -- who may read it --------------------------------------------------------------------------


def test_without_an_admin_token_the_route_is_disabled_and_says_which_variable(serve):
    live = serve()
    response = httpx.get(live.url + "/metrics", headers=AUTH)
    assert response.status_code == 401
    assert "LEADHOOK_ADMIN_TOKEN" in response.json()["error"]
    assert "disabled" in response.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN}, {"X-Leadhook-Token": ADMIN}],
)
def test_only_the_admin_token_as_bearer_reads_the_metrics(serve, headers):
    live = serve(admin_token=ADMIN)
    response = httpx.get(live.url + "/metrics", headers=headers)
    assert response.status_code == 401
    assert response.json()["success"] is False
    assert "leadhook_" not in response.text
    assert "leadhook_deliveries_total" in httpx.get(live.url + "/metrics", headers=AUTH).text


def test_the_benchmark_knob_turns_the_metrics_off_and_deliveries_still_work(serve, workspace):
    live = serve(admin_token=ADMIN, metrics_enabled=False, scheduler_enabled=False)
    response = httpx.get(live.url + "/metrics", headers=AUTH)
    assert response.status_code == 404
    assert "LEADHOOK_METRICS_ENABLED" in response.json()["error"]
    answer = httpx.post(
        live.url + GHL, json=load_payload("ghl_sms_workflow.json"), headers=workspace.auth
    )
    assert answer.status_code == 200 and answer.json()["deduped"] is False


# -- deliveries -------------------------------------------------------------------------------


def outcome_of(response: httpx.Response) -> str:
    """The outcome a delivery's answer says (what the ledger records too)."""
    if response.status_code != 200:
        return "rejected"
    answer = response.json()
    if answer.get("ignored"):
        return "ignored"
    return "deduped" if answer.get("deduped") else "stored"


def test_delivery_counters_agree_with_what_the_server_answered(serve, workspace, make_workspace):
    live = serve(admin_token=ADMIN, scheduler_enabled=False)
    other = make_workspace()
    auth = workspace.auth
    requests = [
        (GHL, {"json": load_payload("ghl_sms_workflow.json"), "headers": auth}),
        (GHL, {"json": load_payload("ghl_sms_workflow.json"), "headers": auth}),  # deduped
        (GHL, {"json": load_payload("ghl_sms_workflow.json"), "headers": other.auth}),  # 403
        (GHL, {"json": {}, "params": {"token": "not-a-token"}}),  # 401
        (EMAIL, {"json": load_payload("email_lead_replied.json"), "headers": auth}),
        (EMAIL, {"json": load_payload("email_lead_unsubscribed.json"), "headers": auth}),
        (LINKEDIN, {"json": load_payload("unipile_message_reaction.json"), "headers": auth}),
        (LINKEDIN, {"json": load_payload("unipile_message_received.json"), "headers": auth}),
        (SMARTLEAD, {"json": load_payload("smartlead_email_reply.json")}),  # no token: 401
        (INSTANTLY, {"content": b'{"event_type": ', "headers": auth}),  # 400
        (INSTANTLY, {"content": b"x" * 300_000, "headers": auth}),  # 413
        (INSTANTLY, {"json": load_payload("instantly_reply_received.json"), "headers": auth}),
    ]
    answered: Counter = Counter()
    with httpx.Client(base_url=live.url, timeout=30) as http:
        for path, kwargs in requests:
            response = http.post(path, **kwargs)
            answered[(path, outcome_of(response))] += 1
    assert {outcome for _, outcome in answered} == {"stored", "deduped", "ignored", "rejected"}

    samples = scrape(live.url)["leadhook_deliveries"]
    counted = values(samples, "leadhook_deliveries_total", "route", "outcome")
    assert nonzero(counted) == dict(answered)
    # Every route's series exist from the start, at 0 (a rate over them needs them).
    assert set(counted) == {(r, o) for r in WEBHOOKS for o in DELIVERY_OUTCOMES}
    durations = scrape(live.url)["leadhook_delivery_duration_seconds"]
    per_route = values(durations, "leadhook_delivery_duration_seconds_count", "route")
    assert nonzero(per_route) == dict(Counter((path,) for path, _ in requests))
    assert values(
        scrape(live.url)["leadhook_deliveries_unrecorded"], "leadhook_deliveries_unrecorded_total"
    ) == {(): 0.0}


def test_the_ledgers_unrecorded_count_is_served_when_there_is_a_ledger(serve):
    """Until the ledger exists, the count is 0; with one on app.state.ledger it is its
    ``unrecorded`` attribute, read at each scrape."""
    live = serve(admin_token=ADMIN)
    name = "leadhook_deliveries_unrecorded"
    assert values(scrape(live.url)[name], name + "_total") == {(): 0.0}
    live.app.state.ledger = SimpleNamespace(unrecorded=7)
    assert values(scrape(live.url)[name], name + "_total") == {(): 7.0}


def test_two_apps_in_one_process_count_apart(serve, workspace):
    first, second = serve(admin_token=ADMIN), serve(admin_token=ADMIN)
    response = httpx.post(
        first.url + GHL, json=load_payload("ghl_sms_workflow.json"), headers=workspace.auth
    )
    assert response.status_code == 200
    key = (GHL, "stored")

    def stored(live) -> float:
        samples = scrape(live.url)["leadhook_deliveries"]
        return values(samples, "leadhook_deliveries_total", "route", "outcome")[key]

    assert (stored(first), stored(second)) == (1.0, 0.0)


# -- jobs and AI calls ------------------------------------------------------------------------


def test_job_and_ai_counters_match_the_jobs_run_and_the_ai_rows_stored(serve, workspace, database):
    with FakeOpenAI() as fake:
        fake.fail_once(500, call=1, message="The server had an error")
        jobs = Jobs(serve, database, fake, "runner", admin_token=ADMIN)
        jobs.deliver(workspace)
        jobs.wait_for(jobs.status_is("SUCCEEDED"), "the retried inbound job")
        jobs.wait_for(jobs.status_is("SUCCEEDED", "LEAD_SCORING_POST_PROCESS"), "scoring")
        found = scrape(jobs.live.url)
        ai_rows = jobs.ai_rows()
        jobs.close()

    runs = nonzero(values(found["leadhook_job_runs"], "leadhook_job_runs_total", "type", "outcome"))
    assert runs == {
        ("SMS_INBOUND_POST_PROCESS", "retried"): 1.0,  # the 500
        ("SMS_INBOUND_POST_PROCESS", "succeeded"): 1.0,
        ("LEAD_SCORING_POST_PROCESS", "succeeded"): 1.0,
    }
    for family in ("leadhook_job_duration_seconds", "leadhook_job_queue_wait_seconds"):
        count = nonzero(values(found[family], family + "_count", "type"))
        assert count == {("SMS_INBOUND_POST_PROCESS",): 2.0, ("LEAD_SCORING_POST_PROCESS",): 1.0}

    assert len(ai_rows) >= 3 and any(r["status"] == "error" for r in ai_rows)
    calls = Counter((r["source"], r["feature_id"], r["model"], r["status"]) for r in ai_rows)
    served = values(found["leadhook_ai_calls"], "leadhook_ai_calls_total", *CALL_LABELS)
    assert served == dict(calls)
    tokens: Counter = Counter()
    cost: Counter = Counter()
    for r in ai_rows:
        for kind in ("input", "cached_input", "output", "reasoning"):
            tokens[(r["source"], kind)] += r[f"{kind}_tokens"] or 0
        cost[(r["source"],)] += r["cost_usd"] or 0
    served_tokens = values(
        found["leadhook_ai_tokens"], "leadhook_ai_tokens_total", "source", "kind"
    )
    assert served_tokens == nonzero(dict(tokens))
    served_cost = values(found["leadhook_ai_cost_usd"], "leadhook_ai_cost_usd_total", "source")
    assert served_cost.keys() == nonzero(dict(cost)).keys()
    for key, value in served_cost.items():
        assert value == pytest.approx(cost[key])
    assert sum(cost.values()) > 0
    latency = values(
        found["leadhook_ai_latency_seconds"],
        "leadhook_ai_latency_seconds_count",
        "source",
        "feature",
    )
    assert latency == dict(Counter((r["source"], r["feature_id"]) for r in ai_rows))


# -- gauges -----------------------------------------------------------------------------------

NOW = datetime(2026, 1, 18, 12, 0, tzinfo=UTC)


def seed_jobs(store, workspace) -> None:
    """Jobs in every status, the oldest due one 90 s before NOW."""
    sync = store.sync
    token_hash = db.hash_token(workspace.token)
    lead = db.LeadFields(ghl_contact_id="c-1")
    for n in range(5):
        received = db.iso(NOW - timedelta(seconds=90 - n))
        sync.ingest(
            workspace.id,
            token_hash,
            db.NewMessage(
                client_id=workspace.id,
                channel="sms",
                direction="inbound",
                body="hi",
                sent_at=received,
                received_at=received,
                source="test",
                dedupe_column="ghl_id",
                dedupe_value=f"m{n}",
                job_type="SMS_INBOUND_POST_PROCESS",
            ),
            lead,
        )
    claimed = sync.claim_jobs(runner_id="r", now=db.iso(NOW), limit=3)
    sync.finish_job(claimed[0], db.JobResult("SUCCEEDED"), runner_id="r", now=db.iso(NOW))
    sync.finish_job(claimed[1], db.JobResult("FAILED", "x"), runner_id="r", now=db.iso(NOW))


def test_the_gauges_are_what_the_database_holds(serve, store, workspace, database):
    seed_jobs(store, workspace)
    live = serve(admin_token=ADMIN, scheduler_enabled=False, clock=lambda: NOW)
    found = scrape(live.url)
    served = values(found["leadhook_jobs"], "leadhook_jobs", "type", "status")
    in_file = {
        (r["type"], r["status"]): r["n"]
        for r in rows(
            database, "SELECT type, status, COUNT(*) AS n FROM background_jobs GROUP BY 1, 2"
        )
    }
    assert served == {
        (job_type, status): in_file.get((job_type, status), 0)
        for job_type in JOB_TYPES
        for status in JOB_STATUSES
    }
    assert nonzero(served) == {
        ("SMS_INBOUND_POST_PROCESS", "PENDING"): 2,
        ("SMS_INBOUND_POST_PROCESS", "RUNNING"): 1,
        ("SMS_INBOUND_POST_PROCESS", "SUCCEEDED"): 1,
        ("SMS_INBOUND_POST_PROCESS", "FAILED"): 1,
    }
    [oldest] = found["leadhook_job_oldest_due_seconds"]
    assert oldest.value == pytest.approx(87.0)  # the 4th message's job, received 87 s ago
    database.execute("UPDATE background_jobs SET status = 'SUCCEEDED' WHERE status = 'PENDING'")
    [oldest] = scrape(live.url)["leadhook_job_oldest_due_seconds"]
    assert oldest.value == 0.0


def test_counters_are_served_when_the_database_cannot_be_read(serve, monkeypatch):
    live = serve(admin_token=ADMIN)

    async def unavailable(**_):
        raise db.DatabaseUnavailable("disk I/O error")

    monkeypatch.setattr(live.app.state.store, "job_gauges", unavailable)
    found = scrape(live.url)
    assert "leadhook_deliveries" in found and "process_resident_memory_bytes" in found
    assert "leadhook_jobs" not in found and "leadhook_job_oldest_due_seconds" not in found


# -- the schema -------------------------------------------------------------------------------


def test_a_file_of_the_previous_schema_gets_the_job_counts_index_and_keeps_its_rows(db_path):
    database = connect(db_path)
    migrations.apply(database, stop_before="m010_job_metrics")
    database.execute(
        "INSERT INTO clients (name, token_hash, token_prefix, created_at, updated_at)"
        " VALUES ('Old', 'hash', 'lh_', '2026-01-18T10:00:00.000Z', '2026-01-18T10:00:00.000Z')"
    )
    before = database.execute("SELECT * FROM clients").fetchall()
    database.close()
    reopened = connect(db_path)
    assert migrate(reopened)[0] == "m010_job_metrics"
    assert reopened.execute("SELECT * FROM clients").fetchall() == before
    plan = reopened.execute(
        "EXPLAIN QUERY PLAN SELECT status, type, COUNT(*) FROM background_jobs"
        " GROUP BY status, type ORDER BY status, type"
    ).fetchall()
    assert [row[-1] for row in plan] == [
        "SCAN background_jobs USING COVERING INDEX background_jobs_status_type"
    ]
