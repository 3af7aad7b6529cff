"""POST /api/webhooks/smartlead: SmartLead events over real HTTP (issue 5).

What every route does (first delivery, dedupe, concurrent deliveries, token and JSON
rejections, telemetry source) is tested once for all in tests/test_channels.py.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from tests.conftest import all_counts, assert_rejected, load_payload, rows

PATH = "/api/webhooks/smartlead"
NOW = datetime(2026, 1, 18, 5, 25, tzinfo=UTC)
NOW_ISO = "2026-01-18T05:25:00.000Z"


@pytest.fixture
def live(serve, workspace):
    """The scheduler is off: jobs stay as the webhook left them."""
    return serve(scheduler_enabled=False, clock=lambda: NOW)


def with_secret(name: str, secret: str | None, **changes) -> dict:
    """A sample payload carrying ``secret`` as its ``secret_key`` (removed when None)."""
    payload = load_payload(name)
    if secret is None:
        payload.pop("secret_key", None)
    else:
        payload["secret_key"] = secret
    payload.update(changes)
    return payload


def test_email_reply_with_token_in_header(http, workspace, database):
    payload = with_secret("smartlead_email_reply.json", None)

    response = http.post(PATH, json=payload, headers=workspace.auth)

    assert response.status_code == 200
    assert response.json()["jobEnqueued"] is True


def _no_ids() -> dict:
    payload = with_secret("smartlead_email_reply.json", None)
    del payload["reply_message"]["message_id"]
    del payload["stats_id"]
    return payload


REPLY = "smartlead_email_reply.json"
REJECTIONS = {
    "blank secret_key": ({}, with_secret(REPLY, "  "), 401, "Missing client token"),
    "secret_key not a string": ({}, with_secret(REPLY, None, secret_key=42), 401, "Missing"),
    "wrong header beats a right secret_key": (
        {"Authorization": "Bearer lh_wrong"},
        with_secret(REPLY, "TOKEN"),
        401,
        "Invalid client token",
    ),
    "bad JSON without header": ({}, b'{"secret_key": "x", ', 401, "Missing client token"),
    "JSON array without header": ({}, b'[{"secret_key": "TOKEN"}]', 401, "Missing client token"),
    "missing reply id": ("auth", _no_ids(), 400, "Missing reply_message.message_id"),
    "missing event type": ("auth", with_secret(REPLY, None, event_type=None), 400, "event_type"),
    "missing lead email": (
        "auth",
        with_secret(REPLY, None, sl_lead_email=None, to_email=None),
        400,
        "Missing lead email",
    ),
    "sent without stats id": (
        "auth",
        with_secret("smartlead_email_sent.json", None, stats_id=None),
        400,
        "Missing stats_id",
    ),
    "oversized body": ({}, b'{"secret_key": "TOKEN", "pad": "' + b"x" * 300_000 + b'"}', 413, ""),
}


def _with_token(value, token: str):
    if isinstance(value, bytes):
        return value.replace(b"TOKEN", token.encode())
    if value.get("secret_key") == "TOKEN":
        return {**value, "secret_key": token}
    return value


@pytest.mark.parametrize("case", REJECTIONS.keys())
def test_rejections_write_nothing(case, http, workspace, database):
    headers, payload, status, error = REJECTIONS[case]
    headers = workspace.auth if headers == "auth" else headers
    payload = _with_token(payload, workspace.token)
    assert_rejected(http, database, PATH, headers, payload, status, error)


@pytest.mark.parametrize(
    "event_type", ["EMAIL_OPEN", "EMAIL_BOUNCE", "EMAIL_LINK_CLICK", "LEAD_CATEGORY_UPDATED"]
)
def test_other_event_types_are_ignored(event_type, http, workspace, database):
    payload = with_secret(REPLY, workspace.token, event_type=event_type)
    before = all_counts(database)

    response = http.post(PATH, json=payload)

    assert response.status_code == 200
    assert response.json() == {"success": True, "ignored": True, "eventType": event_type}
    assert all_counts(database) == before


def test_reply_without_message_id_uses_a_handle_of_stable_fields(http, workspace, database):
    payload = with_secret("smartlead_email_reply_legacy.json", workspace.token)
    first = http.post(PATH, json=payload).json()
    # A retry sent later (a new event_timestamp) is the same reply: the reply's own time
    # and body are what the handle is made of.
    retry = {**payload, "event_timestamp": 1768730999}

    second = http.post(PATH, json=retry).json()

    assert (first["deduped"], second["deduped"]) == (False, True)
    [message] = rows(database, "SELECT * FROM messages")
    body_hash = hashlib.sha256(b"Interested, call me").hexdigest()
    joined = f"1001|abc-stats|lead@example.com|2026-01-18T10:00:00+00:00|{body_hash}"
    digest = hashlib.sha256(joined.encode()).hexdigest()[:32]
    assert message["email_reply_id"] == "smartlead:" + digest
    assert message["body"] == "Interested, call me"  # the deprecated preview_text
    # time_replied is 4.5 hours after the receipt: not trusted, kept raw.
    assert message["sent_at"] == NOW_ISO
    assert message["provider_sent_at"] == "2026-01-18T10:00:00+00:00"


def test_deprecated_top_level_message_id_and_body_fallbacks(http, workspace, database):
    payload = with_secret("smartlead_email_reply_legacy.json", workspace.token)
    payload.update(message_id="<m1@mail>", preview_text=None, time_replied=None)

    body = http.post(PATH, json=payload).json()

    message = rows(database, "SELECT * FROM messages WHERE id = ?", (body["messageId"],))[0]
    assert message["email_reply_id"] == "smartlead:<m1@mail>"
    assert message["body"] == "Interested, call me"  # reply_body, HTML stripped
    # The epoch seconds event_timestamp (10:00) is hours after the receipt: kept raw.
    assert (message["sent_at"], message["provider_sent_at"]) == (NOW_ISO, "1768730400")


def test_email_sent_is_outbound_without_a_job(http, workspace, database):
    payload = with_secret("smartlead_email_sent.json", workspace.token)

    first = http.post(PATH, json=payload)
    second = http.post(PATH, json=payload)

    assert first.status_code == 200
    assert (first.json()["deduped"], first.json()["jobEnqueued"]) == (False, False)
    assert second.json()["deduped"] is True
    [message] = rows(database, "SELECT * FROM messages")
    assert (message["direction"], message["scheduled_email_id"]) == (
        "outbound",
        "smartlead:abc-stats",
    )
    assert (message["body"], message["subject"]) == ("Hi Alex", "Q1 outreach")
    assert message["sent_at"] == "2026-01-17T09:00:00.000Z"
    assert all_counts(database)["background_jobs"] == 0


def test_lead_unsubscribed_blacklists_the_lead(http, workspace, database):
    replied = http.post(PATH, json=with_secret(REPLY, workspace.token)).json()
    payload = with_secret("smartlead_lead_unsubscribed.json", workspace.token)

    first = http.post(PATH, json=payload)
    second = http.post(PATH, json=payload)

    expected = {"success": True, "leadId": replied["leadId"], "status": "blacklisted"}
    assert (first.status_code, first.json()) == (200, expected)
    assert second.json() == expected
    [lead] = rows(database, "SELECT status, sentiment_tag FROM leads")
    assert lead == {"status": "blacklisted", "sentiment_tag": "Blacklist"}
