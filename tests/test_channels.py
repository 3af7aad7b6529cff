"""The channel contract: what every webhook route does, one row per provider, over real HTTP.

Each row names the route, its sample payload, the dedupe column and value, the job type, and
what the first delivery stores. Every row must: store the first delivery (message, lead, job)
exactly once, dedupe a redelivery by the job state table, store one message under concurrent
identical deliveries, refuse a missing or wrong token (before the body) and a body that is not
a JSON object, and run inside the telemetry source named by its path. What only one provider
does stays in its tests/test_webhook_<provider>.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

import ai
import db
from tests.conftest import Workspace, all_counts, assert_rejected, load_payload, rows


def _sha(prefix: str, joined: str) -> str:
    return prefix + hashlib.sha256(joined.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Channel:
    path: str
    sample: str  # in examples/
    now: datetime  # the receipt time of every delivery
    dedupe_column: str
    dedupe_value: Callable[[Workspace], str]
    job_type: str
    message: dict[str, Any]  # columns of the stored message
    lead: dict[str, Any]  # columns of the stored lead
    bad_json: bytes  # a truncated body, as the provider's own fields would start
    secret_key: bool = False  # the token travels as the body's secret_key (SmartLead)

    def request(self, token: str | None) -> dict[str, Any]:
        """``http.post`` arguments: the sample carrying ``token`` the provider's way (None:
        no token at all)."""
        payload = load_payload(self.sample)
        if self.secret_key:
            payload.pop("secret_key", None)
            if token is not None:
                payload["secret_key"] = token
            return {"json": payload}
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return {"json": payload, "headers": headers}

    @property
    def received_at(self) -> str:
        return db.iso(self.now)


GHL_BODY = "Yes, I'm interested. Can we talk Thursday?"
CHANNELS = {
    "ghl": Channel(
        path="/api/webhooks/ghl/sms",
        sample="ghl_sms_workflow.json",
        now=datetime(2026, 1, 18, 10, 1, tzinfo=UTC),
        dedupe_column="webhook_dedupe_key",
        dedupe_value=lambda w: _sha(
            "ghl_sms:",
            f"{w.id}|cnt_8f2K1aXyZ|wf_0001|2026-01-18T10:00:00.000Z|1/18/2026|10:00:05 AM|"
            + GHL_BODY.lower(),
        ),
        job_type="SMS_INBOUND_POST_PROCESS",
        message={
            "channel": "sms",
            "source": "ghl",
            "body": GHL_BODY,
            "subject": None,
            "sent_at": "2026-01-18T10:00:05.000Z",  # customData Date + Time, within 20 min
        },
        bad_json=b'{"contact_id": ',
        lead={
            "ghl_contact_id": "cnt_8f2K1aXyZ",
            "email": "jane.doe@example.com",
            "first_name": "Jane",
            "last_name": "Doe",
        },
    ),
    "email": Channel(
        path="/api/webhooks/email",
        sample="email_lead_replied.json",
        now=datetime(2026, 1, 18, 16, 15, 0, 123000, tzinfo=UTC),
        dedupe_column="email_reply_id",
        dedupe_value=lambda w: "999",
        job_type="EMAIL_INBOUND_POST_PROCESS",
        message={
            "channel": "email",
            "source": "emailbison",
            "body": "Sounds good, send me some times for Thursday",
            "subject": "Re: quick question",
            "sent_at": "2026-01-18T16:13:10.000Z",
        },
        bad_json=b'{"event": {"type": ',
        lead={"email": "lead@example.com", "first_name": "Alex", "last_name": "Lee"},
    ),
    "linkedin": Channel(
        path="/api/webhooks/linkedin",
        sample="unipile_message_received.json",
        now=datetime(2026, 1, 18, 14, 0, tzinfo=UTC),
        dedupe_column="unipile_message_id",
        dedupe_value=lambda w: "ykmhfXlRW0W_cqReJYrfBw",
        job_type="LINKEDIN_INBOUND_POST_PROCESS",
        message={
            "channel": "linkedin",
            "source": "unipile",
            "body": "Thanks for reaching out, happy to chat next week.",
            "subject": None,
            "sent_at": "2026-01-18T13:49:07.965Z",
        },
        bad_json=b'{"event": "message_received",',
        lead={
            "linkedin_id": "ACoAAAcDMMQBODyLwZrRcgYhrkCafURGqva0U4E",
            "linkedin_url": "https://linkedin.com/in/kim-lead-42",
            "first_name": "Kim",
            "last_name": "Lead",
            "email": None,
        },
    ),
    "smartlead": Channel(
        path="/api/webhooks/smartlead",
        sample="smartlead_email_reply.json",
        now=datetime(2026, 1, 18, 5, 25, tzinfo=UTC),
        dedupe_column="email_reply_id",
        dedupe_value=lambda w: "smartlead:<CAJZreply1@mail.example.com>",
        job_type="SMARTLEAD_INBOUND_POST_PROCESS",
        message={
            "channel": "email",
            "source": "smartlead",
            "body": "Interested, call me",
            "subject": "Re: Q1 outreach",
            "sent_at": "2026-01-18T05:24:30.000Z",
        },
        bad_json=b'{"event_type": "EMAIL_REPLY", ',
        lead={"email": "lead@example.com", "first_name": "Alex", "last_name": "Lee"},
        secret_key=True,
    ),
    "instantly": Channel(
        path="/api/webhooks/instantly",
        sample="instantly_reply_received.json",
        now=datetime(2026, 1, 15, 10, 31, tzinfo=UTC),
        dedupe_column="email_reply_id",
        dedupe_value=lambda w: _sha(
            "instantly:",
            "6f1c2d3e-0000-4000-8000-0000000000aa|sender@acme.example|2026-01-15T10:30:00.000Z",
        ),
        job_type="INSTANTLY_INBOUND_POST_PROCESS",
        message={
            "channel": "email",
            "source": "instantly",
            "body": "Sounds good, what times work?",
            "subject": "Re: Q1 outreach",
            "sent_at": "2026-01-15T10:30:00.000Z",
        },
        bad_json=b'{"event_type": "reply_received"',
        lead={"email": "lead@example.com"},
    ),
}


@pytest.fixture(params=CHANNELS, ids=list(CHANNELS))
def channel(request: pytest.FixtureRequest) -> Channel:
    return CHANNELS[request.param]


@pytest.fixture
def live(serve, workspace, channel):
    """The scheduler is off: jobs stay as the webhook left them."""
    return serve(scheduler_enabled=False, clock=lambda: channel.now)


def deliver(http: httpx.Client, channel: Channel, workspace: Workspace) -> httpx.Response:
    return http.post(channel.path, **channel.request(workspace.token))


def test_first_delivery_stores_message_lead_and_job(http, channel, workspace, database):
    response = deliver(http, channel, workspace)

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "success": True,
        "deduped": False,
        "messageId": body["messageId"],
        "leadId": body["leadId"],
        "jobEnqueued": True,
    }
    [message] = rows(database, "SELECT * FROM messages")
    assert (message["id"], message["lead_id"]) == (body["messageId"], body["leadId"])
    assert message["client_id"] == workspace.id
    assert message["direction"] == "inbound"
    assert message[channel.dedupe_column] == channel.dedupe_value(workspace)
    assert {k: message[k] for k in channel.message} == channel.message
    assert message["received_at"] == channel.received_at
    [lead] = rows(database, "SELECT * FROM leads")
    assert (lead["id"], lead["client_id"], lead["status"]) == (body["leadId"], workspace.id, "new")
    assert {k: lead[k] for k in channel.lead} == channel.lead
    assert lead["last_inbound_at"] == lead["last_message_at"] == message["sent_at"]
    [job] = rows(database, "SELECT * FROM background_jobs")
    assert (job["type"], job["status"]) == (channel.job_type, "PENDING")
    assert job["dedupe_key"] == f"{workspace.id}:{message['id']}:{channel.job_type}"
    assert (job["message_id"], job["lead_id"], job["run_at"]) == (
        message["id"],
        lead["id"],
        channel.received_at,
    )


def test_duplicate_is_deduped_and_follows_the_job_state_table(http, channel, workspace, database):
    first = deliver(http, channel, workspace).json()
    counts = all_counts(database)
    assert (counts["messages"], counts["background_jobs"], counts["leads"]) == (1, 1, 1)

    second = deliver(http, channel, workspace)

    assert second.status_code == 200
    assert second.json() == {
        "success": True,
        "deduped": True,
        "messageId": first["messageId"],
        "leadId": first["leadId"],
        "jobEnqueued": False,
    }
    assert all_counts(database) == counts
    for status in ("RUNNING", "SUCCEEDED"):  # never reset
        database.execute("UPDATE background_jobs SET status = ?", (status,))
        again = deliver(http, channel, workspace).json()
        assert (again["deduped"], again["jobEnqueued"]) == (True, False)
        assert rows(database, "SELECT status FROM background_jobs") == [{"status": status}]
    # A FAILED job is the one state a redelivery resets (DESIGN.md).
    database.execute("UPDATE background_jobs SET status = 'FAILED', attempts = 5")
    again = deliver(http, channel, workspace).json()
    assert (again["deduped"], again["jobEnqueued"], again["messageId"]) == (
        True,
        True,
        first["messageId"],
    )
    assert rows(database, "SELECT status, attempts FROM background_jobs") == [
        {"status": "PENDING", "attempts": 0}
    ]
    assert all_counts(database) == counts


@pytest.mark.parametrize("scheduler", [False, True], ids=["scheduler-off", "scheduler-on"])
def test_concurrent_identical_deliveries_store_one_message_and_one_job(
    serve, channel, workspace, database, post_concurrently, scheduler
):
    live = serve(scheduler_enabled=scheduler, clock=lambda: channel.now)

    responses = post_concurrently(live.url, channel.path, n=50, **channel.request(workspace.token))

    assert [r.status_code for r in responses] == [200] * 50
    bodies = [r.json() for r in responses]
    assert sum(not b["deduped"] for b in bodies) == 1
    assert len({b["messageId"] for b in bodies}) == 1
    counts = all_counts(database)
    assert (counts["messages"], counts["leads"]) == (1, 1)
    types = [j["type"] for j in rows(database, "SELECT type FROM background_jobs ORDER BY id")]
    if scheduler:  # the live runner may already have run it and queued the lead's scoring
        types = [t for t in types if t != "LEAD_SCORING_POST_PROCESS"]
    assert types == [channel.job_type]


def test_missing_token_is_401(http, channel, workspace, database):
    request = channel.request(None)
    assert_rejected(http, database, channel.path, {}, request["json"], 401, "Missing client token")


def test_wrong_token_is_401(http, channel, workspace, database):
    own = channel.request("lh_wrong")  # the provider's own way
    payload = channel.request(None)["json"]
    for path, headers, body in [
        (channel.path, own.get("headers", {}), own["json"]),
        (channel.path, {"Authorization": "Bearer lh_wrong"}, payload),
        (channel.path, {"X-Leadhook-Token": "lh_wrong"}, payload),
        (channel.path + "?token=lh_wrong", {}, payload),
    ]:
        assert_rejected(http, database, path, headers, body, 401, "Invalid client token")


def test_the_token_is_checked_before_the_body(http, channel, workspace, database):
    headers = {"X-Leadhook-Token": "lh_wrong"}
    for content in (b"{not json", b"[]", b"x" * 400_000):
        assert_rejected(http, database, channel.path, headers, content, 401, "Invalid client token")


def test_bad_json_is_400(http, channel, workspace, database):
    for content in (channel.bad_json, b'{"contact_id": ', b"{"):
        assert_rejected(
            http, database, channel.path, workspace.auth, content, 400, "Body is not valid JSON"
        )


NOT_OBJECTS = [
    b"[]",
    b"[1, 2]",
    b'[{"contact_id": "x"}]',
    b'[{"event": "message_received"}]',
    b'["EMAIL_REPLY"]',
    b'"text"',
    b"42",
    b"null",
]


def test_json_that_is_not_an_object_is_400(http, channel, workspace, database):
    before = all_counts(database)
    for content in NOT_OBJECTS:
        response = http.post(channel.path, content=content, headers=workspace.auth)

        assert response.status_code == 400, content
        assert response.json() == {"success": False, "error": "Body must be a JSON object"}
    assert all_counts(database) == before


def test_the_route_runs_inside_its_telemetry_source(http, channel, workspace, ingest_sources):
    """The write (and so anything the route starts) sees the route path as its source."""
    assert deliver(http, channel, workspace).status_code == 200
    assert ingest_sources == [channel.path]
    assert ai.current_source() is None
