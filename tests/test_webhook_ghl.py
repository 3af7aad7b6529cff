"""POST /api/webhooks/ghl/sms over real HTTP against a file database.

What every route does (first delivery, dedupe, concurrent deliveries, token and JSON
rejections, telemetry source) is tested once for all in tests/test_channels.py.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import all_counts, load_payload

ROUTE = "/api/webhooks/ghl/sms"


def payload(**changes) -> dict:
    data = load_payload("ghl_sms_workflow.json")
    data.update(changes)
    return data


def messages(database) -> list[dict]:
    return list(database.query("SELECT * FROM messages ORDER BY id"))


def jobs(database) -> list[dict]:
    return list(database.query("SELECT * FROM background_jobs ORDER BY id"))


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def test_body_falls_back_to_custom_data_message(http, workspace, database):
    data = payload(message={"type": 2, "body": ""})
    data["customData"]["Message"] = "  From custom data  "
    assert http.post(ROUTE, json=data, headers=workspace.auth).status_code == 200
    assert messages(database)[0]["body"] == "From custom data"


def test_minimal_payload(http, workspace, database):
    response = http.post(ROUTE, json=load_payload("ghl_sms_minimal.json"), headers=workspace.auth)
    assert response.status_code == 200
    assert response.json()["deduped"] is False
    assert messages(database)[0]["body"] == "ok"


@pytest.mark.parametrize("body", ["", "   \n\t "])
def test_empty_message_is_ignored_and_writes_nothing(http, workspace, database, body):
    before = all_counts(database)
    data = payload(message={"body": body})
    data["customData"]["Message"] = ""
    response = http.post(ROUTE, json=data, headers=workspace.auth)
    assert response.status_code == 200
    assert response.json() == {"success": True, "ignored": True, "reason": "empty_message"}
    assert all_counts(database) == before


@pytest.mark.parametrize(
    "auth",
    [
        lambda w: {"Authorization": f"Bearer {w.token}"},
        lambda w: {"X-Leadhook-Token": w.token},
        lambda w: {"__query__": w.token},
    ],
    ids=["bearer", "header", "query"],
)
def test_token_ways(http, workspace, database, auth):
    headers = auth(workspace)
    params = {"token": headers.pop("__query__")} if "__query__" in headers else None
    response = http.post(ROUTE, json=payload(), headers=headers, params=params)
    assert response.status_code == 200, response.text


def rejected(http, database, expected_status: int, **request) -> dict:
    before = all_counts(database)
    response = http.post(ROUTE, **request)
    assert response.status_code == expected_status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"]
    assert all_counts(database) == before, "a rejected delivery wrote rows"
    return body


def test_token_is_checked_before_the_body(http, workspace, database):
    # Garbage and oversized bodies still get 401 without a valid token: nothing is parsed.
    rejected(http, database, 401, content=b"{not json", headers={"X-Leadhook-Token": "bad"})
    rejected(http, database, 401, content=b"x" * 400_000)


def test_other_workspaces_location_is_403(http, workspace, make_workspace, database):
    other = make_workspace(ghl_location_id="loc_other")
    body = rejected(http, database, 403, json=payload(), headers=other.auth)
    assert "location.id" in body["error"]


def test_unknown_location_is_403(http, workspace, database):
    rejected(
        http, database, 403, json=payload(location={"id": "loc_unknown"}), headers=workspace.auth
    )


def test_workspace_without_ghl_location_is_403(http, make_workspace, workspace, database):
    other = make_workspace(ghl_location_id=None)
    rejected(http, database, 403, json=payload(), headers=other.auth)


def test_missing_location_id_is_400(http, workspace, database):
    for location in (None, {}, {"id": ""}, {"id": None}):
        data = payload(location=location)
        body = rejected(http, database, 400, json=data, headers=workspace.auth)
        assert body["error"] == "Missing location.id"
    data = payload()
    del data["location"]
    assert rejected(http, database, 400, json=data, headers=workspace.auth)["error"] == (
        "Missing location.id"
    )


def test_missing_contact_id_is_400(http, workspace, database):
    for contact in (None, "", "  "):
        body = rejected(
            http, database, 400, json=payload(contact_id=contact), headers=workspace.auth
        )
        assert body["error"] == "Missing contact_id"


def test_wrongly_typed_fields_are_400_not_500(http, workspace, database):
    rejected(http, database, 400, json=payload(location="loc_AbC123"), headers=workspace.auth)
    rejected(http, database, 400, json=payload(customData=["x"]), headers=workspace.auth)


def test_oversized_body_is_413(http, workspace, database):
    data = payload()
    data["customData"]["Padding"] = "x" * 270_000
    rejected(http, database, 413, json=data, headers=workspace.auth)


def test_oversized_chunked_body_is_413(http, workspace, database):
    def chunks():
        yield b'{"contact_id": "c", "pad": "'
        for _ in range(300):
            yield b"x" * 1024
        yield b'"}'

    rejected(http, database, 413, content=chunks(), headers=workspace.auth)


def test_body_limit_is_configurable(serve, workspace, database):
    live = serve(max_body_bytes=1024)
    with httpx.Client(base_url=live.url) as http:
        data = payload()
        data["customData"]["Padding"] = "x" * 2000
        rejected(http, database, 413, json=data, headers=workspace.auth)


# -- duplicate delivery: one test per existing job state (DESIGN.md) ---------------------------


@pytest.fixture
def quiet(serve):
    """A server whose runner does not touch the jobs, so the test controls their state."""
    return serve(scheduler_enabled=False)


def deliver(live, workspace) -> dict:
    with httpx.Client(base_url=live.url) as http:
        response = http.post(ROUTE, json=payload(), headers=workspace.auth)
    assert response.status_code == 200
    return response.json()


def set_job(database, **values) -> dict:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    database.execute(f"UPDATE background_jobs SET {sets}", values)
    return jobs(database)[0]


def test_duplicate_with_no_job_creates_one(quiet, workspace, database):
    first = deliver(quiet, workspace)
    database.execute("DELETE FROM background_jobs")
    again = deliver(quiet, workspace)
    assert again["deduped"] is True
    assert again["jobEnqueued"] is True
    [job] = jobs(database)
    assert job["status"] == "PENDING"
    assert job["message_id"] == first["messageId"]


def test_duplicate_with_pending_job_leaves_it(quiet, workspace, database):
    deliver(quiet, workspace)
    before = set_job(database, run_at="2030-01-01T00:00:00.000Z", attempts=2)
    again = deliver(quiet, workspace)
    assert (again["deduped"], again["jobEnqueued"]) == (True, False)
    assert jobs(database) == [before]


def test_duplicate_with_running_job_never_resets_it(quiet, workspace, database):
    deliver(quiet, workspace)
    before = set_job(
        database,
        status="RUNNING",
        attempts=1,
        locked_by="host:1:abc",
        locked_at="2026-01-18T10:00:00.000Z",
        started_at="2026-01-18T10:00:00.000Z",
    )
    again = deliver(quiet, workspace)
    assert (again["deduped"], again["jobEnqueued"]) == (True, False)
    assert jobs(database) == [before]


def test_duplicate_with_failed_job_resets_it(quiet, workspace, database):
    deliver(quiet, workspace)
    set_job(
        database,
        status="FAILED",
        attempts=5,
        locked_by="host:1:abc",
        locked_at="2026-01-18T10:00:00.000Z",
        finished_at="2026-01-18T10:01:00.000Z",
        last_error="boom",
        run_at="2026-01-18T10:00:00.000Z",
    )
    again = deliver(quiet, workspace)
    assert (again["deduped"], again["jobEnqueued"]) == (True, True)
    [job] = jobs(database)
    assert job["status"] == "PENDING"
    assert job["attempts"] == 0
    assert job["locked_by"] is job["locked_at"] is job["last_error"] is job["finished_at"] is None
    assert job["run_at"] > "2026-01-18T10:00:00.000Z"


def test_duplicate_with_succeeded_job_leaves_it(quiet, workspace, database):
    deliver(quiet, workspace)
    before = set_job(
        database, status="SUCCEEDED", attempts=1, finished_at="2026-01-18T10:01:00.000Z"
    )
    again = deliver(quiet, workspace)
    assert (again["deduped"], again["jobEnqueued"]) == (True, False)
    assert jobs(database) == [before]


# -- genuine repeats versus provider retries ---------------------------------------------------


def test_repeat_outside_the_window_is_a_new_message(serve, workspace, database):
    clock = Clock(datetime(2026, 1, 18, 10, 0, tzinfo=UTC))
    live = serve(clock=clock, scheduler_enabled=False)
    first = deliver(live, workspace)
    clock.advance(minutes=70)  # GoHighLevel's last redelivery: still a retry
    assert deliver(live, workspace)["messageId"] == first["messageId"]
    clock.advance(days=1)  # the lead texts the same words again the next day
    second = deliver(live, workspace)
    assert second["deduped"] is False
    assert second["jobEnqueued"] is True
    assert second["messageId"] != first["messageId"]
    assert second["leadId"] == first["leadId"]
    clock.advance(minutes=30)  # a retry of the second message dedupes to it
    retry = deliver(live, workspace)
    assert (retry["deduped"], retry["messageId"]) == (True, second["messageId"])
    clock.advance(days=1)
    third = deliver(live, workspace)
    assert third["deduped"] is False
    keys = [m["webhook_dedupe_key"] for m in messages(database)]
    assert keys[1:] == [f"{keys[0]}#2", f"{keys[0]}#3"]
    assert len(jobs(database)) == 3
    lead = next(database.query("SELECT * FROM leads"))
    assert lead["last_inbound_at"] == messages(database)[-1]["sent_at"]


def test_window_is_configurable(serve, workspace, database):
    clock = Clock(datetime(2026, 1, 18, 10, 0, tzinfo=UTC))
    live = serve(clock=clock, scheduler_enabled=False, ghl_dedupe_window_seconds=60)
    deliver(live, workspace)
    clock.advance(seconds=60)
    assert deliver(live, workspace)["deduped"] is True
    clock.advance(seconds=61)
    assert deliver(live, workspace)["deduped"] is False


def test_window_zero_means_forever(serve, workspace, database):
    clock = Clock(datetime(2026, 1, 18, 10, 0, tzinfo=UTC))
    live = serve(clock=clock, scheduler_enabled=False, ghl_dedupe_window_seconds=0)
    first = deliver(live, workspace)
    clock.advance(days=400)
    again = deliver(live, workspace)
    assert (again["deduped"], again["messageId"]) == (True, first["messageId"])
    assert len(messages(database)) == 1


def test_concurrent_repeats_outside_the_window_make_one_new_message(serve, workspace, database):
    clock = Clock(datetime(2026, 1, 18, 10, 0, tzinfo=UTC))
    live = serve(clock=clock, scheduler_enabled=False)
    deliver(live, workspace)
    clock.advance(days=2)
    barrier = threading.Barrier(20)

    def one(_: int) -> dict:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            barrier.wait()
            return http.post(ROUTE, json=payload(), headers=workspace.auth).json()

    with ThreadPoolExecutor(max_workers=20) as pool:
        bodies = list(pool.map(one, range(20)))
    assert sum(1 for b in bodies if b["deduped"] is False) == 1
    assert len(messages(database)) == 2
    assert len(jobs(database)) == 2


# -- lead matching -----------------------------------------------------------------------------


def test_lead_matched_by_email_case_insensitively_fills_blanks_only(quiet, workspace, database):
    database.execute(
        "INSERT INTO leads (client_id, email, first_name, status, created_at, updated_at) "
        "VALUES (?, 'JANE.DOE@example.com', 'Janet', 'qualified', 'x', 'x')",
        (workspace.id,),
    )
    body = deliver(quiet, workspace)
    lead = next(database.query("SELECT * FROM leads"))
    assert body["leadId"] == lead["id"]
    assert lead["first_name"] == "Janet"  # not overwritten
    assert lead["last_name"] == "Doe"  # filled
    assert lead["ghl_contact_id"] == "cnt_8f2K1aXyZ"  # filled
    assert lead["status"] == "qualified"
    assert database.execute("SELECT COUNT(*) FROM leads").fetchone()[0] == 1


def test_lead_matched_by_phone_digits(quiet, workspace, database):
    database.execute(
        "INSERT INTO leads (client_id, phone, phone_digits, status, created_at, updated_at) "
        "VALUES (?, '+1 (555) 555-0123', '15555550123', 'new', 'x', 'x')",
        (workspace.id,),
    )
    data = payload(email="")
    data["customData"]["Email"] = ""
    with httpx.Client(base_url=quiet.url) as http:
        body = http.post(ROUTE, json=data, headers=workspace.auth).json()
    assert body["leadId"] == 1
    assert database.execute("SELECT COUNT(*) FROM leads").fetchone()[0] == 1


def test_leads_are_per_workspace(serve, make_workspace, database):
    first = make_workspace()
    second = make_workspace(ghl_location_id="loc_second")
    live = serve(scheduler_enabled=False)
    a = deliver(live, first)
    with httpx.Client(base_url=live.url) as http:
        b = http.post(
            ROUTE, json=payload(location={"id": "loc_second"}), headers=second.auth
        ).json()
    assert a["leadId"] != b["leadId"]
    assert a["messageId"] != b["messageId"]  # the key includes the client id
