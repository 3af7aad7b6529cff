"""POST /api/webhooks/instantly: Instantly events over real HTTP (issue 5).

What every route does (first delivery, dedupe, concurrent deliveries, token and JSON
rejections, telemetry source) is tested once for all in tests/test_channels.py.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import all_counts, assert_rejected, load_payload, rows

PATH = "/api/webhooks/instantly"
NOW = datetime(2026, 1, 15, 10, 31, tzinfo=UTC)
NOW_ISO = "2026-01-15T10:31:00.000Z"


class Clock:
    """A settable clock: the receipt time of the next delivery."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def live(serve, workspace, clock):
    """The scheduler is off: jobs stay as the webhook left them."""
    return serve(scheduler_enabled=False, clock=clock)


def handle(email_id: str, email_account: str, timestamp: str, body: str = "") -> str:
    if not timestamp:  # the reply's body stands in for it
        timestamp = "|" + hashlib.sha256(body.encode()).hexdigest()
    joined = f"{email_id}|{email_account}|{timestamp}".encode()
    return "instantly:" + hashlib.sha256(joined).hexdigest()[:32]


def test_reply_without_timestamp_delivered_twice_is_one_message(http, clock, workspace, database):
    payload = load_payload("instantly_reply_no_timestamp.json")
    first = http.post(PATH, json=payload, headers=workspace.auth).json()
    clock.now = NOW + timedelta(minutes=10)  # the retry arrives later

    second = http.post(PATH, json=payload, headers=workspace.auth).json()

    assert (first["deduped"], second["deduped"]) == (False, True)
    assert second["messageId"] == first["messageId"]
    [message] = rows(database, "SELECT * FROM messages")
    assert message["email_reply_id"] == handle(
        "6f1c2d3e-0000-4000-8000-0000000000bb",
        "sender@acme.example",
        "",
        "Not now, maybe next quarter.",
    )
    assert message["body"] == "Not now, maybe next quarter."  # reply_html as text
    assert message["sent_at"] == NOW_ISO  # no timestamp: the first receipt time
    assert all_counts(database)["background_jobs"] == 1


def test_timestamp_is_part_of_the_handle_as_sent(http, workspace, database):
    payload = load_payload("instantly_reply_received.json")
    payload["timestamp"] = 1768473000000  # the same instant, as epoch milliseconds

    body = http.post(PATH, json=payload, headers=workspace.auth).json()

    message = rows(database, "SELECT * FROM messages WHERE id = ?", (body["messageId"],))[0]
    assert message["email_reply_id"] == handle(
        "6f1c2d3e-0000-4000-8000-0000000000aa", "sender@acme.example", "1768473000000"
    )
    assert message["sent_at"] == "2026-01-15T10:30:00.000Z"


def _without(key: str) -> dict:
    payload = load_payload("instantly_reply_received.json")
    del payload[key]
    return payload


REPLY = load_payload("instantly_reply_received.json")
REJECTIONS = {
    "missing email id": ("auth", _without("email_id"), 400, "Missing email_id"),
    "missing lead email": ("auth", _without("lead_email"), 400, "Missing lead_email"),
    "missing event type": ("auth", _without("event_type"), 400, "Missing event_type"),
    "sent without email id": (
        "auth",
        {"event_type": "email_sent", "lead_email": "lead@example.com"},
        400,
        "Missing email_id",
    ),
    "unsubscribe without email": ("auth", {"event_type": "lead_unsubscribed"}, 400, "lead_email"),
}


@pytest.mark.parametrize("case", REJECTIONS.keys())
def test_rejections_write_nothing(case, http, workspace, database):
    headers, payload, status, error = REJECTIONS[case]
    headers = workspace.auth if headers == "auth" else headers
    assert_rejected(http, database, PATH, headers, payload, status, error)


@pytest.mark.parametrize(
    "event_type",
    ["email_opened", "auto_reply_received", "link_clicked", "lead_interested", "Custom label"],
)
def test_other_event_types_are_ignored(event_type, http, workspace, database):
    payload = {**REPLY, "event_type": event_type}
    before = all_counts(database)

    response = http.post(PATH, json=payload, headers=workspace.auth)

    assert response.status_code == 200
    assert response.json() == {"success": True, "ignored": True, "eventType": event_type}
    assert all_counts(database) == before


def test_email_sent_is_outbound_without_a_job(http, workspace, database):
    payload = load_payload("instantly_email_sent.json")

    first = http.post(PATH, json=payload, headers=workspace.auth)
    second = http.post(PATH, json=payload, headers=workspace.auth)

    assert first.status_code == 200
    assert (first.json()["deduped"], first.json()["jobEnqueued"]) == (False, False)
    assert second.json()["deduped"] is True
    [message] = rows(database, "SELECT * FROM messages")
    assert (message["direction"], message["scheduled_email_id"]) == (
        "outbound",
        "instantly:6f1c2d3e-0000-4000-8000-0000000000a0",
    )
    assert (message["body"], message["subject"]) == ("Hi Alex, quick question", "Q1 outreach")
    [lead] = rows(database, "SELECT first_name, last_name, last_outbound_at FROM leads")
    assert lead == {
        "first_name": "Alex",
        "last_name": "Lee",
        "last_outbound_at": "2026-01-14T09:00:00.000Z",
    }
    assert all_counts(database)["background_jobs"] == 0


def test_lead_unsubscribed_blacklists_the_lead(http, workspace, database):
    replied = http.post(PATH, json=REPLY, headers=workspace.auth).json()
    payload = load_payload("instantly_lead_unsubscribed.json")

    first = http.post(PATH, json=payload, headers=workspace.auth)
    second = http.post(PATH, json=payload, headers=workspace.auth)

    expected = {"success": True, "leadId": replied["leadId"], "status": "blacklisted"}
    assert (first.status_code, first.json()) == (200, expected)
    assert second.json() == expected
    [lead] = rows(database, "SELECT status, sentiment_tag FROM leads")
    assert lead == {"status": "blacklisted", "sentiment_tag": "Blacklist"}
