"""POST /api/webhooks/email: EmailBison/Inboxxia events over real HTTP (issue 5).

What every route does (first delivery, dedupe, concurrent deliveries, token and JSON
rejections, telemetry source) is tested once for all in tests/test_channels.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

import ai
import db
from db.sqlite import ops
from handlers._payload import html_to_text, parse_when, sent_at_iso
from tests.conftest import all_counts, assert_rejected, load_payload, rows

PATH = "/api/webhooks/email"
NOW = datetime(2026, 1, 18, 16, 15, 0, 123000, tzinfo=UTC)
NOW_ISO = "2026-01-18T16:15:00.123Z"


@pytest.fixture
def live(serve, workspace):
    """The scheduler is off: jobs stay as the webhook left them."""
    return serve(scheduler_enabled=False, clock=lambda: NOW)


def reply_payload(**reply_changes) -> dict:
    payload = load_payload("email_lead_replied.json")
    payload["data"]["reply"].update(reply_changes)
    return payload


def _without_reply_id() -> dict:
    payload = load_payload("email_lead_replied.json")
    del payload["data"]["reply"]["id"]
    return payload


def _other_workspace() -> dict:
    payload = load_payload("email_lead_replied.json")
    payload["event"]["workspace_id"] = 99999
    return payload


REJECTIONS = {
    "workspace mismatch": ("auth", _other_workspace(), 403, "event.workspace_id '99999'"),
    "missing reply id": ("auth", _without_reply_id(), 400, "Missing data.reply.id"),
    "missing workspace id": (
        "auth",
        {"event": {"type": "LEAD_REPLIED"}, "data": {}},
        400,
        "Missing event.workspace_id",
    ),
    "missing event type": ("auth", {"data": {}}, 400, "Missing event.type"),
    "missing scheduled email id": (
        "auth",
        {"event": {"type": "EMAIL_SENT", "workspace_id": 12345}, "data": {"scheduled_email": {}}},
        400,
        "Missing data.scheduled_email.id",
    ),
    "reply without lead email": (
        "auth",
        {"event": {"type": "LEAD_REPLIED", "workspace_id": 12345}, "data": {"reply": {"id": 5}}},
        400,
        "Missing lead email",
    ),
    "wrong type": ("auth", {"event": {"type": "LEAD_REPLIED"}, "data": []}, 400, "Invalid payload"),
}


@pytest.mark.parametrize("case", REJECTIONS.keys())
def test_rejections_write_nothing(case, http, workspace, database):
    headers, payload, status, error = REJECTIONS[case]
    headers = workspace.auth if headers == "auth" else headers
    assert_rejected(http, database, PATH, headers, payload, status, error)


def test_token_of_another_workspace_is_forbidden(http, make_workspace, workspace, database):
    other = make_workspace()
    before = all_counts(database)
    payload = load_payload("email_lead_replied.json")

    response = http.post(PATH, json=payload, headers=other.auth)

    assert response.status_code == 403
    assert all_counts(database) == before


@pytest.mark.parametrize("event_type", ["EMAIL_OPENED", "EMAIL_BOUNCED", "LEAD_CATEGORY_CHANGED"])
def test_other_event_types_are_ignored(event_type, http, workspace, database):
    before = all_counts(database)
    payload = {"event": {"type": event_type, "workspace_id": "12345"}, "data": {"x": [1]}}

    response = http.post(PATH, json=payload, headers=workspace.auth)

    assert response.status_code == 200
    assert response.json() == {"success": True, "ignored": True, "eventType": event_type}
    assert all_counts(database) == before


def test_lead_interested_is_stored_like_a_reply(http, workspace, database):
    payload = reply_payload(id=1000)
    payload["event"]["type"] = "LEAD_INTERESTED"

    body = http.post(PATH, json=payload, headers=workspace.auth).json()

    assert (body["deduped"], body["jobEnqueued"]) == (False, True)
    [job] = rows(database, "SELECT type FROM background_jobs")
    assert job["type"] == "EMAIL_INBOUND_POST_PROCESS"


def test_untracked_reply_html_body_and_sender_as_lead(http, workspace, database):
    payload = load_payload("email_untracked_reply_received.json")

    body = http.post(PATH, json=payload, headers=workspace.auth).json()

    assert body["jobEnqueued"] is True
    [message] = rows(database, "SELECT * FROM messages")
    assert message["email_reply_id"] == "1001"
    assert message["body"] == "Hello,\nPlease talk to me instead & not Alex.\nThanks"
    assert message["sent_at"] == "2026-01-18T16:20:00.000Z"  # naive date_received is UTC
    [lead] = rows(database, "SELECT * FROM leads")
    assert (lead["email"], lead["first_name"], lead["last_name"]) == (
        "colleague@example.com",
        "Robin",
        "Colleague",
    )


def test_lead_is_matched_by_email_case_insensitively(http, workspace, database):
    first = http.post(PATH, json=reply_payload(), headers=workspace.auth).json()
    payload = reply_payload(id=1002)
    payload["data"]["lead"]["email"] = "LEAD@Example.COM"

    second = http.post(PATH, json=payload, headers=workspace.auth).json()

    assert second["deduped"] is False
    assert second["leadId"] == first["leadId"]
    assert all_counts(database)["leads"] == 1


def test_sent_at_falls_back_to_created_at_then_receipt_time(http, workspace, database):
    http.post(
        PATH,
        json=reply_payload(id=1, date_received=None, created_at="2026-01-18T17:00:00+01:00"),
        headers=workspace.auth,
    )
    http.post(
        PATH,
        json=reply_payload(id=2, date_received="not a date", created_at=None),
        headers=workspace.auth,
    )
    sent = [r["sent_at"] for r in rows(database, "SELECT sent_at FROM messages ORDER BY id")]
    assert sent == ["2026-01-18T16:00:00.000Z", NOW_ISO]


def test_email_sent_is_outbound_without_a_job(http, workspace, database):
    payload = load_payload("email_email_sent.json")

    first = http.post(PATH, json=payload, headers=workspace.auth)
    second = http.post(PATH, json=payload, headers=workspace.auth)

    assert first.status_code == 200
    assert first.json()["deduped"] is False
    assert first.json()["jobEnqueued"] is False
    assert second.json()["deduped"] is True
    assert second.json()["messageId"] == first.json()["messageId"]
    [message] = rows(database, "SELECT * FROM messages")
    assert (message["direction"], message["scheduled_email_id"], message["email_reply_id"]) == (
        "outbound",
        "5551",
        None,
    )
    assert message["body"] == "Hi Alex,\nQuick question about Q1 plans."
    assert message["subject"] == "Quick question"
    assert message["sent_at"] == "2026-01-18T09:00:00.000Z"
    [lead] = rows(database, "SELECT * FROM leads")
    assert (lead["last_outbound_at"], lead["last_inbound_at"]) == ("2026-01-18T09:00:00.000Z", None)
    assert all_counts(database)["background_jobs"] == 0


def test_lead_unsubscribed_blacklists_the_lead_idempotently(http, workspace, database):
    replied = http.post(PATH, json=reply_payload(), headers=workspace.auth).json()
    database["ai_drafts"].insert(
        {
            "client_id": workspace.id,
            "lead_id": replied["leadId"],
            "trigger_message_id": replied["messageId"],
            "channel": "email",
            "body": "Happy to, does Thursday 10am work?",
            "status": "pending",
            "created_at": NOW_ISO,
            "updated_at": NOW_ISO,
        }
    )
    payload = load_payload("email_lead_unsubscribed.json")  # the lead's email in mixed case

    first = http.post(PATH, json=payload, headers=workspace.auth)
    second = http.post(PATH, json=payload, headers=workspace.auth)

    expected = {"success": True, "leadId": replied["leadId"], "status": "blacklisted"}
    assert (first.status_code, first.json()) == (200, expected)
    assert (second.status_code, second.json()) == (200, expected)
    [lead] = rows(database, "SELECT status, sentiment_tag FROM leads")
    assert lead == {"status": "blacklisted", "sentiment_tag": "Blacklist"}
    [draft] = rows(database, "SELECT status FROM ai_drafts")
    assert draft["status"] == "rejected"
    assert all_counts(database)["messages"] == 1


def test_unsubscribe_of_an_unknown_lead_creates_it_blacklisted(http, workspace, database):
    payload = load_payload("email_lead_unsubscribed.json")
    payload["data"]["lead"]["email"] = "new@example.com"

    body = http.post(PATH, json=payload, headers=workspace.auth).json()

    lead = rows(database, "SELECT * FROM leads WHERE id = ?", (body["leadId"],))[0]
    assert (lead["email"], lead["status"], lead["sentiment_tag"]) == (
        "new@example.com",
        "blacklisted",
        "Blacklist",
    )


def test_a_reply_id_another_workspace_stored_is_this_workspaces_own_message(
    http, make_workspace, workspace, database
):
    """Reply ids are unique per workspace: B's stored id neither blocks A nor tells A it
    exists (DESIGN: dedupe columns UNIQUE per client)."""
    other = make_workspace(email_workspace_id="777")
    theirs = reply_payload()
    theirs["event"]["workspace_id"] = 777
    first = http.post(PATH, json=theirs, headers=other.auth).json()

    mine = http.post(PATH, json=reply_payload(), headers=workspace.auth)

    assert mine.status_code == 200
    assert mine.json()["deduped"] is False
    assert mine.json()["messageId"] != first["messageId"]
    jobs = rows(database, "SELECT client_id, message_id FROM background_jobs ORDER BY id")
    assert jobs == [
        {"client_id": other.id, "message_id": first["messageId"]},
        {"client_id": workspace.id, "message_id": mine.json()["messageId"]},
    ]
    again = http.post(PATH, json=reply_payload(), headers=workspace.auth).json()
    assert (again["deduped"], again["messageId"]) == (True, mine.json()["messageId"])


def test_the_route_runs_inside_its_telemetry_source(http, workspace, monkeypatch):
    """The write (and so anything the route starts) sees the route path as its source."""
    seen: list[str | None] = []

    def recording(operation):
        def record(database, *args):
            seen.append(ai.current_source())
            return operation(database, *args)

        return record

    for name in ("ingest", "unsubscribe"):
        monkeypatch.setattr(ops, name, recording(getattr(ops, name)))
    for name in ("email_lead_replied.json", "email_lead_unsubscribed.json"):
        assert http.post(PATH, json=load_payload(name), headers=workspace.auth).status_code == 200

    assert seen == [PATH, PATH]
    assert ai.current_source() is None


def test_json_without_content_type_is_accepted(http, workspace):
    content = json.dumps(load_payload("email_lead_replied.json")).encode()
    headers = {**workspace.auth, "Content-Type": "text/plain"}

    assert http.post(PATH, content=content, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>Hi&nbsp;there</p><p>Line two<br/>three</p>", "Hi there\nLine two\nthree"),
        ("<div>a   b</div>\n\n\n<div>c</div>", "a b\nc"),
        ("<style>x{}</style><script>alert(1)</script>ok &amp; &lt;fine&gt;", "ok & <fine>"),
        ("plain text, no tags", "plain text, no tags"),
        ("", ""),
    ],
)
def test_html_to_text(html, expected):
    assert html_to_text(html) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-18T16:13:10.000Z", "2026-01-18T16:13:10.000Z"),
        ("2026-01-18T17:13:10+01:00", "2026-01-18T16:13:10.000Z"),
        ("2026-01-18 16:13:10", "2026-01-18T16:13:10.000Z"),
        ("Sun, 18 Jan 2026 16:13:10 +0000", "2026-01-18T16:13:10.000Z"),
        (1768752790, "2026-01-18T16:13:10.000Z"),
        ("1768752790000", "2026-01-18T16:13:10.000Z"),
        (1768752790123.0, "2026-01-18T16:13:10.123Z"),
    ],
)
def test_parse_when_is_lenient(value, expected):
    assert db.iso(parse_when(value)) == expected


@pytest.mark.parametrize("value", [None, "", "  ", "soon", True, {"a": 1}, [1], 1e300])
def test_unparseable_times_fall_back_to_receipt_time(value):
    assert parse_when(value) is None
    assert sent_at_iso(NOW, value) == NOW_ISO
