"""leadhook jobs stats | list | retry."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner

import cli
import db
from tests.job_helpers import insert_jobs, job

SMS = db.vocab.SMS_INBOUND_POST_PROCESS
SCORING = db.vocab.LEAD_SCORING_POST_PROCESS


@pytest.fixture
def run(db_path, monkeypatch):
    monkeypatch.setenv("LEADHOOK_DB", str(db_path))

    def invoke(*args: str, ok: bool = True):
        result = CliRunner().invoke(cli.cli, ["jobs", *args], catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code != 0, result.output
        return result

    return invoke


@pytest.fixture
def seeded(database, workspace) -> dict[str, list[int]]:
    now = db.utcnow()
    due = db.iso(now - timedelta(minutes=5))
    later = db.iso(now + timedelta(hours=1))
    return {
        "due": insert_jobs(database, workspace.id, 2, job_type=SMS, run_at=due, key_prefix="a"),
        "later": insert_jobs(database, workspace.id, job_type=SMS, run_at=later, key_prefix="b"),
        "running": insert_jobs(
            database, workspace.id, job_type=SCORING, status="RUNNING", key_prefix="c"
        ),
        "succeeded": insert_jobs(
            database, workspace.id, job_type=SCORING, status="SUCCEEDED", key_prefix="d"
        ),
        "failed": insert_jobs(
            database,
            workspace.id,
            job_type=SMS,
            status="FAILED",
            key_prefix="e",
            attempts=5,
            snoozes=2,
            last_error="ValueError: broken\nsecond line",
            finished_at=due,
        ),
    }


def test_stats_counts_by_type_and_status_and_the_oldest_due_job(run, seeded):
    data = json.loads(run("stats", "--json").output)
    assert data["by_type"] == {
        SCORING: {"PENDING": 0, "RUNNING": 1, "SUCCEEDED": 1, "FAILED": 0},
        SMS: {"PENDING": 3, "RUNNING": 0, "SUCCEEDED": 0, "FAILED": 1},
    }
    assert data["by_status"] == {"PENDING": 3, "RUNNING": 1, "SUCCEEDED": 1, "FAILED": 1}
    assert data["total"] == 6
    assert data["attempts_by_type"][SMS] == {"failures": 3, "snoozes": 2}
    assert data["attempts"] == {"failures": 3, "snoozes": 2}
    oldest = data["oldest_due"]
    assert (oldest["id"], oldest["type"]) == (seeded["due"][0], SMS)
    assert 299 <= oldest["age_seconds"] < 360

    text = run("stats").output
    assert SMS in text and SCORING in text and "total" in text
    assert f"oldest due job: {seeded['due'][0]} {SMS}" in text
    assert "(5m 0" in text


def test_stats_of_an_empty_queue(run, database):
    assert "no job is due" in run("stats").output
    assert json.loads(run("stats", "--json").output)["oldest_due"] is None


def test_list_filters_by_status_and_type_newest_first(run, seeded):
    everything = json.loads(run("list", "--json").output)
    all_ids = [i for ids in seeded.values() for i in ids]
    assert [j["id"] for j in everything] == sorted(all_ids, reverse=True)
    failed = json.loads(run("list", "--status", "failed", "--json").output)
    assert [j["id"] for j in failed] == seeded["failed"]
    scoring = json.loads(run("list", "--type", SCORING, "--json").output)
    assert {j["id"] for j in scoring} == set(seeded["running"] + seeded["succeeded"])
    pending_sms = json.loads(run("list", "--status", "PENDING", "--type", SMS, "--json").output)
    assert len(pending_sms) == 3
    assert len(json.loads(run("list", "--limit", "2", "--json").output)) == 2
    text = run("list", "--status", "FAILED").output
    assert "failures 3/5\tsnoozes 2" in text and "error=ValueError: broken second line" in text
    assert [j["failures"] for j in failed] == [3]  # 5 attempts, 2 of them snoozes
    assert run("list", "--status", "RUNNING", "--type", SMS).output.strip() == "no jobs"
    assert run("list", "--status", "DONE", ok=False).exit_code == 2


def test_retry_puts_a_failed_job_back_due_now_with_attempts_reset(run, seeded, database):
    [failed] = seeded["failed"]
    data = json.loads(run("retry", str(failed), "--json").output)
    assert (data["id"], data["status"], data["attempts"], data["snoozes"]) == (
        failed,
        "PENDING",
        0,
        0,
    )
    row = job(database, failed)
    assert row["status"] == "PENDING" and row["last_error"] is None and row["finished_at"] is None
    assert abs((db.parse_iso(row["run_at"]) - db.utcnow()).total_seconds()) < 60
    assert "it is already queued" in run("retry", str(failed), ok=False).output  # once only


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("running", "it is RUNNING now; retrying it would run it twice at once"),
        ("due", "it is already queued (PENDING, due "),
        ("succeeded", "it SUCCEEDED; running it again would repeat its work"),
    ],
)
def test_retry_refuses_jobs_that_did_not_fail(run, seeded, database, kind, says):
    job_id = seeded[kind][0]
    before = job(database, job_id)
    result = run("retry", str(job_id), ok=False)
    assert result.exit_code == 1
    assert f"job {job_id} not retried: {says}" in result.output
    assert job(database, job_id) == before


def test_retry_of_a_job_that_does_not_exist(run, database):
    result = run("retry", "999", ok=False)
    assert "no job 999" in result.output


def test_jobs_help_has_examples(run):
    for command in ("stats", "list", "retry"):
        assert "Example:" in run(command, "--help").output


def test_stats_table_lines_up_the_counts_under_the_status_names(run, database):
    assert run("stats").output.splitlines() == [
        "TYPE     PENDING    RUNNING  SUCCEEDED     FAILED   FAILURES    SNOOZES",
        "total          0          0          0          0          0          0",
        "FAILURES: attempts that failed (they count toward max_attempts); "
        "SNOOZES: attempts put off by a rate limit or a shutdown (not failures)",
        "no job is due",
    ]
