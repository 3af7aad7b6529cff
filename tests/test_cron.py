"""GET/POST /api/cron/background-jobs: the secret, one bounded pass, the counts."""

from __future__ import annotations

import httpx
import pytest

import db
from scheduler._registry import JOB_HANDLERS
from tests.job_helpers import (
    RECORD,
    create_runs_table,
    insert_jobs,
    job,
    runs,
    statuses,
)

ROUTE = "/api/cron/background-jobs"
SECRET = "cron-secret-for-tests-0123456789"
COUNT_KEYS = {"releasedStale", "processed", "succeeded", "failed", "retried", "skipped"}


@pytest.fixture
def seeded(database, workspace) -> int:
    create_runs_table(database)
    return workspace.id


@pytest.fixture
def cron(serve, seeded):
    """A server with the scheduler off (only the cron route runs jobs) and a cron secret."""
    return serve(scheduler_enabled=False, cron_secret=SECRET)


def call(live, method: str = "GET", **kwargs) -> httpx.Response:
    return httpx.request(method, f"{live.url}{ROUTE}", timeout=30, **kwargs)


METHODS = ("GET", "POST")


def test_without_a_configured_secret_the_route_always_answers_401(serve, seeded, database):
    [job_id] = insert_jobs(database, seeded)
    live = serve(scheduler_enabled=False, cron_secret=None)
    attempts = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {SECRET}"},
        {"x-cron-secret": SECRET},
        {"x-cron-secret": ""},
    ]
    for method in METHODS:
        for headers in attempts:
            response = call(live, method, headers=headers)
            assert response.status_code == 401, (method, headers)
            assert response.json() == {
                "success": False,
                "error": "This route is disabled: set LEADHOOK_CRON_SECRET and send "
                "'Authorization: Bearer <LEADHOOK_CRON_SECRET>'",
            }
    assert job(database, job_id)["status"] == "PENDING"  # nothing ran


def test_a_wrong_secret_is_401_and_runs_nothing(cron, database, seeded):
    [job_id] = insert_jobs(database, seeded)
    attempts = [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {SECRET}x"},
        {"Authorization": SECRET},  # no scheme
        {"Authorization": f"Basic {SECRET}"},
        {"x-cron-secret": SECRET[:-1]},
        {"x-cron-secret": ""},
    ]
    for method in METHODS:
        for headers in attempts:
            response = call(cron, method, headers=headers, params={"limit": "x"})  # auth first
            assert response.status_code == 401, (method, headers)
            assert response.json() == {
                "success": False,
                "error": "Unauthorized: send 'Authorization: Bearer <LEADHOOK_CRON_SECRET>' "
                "(or the secret in an x-cron-secret header)",
            }
    assert job(database, job_id)["status"] == "PENDING"


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    "headers",
    [{"Authorization": f"Bearer {SECRET}"}, {"x-cron-secret": SECRET}],
    ids=["bearer", "x-cron-secret"],
)
def test_the_right_secret_runs_one_pass_and_returns_the_counts(
    cron, database, seeded, method, headers
):
    ids = insert_jobs(database, seeded, 3)
    response = call(cron, method, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "success": True,
        "releasedStale": 0,
        "processed": 3,
        "succeeded": 3,
        "failed": 0,
        "retried": 0,
        "skipped": 0,
        "remaining": 0,
        "timestamp": body["timestamp"],
    }
    assert db.parse_iso(body["timestamp"])
    assert [job(database, i)["status"] for i in ids] == ["SUCCEEDED"] * 3


def test_every_kind_of_outcome_is_counted(cron, database, seeded):
    async def broken(ctx) -> None:
        raise ValueError("broken")

    JOB_HANDLERS.register("TEST_CRON_BROKEN", broken, replace=True)  # the server's registry
    try:
        now = db.iso(db.utcnow())
        old = "2020-01-01T00:00:00.000Z"
        stale = {"status": "RUNNING", "locked_at": old, "locked_by": "gone.example:1:ab"}
        insert_jobs(database, seeded, 2, key_prefix="ok", run_at=old)
        insert_jobs(database, seeded, key_prefix="stale", run_at=old, attempts=1, **stale)
        insert_jobs(database, seeded, job_type="NO_SUCH_TYPE", key_prefix="unknown", run_at=old)
        insert_jobs(database, seeded, job_type="TEST_CRON_BROKEN", key_prefix="b", run_at=old)
        insert_jobs(database, seeded, job_type=db.vocab.SMS_INBOUND_POST_PROCESS, run_at=old)
        insert_jobs(database, seeded, 4, key_prefix="later", run_at=now)
        response = call(
            cron, "POST", headers={"x-cron-secret": SECRET}, params={"limit": "6"}
        ).json()
    finally:
        JOB_HANDLERS.unregister("TEST_CRON_BROKEN")
    # The stale job is taken back (due again now). Oldest first, 6 run: 2 ok, unknown (failed),
    # broken (retried), SMS without a message (skipped), 1 later; 3 later + the stale one remain.
    assert {k: response[k] for k in COUNT_KEYS | {"remaining"}} == {
        "releasedStale": 1,
        "processed": 6,
        "succeeded": 4,
        "failed": 1,
        "retried": 1,
        "skipped": 1,
        "remaining": 4,
    }
    assert statuses(database) == {"SUCCEEDED": 4, "FAILED": 1, "PENDING": 5}


def test_a_pass_claims_no_more_than_the_limit(cron, database, seeded):
    insert_jobs(database, seeded, 5)
    headers = {"Authorization": f"Bearer {SECRET}"}
    first = call(cron, headers=headers, params={"limit": "2"}).json()
    assert (first["processed"], first["remaining"]) == (2, 3)
    second = call(cron, headers=headers, params={"limit": "10", "budget_seconds": "5"}).json()
    assert (second["processed"], second["remaining"]) == (3, 0)


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "x"}, {"limit": ""}, {"budget_seconds": "-1"}, {"limit": "100000"}],
)
def test_bad_parameters_are_400_once_authorised(cron, params):
    response = call(cron, headers={"x-cron-secret": SECRET}, params=params)
    assert response.status_code == 400
    assert response.json()["success"] is False


def test_jobs_run_by_the_cron_pass_carry_their_own_telemetry_source(cron, database, seeded):
    insert_jobs(database, seeded, 2)
    response = call(cron, headers={"x-cron-secret": SECRET})
    assert response.json()["succeeded"] == 2
    done = runs(database)
    # Not the route's source: each job's own, also after hopping to a thread.
    assert {r["source"] for r in done} == {f"background_job:{RECORD}"}
    assert {r["thread_source"] for r in done} == {f"background_job:{RECORD}"}
    assert {r["attempt"] for r in done} == {1}
