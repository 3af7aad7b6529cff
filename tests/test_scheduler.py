"""The runner inside the server: APScheduler in the lifespan, wake-up by webhooks, the job
handlers, daily maintenance, and process-level tests (two processes, SIGKILL + restart)."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

import db
import postprocess
from ai.client import create_client as create_ai_client
from scheduler import JobsPort, Runner, register_maintenance
from scheduler._maintenance import MAINTENANCE_TASKS, run_maintenance
from scheduler._registry import JOB_HANDLERS
from tests.conftest import LiveServer, free_port, load_payload
from tests.job_helpers import (
    BLOCK,
    HELD_BACK,
    START,
    FakeClock,
    create_runs_table,
    insert_jobs,
    job,
    release_jobs,
    runs,
    seed_client,
    statuses,
    wait_for,
)

ROOT = Path(__file__).resolve().parent.parent
GHL = "/api/webhooks/ghl/sms"
SMS = db.vocab.SMS_INBOUND_POST_PROCESS
SCORING = db.vocab.LEAD_SCORING_POST_PROCESS


def ghl_payload(n: int) -> dict:
    data = load_payload("ghl_sms_workflow.json")
    data["contact_id"] = f"cnt_latency_{n}"
    data["message"] = {"type": 2, "body": f"Yes please, call me ({n})"}
    return data


def all_jobs(database) -> list[dict]:
    return list(database.query("SELECT * FROM background_jobs ORDER BY id"))


# -- the server: lifespan, wake-up ---------------------------------------------------------------


def test_a_webhooks_job_starts_within_tens_of_milliseconds(serve, workspace, database):
    # A 30 s poll: only the webhook's wake-up can start the job in time.
    live = serve(job_poll_seconds=30)
    latencies, from_request = [], []
    with httpx.Client(base_url=live.url, timeout=10) as http:
        http.get("/healthz")  # connection warm
        for n in range(5):
            sent = db.utcnow()
            response = http.post(GHL, json=ghl_payload(n), headers=workspace.auth)
            answered = db.utcnow()
            assert response.status_code == 200, response.text
            message_id = response.json()["messageId"]

            def started(message_id: int = message_id) -> str | None:
                row = database.execute(
                    "SELECT started_at FROM background_jobs WHERE message_id = ? AND type = ?",
                    (message_id, SMS),
                ).fetchone()
                return row[0] if row else None

            started_at = db.parse_iso(wait_for(started, timeout=5, interval=0.002))
            latencies.append((started_at - answered).total_seconds())
            from_request.append((started_at - sent).total_seconds())
    print(
        f"\nenqueue→start latency, from the response: median {statistics.median(latencies):.4f}s "
        f"max {max(latencies):.4f}s; from the request: median "
        f"{statistics.median(from_request):.4f}s max {max(from_request):.4f}s"
    )
    assert max(latencies) < 0.5
    # Each inbound job then enqueued its lead-scoring job, which ran too (no poll needed).
    wait_for(lambda: statuses(database) == {"SUCCEEDED": 10}, timeout=5, what="10 jobs done")
    types = [j["type"] for j in all_jobs(database)]
    assert sorted(types) == sorted([SMS] * 5 + [SCORING] * 5)
    # The roll-ups (inbound) and the scores (scoring) were written with each job's SUCCEEDED.
    leads = database.execute(
        "SELECT last_inbound_at, overall_score, scored_at FROM leads WHERE id IN "
        "(SELECT lead_id FROM background_jobs WHERE type = ?)",
        (SCORING,),
    ).fetchall()
    assert leads and all(at and score in (1, 2, 3, 4) and scored for at, score, scored in leads)


def test_the_lifespan_starts_the_scheduler_and_stops_everything(settings, workspace, database):
    from app import create_app

    app = create_app(settings)
    with LiveServer(app) as live:
        state = app.state
        assert state.scheduler.running
        jobs = {j.id: j for j in state.scheduler.get_jobs()}
        assert set(jobs) == {"jobs-poll", "jobs-housekeeping", "maintenance"}
        assert all(j.coalesce and j.max_instances == 1 for j in jobs.values())  # no pile-up
        assert isinstance(state.runner, Runner)
        assert state.wake_runner == state.runner.wake
        assert state.jobs == JobsPort(wake=state.runner.wake, run_pass=state.runner.run_pass)
        ready = httpx.get(f"{live.url}/readyz").json()
        assert ready["checks"]["scheduler"] == "ok"
    assert state.wake_runner is None
    wait_for(lambda: not state.scheduler.running, timeout=5, what="scheduler stopped")


def test_with_the_scheduler_disabled_nothing_runs_jobs_by_itself(serve, workspace, database):
    live = serve(scheduler_enabled=False, job_poll_seconds=0.05)
    response = httpx.post(f"{live.url}{GHL}", json=ghl_payload(1), headers=workspace.auth)
    assert response.status_code == 200
    time.sleep(0.3)
    assert statuses(database) == {"PENDING": 1}
    assert live.app.state.runner is not None  # kept for the cron route


# -- the job handlers ----------------------------------------------------------------------------


def ingest(store, workspace, *, direction: str = "inbound", key: str = "m1", **fields):
    message = db.NewMessage(
        client_id=workspace.id,
        channel="sms",
        direction=direction,
        body="Sounds good, call me",
        sent_at=db.iso(START),
        received_at=db.iso(START),
        source="ghl",
        dedupe_column="ghl_id",
        dedupe_value=key,
        job_type=SMS,
    )
    lead = db.LeadFields(ghl_contact_id=f"c-{key}", **fields)
    return store.sync.ingest(workspace.id, db.hash_token(workspace.token), message, lead)


def runner_for(store, settings, clock=None) -> Runner:
    clock = clock or FakeClock(START + timedelta(seconds=1))
    client = create_ai_client(
        settings, store, clock=clock, offline_answers=postprocess.OFFLINE_ANSWERS
    )
    return Runner(store, settings, registry=JOB_HANDLERS, ai=client, clock=clock)


def test_every_job_type_of_the_design_has_a_handler():
    assert set(db.vocab.JOB_TYPES) <= set(JOB_HANDLERS.types())


@pytest.mark.anyio
async def test_an_inbound_job_bumps_rollups_and_enqueues_lead_scoring(
    database, store, settings, workspace
):
    result = ingest(store, workspace)
    database.execute("UPDATE leads SET last_inbound_at = NULL, last_message_at = NULL")
    runner = runner_for(store, settings)
    first = await runner.run_pass(limit=1)
    assert (first.processed, first.succeeded, first.skipped) == (1, 1, 0)
    lead = await store.get_lead(result.lead_id)
    assert lead["last_inbound_at"] == lead["last_message_at"] == db.iso(START)
    [sms_job, scoring_job] = all_jobs(database)
    assert sms_job["status"] == "SUCCEEDED"
    assert (scoring_job["type"], scoring_job["status"]) == (SCORING, "PENDING")
    assert scoring_job["dedupe_key"] == f"{workspace.id}:{result.message_id}:{SCORING}"
    assert (scoring_job["lead_id"], scoring_job["max_attempts"]) == (result.lead_id, 3)
    second = await runner.run_pass()
    assert (second.processed, second.succeeded) == (1, 1)
    assert statuses(database) == {"SUCCEEDED": 2}


@pytest.mark.anyio
async def test_a_repeated_inbound_job_changes_nothing_more(database, store, settings, workspace):
    ingest(store, workspace)
    runner = runner_for(store, settings)
    await runner.run_pass()
    before = all_jobs(database)
    database.execute("UPDATE background_jobs SET status = 'PENDING' WHERE type = ?", (SMS,))
    await runner.run_pass()
    after = all_jobs(database)
    assert len(after) == 2 and after[1] == before[1]  # the scoring job is not re-run or reset


@pytest.mark.anyio
async def test_inbound_jobs_skip_outbound_and_missing_messages(
    database, store, settings, workspace
):
    ingest(store, workspace, direction="outbound", key="out")
    [no_message] = insert_jobs(database, workspace.id, job_type=SMS, key_prefix="none")
    result = await runner_for(store, settings).run_pass()
    assert (result.processed, result.succeeded, result.skipped) == (2, 2, 2)
    assert statuses(database) == {"SUCCEEDED": 2}
    assert job(database, no_message)["last_error"] is None
    assert {j["type"] for j in all_jobs(database)} == {SMS}  # no scoring job


@pytest.mark.anyio
async def test_a_scoring_job_loads_the_lead_or_skips_a_missing_one(
    database, store, settings, workspace
):
    result = ingest(store, workspace)
    database.execute("DELETE FROM background_jobs")
    await store.enqueue_job(
        job_type=SCORING,
        client_id=workspace.id,
        lead_id=result.lead_id,
        message_id=result.message_id,
        now=db.iso(START),
    )
    insert_jobs(database, workspace.id, job_type=SCORING, key_prefix="nolead")
    outcome = await runner_for(store, settings).run_pass()
    assert (outcome.processed, outcome.succeeded, outcome.skipped) == (2, 2, 1)


# -- maintenance ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_maintenance_prunes_finished_jobs_past_retention_only(
    database, store, settings, workspace
):
    now = START + timedelta(days=100)

    def at(days_ago: float) -> str:
        return db.iso(now - timedelta(days=days_ago))

    old = {"finished_at": at(31)}
    [old_ok] = insert_jobs(database, workspace.id, status="SUCCEEDED", key_prefix="a", **old)
    [old_failed] = insert_jobs(database, workspace.id, status="FAILED", key_prefix="b", **old)
    [recent] = insert_jobs(
        database, workspace.id, status="SUCCEEDED", key_prefix="c", finished_at=at(29)
    )
    [pending] = insert_jobs(database, workspace.id, run_at=at(90), key_prefix="d")
    [running] = insert_jobs(
        database, workspace.id, run_at=at(90), status="RUNNING", key_prefix="e", locked_at=at(90)
    )
    seen = []

    @register_maintenance(name="test_noted")
    def noted(ctx) -> str:
        seen.append(ctx.now)
        return "done"

    @register_maintenance(name="test_broken")
    async def broken(ctx) -> None:
        raise RuntimeError("disk on fire")

    try:
        results = await run_maintenance(store, settings, now)
    finally:
        MAINTENANCE_TASKS.pop("test_noted")
        MAINTENANCE_TASKS.pop("test_broken")
    assert results["prune_background_jobs"] == 2
    assert results["test_noted"] == "done" and seen == [now]
    assert results["test_broken"] == "error: disk on fire"
    left = {j["id"] for j in all_jobs(database)}
    assert left == {recent, pending, running}
    assert old_ok not in left and old_failed not in left


@pytest.mark.anyio
async def test_maintenance_prunes_ai_rows_past_retention_in_batches(
    database, store, settings, workspace, monkeypatch
):
    import scheduler._maintenance as maintenance

    monkeypatch.setattr(maintenance, "PRUNE_BATCH", 2)  # several batches
    now = START + timedelta(days=100)
    for i, days_ago in enumerate((45, 40, 31, 30.5, 29, 1)):
        database.execute(
            "INSERT INTO ai_interactions (source, client_id, feature_id, provider, api_type,"
            " model, status, created_at) VALUES ('background_job:X', ?, 'f', 'offline',"
            " 'chat_completions', 'm', 'success', ?)",
            (workspace.id, db.iso(now - timedelta(days=days_ago, seconds=i))),
        )
    results = await run_maintenance(store, settings, now)
    assert results["prune_ai_interactions"] == 4  # older than 30 days (the default)
    assert database.execute("SELECT COUNT(*) FROM ai_interactions").fetchone()[0] == 2


# -- two processes, SIGKILL ----------------------------------------------------------------------


def python(*args: str, env: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    environment = {**os.environ, "LEADHOOK_AI_PROVIDER": "offline", **(env or {})}
    environment.pop("OPENAI_API_KEY", None)
    with open(log or os.devnull, "ab") as output:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=environment, stdout=output, stderr=output
        )


@pytest.mark.slow
def test_two_processes_run_each_of_2000_jobs_once(database, db_path, tmp_path):
    create_runs_table(database)
    client_id = seed_client(database)
    insert_jobs(database, client_id, 2000, run_at=HELD_BACK)
    ready = [tmp_path / f"ready-{n}" for n in range(2)]
    workers = [
        python(
            "-m",
            "tests.job_helpers",
            "drain",
            str(db_path),
            str(path),
            log=tmp_path / "log",
            env={"LEADHOOK_TEST_JOB_SECONDS": "0.005"},  # both processes get a share
        )
        for path in ready
    ]
    try:
        wait_for(lambda: all(p.exists() for p in ready), timeout=60, what="both workers")
        release_jobs(database, db.iso(db.utcnow()))
        for worker in workers:
            assert worker.wait(timeout=180) == 0, (tmp_path / "log").read_text()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert statuses(database) == {"SUCCEEDED": 2000}
    done = runs(database)
    assert len(done) == 2000
    assert len({r["job_id"] for r in done}) == 2000
    assert len({r["pid"] for r in done}) == 2  # both processes took part


def start_server(db_path: Path, log: Path, **env: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = python("-m", "tests.job_helpers", "serve", str(db_path), str(port), env=env, log=log)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()}")
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, timeout=30, interval=0.05, what="the server")
    return process, url


@pytest.mark.slow
def test_jobs_running_when_the_server_is_killed_complete_once_promptly_after_restart(
    database, db_path, tmp_path
):
    create_runs_table(database)
    client_id = seed_client(database)
    job_ids = insert_jobs(database, client_id, 3, job_type=BLOCK)
    log = tmp_path / "server.log"
    # A long lease: only the start-up recovery of a dead process's jobs can be this prompt.
    env = {"LEADHOOK_JOB_LEASE_SECONDS": "600", "LEADHOOK_JOB_GRACE_SECONDS": "1"}

    first, _ = start_server(db_path, log, LEADHOOK_TEST_BLOCK="1", **env)
    try:
        wait_for(lambda: len(runs(database, "start")) == 3, timeout=30, what="3 jobs started")
        assert statuses(database) == {"RUNNING": 3}
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    rows = [job(database, i) for i in job_ids]
    assert {r["status"] for r in rows} == {"RUNNING"}
    assert {r["locked_by"].split(":")[1] for r in rows} == {str(first.pid)}

    restarted_at = time.monotonic()
    second, _ = start_server(db_path, log, **env)
    try:
        wait_for(lambda: statuses(database) == {"SUCCEEDED": 3}, timeout=30, what="3 jobs done")
        elapsed = time.monotonic() - restarted_at
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    print(f"\nrestart → all 3 recovered jobs done: {elapsed:.2f}s (lease 600 s)")
    assert elapsed < 30
    done = runs(database, "done")
    assert sorted(r["job_id"] for r in done) == job_ids  # each completed exactly once
    assert {r["attempt"] for r in done} == {2}
    assert {r["pid"] for r in done} == {second.pid}
    assert [job(database, i)["attempts"] for i in job_ids] == [2, 2, 2]
    assert len(runs(database, "start")) == 6  # started once per server
