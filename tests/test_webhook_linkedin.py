"""POST /api/webhooks/linkedin: Unipile messaging events over real HTTP (issue 5).

What every route does (first delivery, dedupe, concurrent deliveries, token and JSON
rejections, telemetry source) is tested once for all in tests/test_channels.py.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from handlers.linkedin import normalize_linkedin_url
from tests.conftest import all_counts, assert_rejected, load_payload, rows

PATH = "/api/webhooks/linkedin"
NOW = datetime(2026, 1, 18, 14, 0, tzinfo=UTC)
NOW_ISO = "2026-01-18T14:00:00.000Z"
KIM_ID = "ACoAAAcDMMQBODyLwZrRcgYhrkCafURGqva0U4E"
KIM_URL = "https://linkedin.com/in/kim-lead-42"


@pytest.fixture
def live(serve, workspace):
    """The scheduler is off: jobs stay as the webhook left them."""
    return serve(scheduler_enabled=False, clock=lambda: NOW)


def message_payload(**changes) -> dict:
    payload = load_payload("unipile_message_received.json")
    payload.update(changes)
    return payload


def _without(*keys: str) -> dict:
    payload = message_payload()
    for key in keys:
        del payload[key]
    return payload


REJECTIONS = {
    "workspace mismatch": ("auth", message_payload(account_id="other"), 403, "account_id 'other'"),
    "missing message id": ("auth", _without("message_id"), 400, "Missing message_id"),
    "missing account id": ("auth", _without("account_id"), 400, "Missing account_id"),
    "missing event": ("auth", _without("event"), 400, "Missing event"),
    "missing sender": ("auth", _without("sender"), 400, "Missing sender.attendee_provider_id"),
}


@pytest.mark.parametrize("case", REJECTIONS.keys())
def test_rejections_write_nothing(case, http, workspace, database):
    headers, payload, status, error = REJECTIONS[case]
    headers = workspace.auth if headers == "auth" else headers
    assert_rejected(http, database, PATH, headers, payload, status, error)


def test_token_in_query_string_is_accepted(http, workspace, database):
    response = http.post(PATH, params={"token": workspace.token}, json=message_payload())

    assert response.status_code == 200
    assert all_counts(database)["messages"] == 1


@pytest.mark.parametrize(
    "event", ["message_reaction", "message_read", "message_edited", "message_deleted"]
)
def test_other_events_are_ignored(event, http, workspace, database):
    payload = load_payload("unipile_message_reaction.json")
    payload["event"] = event
    before = all_counts(database)

    response = http.post(PATH, json=payload, headers=workspace.auth)

    assert response.status_code == 200
    assert response.json() == {"success": True, "ignored": True, "eventType": event}
    assert all_counts(database) == before


def test_ignored_event_of_another_account_is_still_forbidden(http, workspace, database):
    payload = load_payload("unipile_message_reaction.json")
    payload["account_id"] = "someone-else"

    assert http.post(PATH, json=payload, headers=workspace.auth).status_code == 403


def test_own_message_is_outbound_without_a_job_under_the_other_attendee(http, workspace, database):
    inbound = http.post(PATH, json=message_payload(), headers=workspace.auth).json()

    response = http.post(
        PATH, json=load_payload("unipile_own_message.json"), headers=workspace.auth
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["deduped"], body["jobEnqueued"]) == (False, False)
    assert body["leadId"] == inbound["leadId"]
    own = rows(database, "SELECT * FROM messages WHERE id = ?", (body["messageId"],))[0]
    assert (own["direction"], own["unipile_message_id"]) == ("outbound", "ownMsg0000000000000001")
    assert own["body"] == "Great, how about Tuesday at 10?"
    assert all_counts(database)["background_jobs"] == 1
    [lead] = rows(database, "SELECT * FROM leads")
    assert lead["last_outbound_at"] == "2026-01-18T14:02:11.120Z"
    assert lead["last_message_at"] == "2026-01-18T14:02:11.120Z"
    assert lead["last_inbound_at"] == "2026-01-18T13:49:07.965Z"


def test_own_message_first_creates_the_lead_from_the_attendee(http, workspace, database):
    body = http.post(PATH, json=load_payload("unipile_own_message.json"), headers=workspace.auth)

    assert body.json()["jobEnqueued"] is False
    [lead] = rows(database, "SELECT linkedin_id, linkedin_url, first_name FROM leads")
    assert lead == {"linkedin_id": KIM_ID, "linkedin_url": KIM_URL, "first_name": "Kim"}


def test_own_message_without_a_single_other_attendee_is_ignored(http, workspace, database):
    payload = load_payload("unipile_own_message.json")
    payload["attendees"] = []
    before = all_counts(database)

    response = http.post(PATH, json=payload, headers=workspace.auth)

    assert response.status_code == 200
    assert response.json()["ignored"] is True
    assert all_counts(database) == before


def test_lead_matched_by_linkedin_id_else_normalised_url(http, workspace, database):
    first = http.post(PATH, json=message_payload(), headers=workspace.auth).json()
    # Same person, no provider id, URL spelled differently: matched by the URL.
    by_url = message_payload(message_id="m2")
    by_url["sender"] = {
        "attendee_name": "Kim Lead",
        "attendee_profile_url": "http://WWW.LinkedIn.com/in/kim-lead-42/?utm=x#top",
    }
    # Same provider id, another URL: matched by the id.
    by_id = message_payload(message_id="m3")
    by_id["sender"] = {**by_id["sender"], "attendee_profile_url": "https://linkedin.com/in/kl"}
    # Somebody else: a new lead.
    other = message_payload(message_id="m4")
    other["sender"] = {"attendee_provider_id": "ACoOther", "attendee_name": "Ola"}

    lead_ids = [
        http.post(PATH, json=p, headers=workspace.auth).json()["leadId"]
        for p in (by_url, by_id, other)
    ]

    assert lead_ids[:2] == [first["leadId"], first["leadId"]]
    assert lead_ids[2] != first["leadId"]
    assert all_counts(database)["leads"] == 2


def test_a_message_id_another_workspace_stored_is_this_workspaces_own_message(
    http, make_workspace, workspace, database
):
    other = make_workspace(unipile_account_id="acc-other")
    theirs = http.post(PATH, json=message_payload(account_id="acc-other"), headers=other.auth)

    mine = http.post(PATH, json=message_payload(), headers=workspace.auth)

    assert mine.status_code == 200
    assert mine.json()["deduped"] is False
    assert mine.json()["messageId"] != theirs.json()["messageId"]
    assert all_counts(database)["messages"] == 2


def test_answers_well_within_unipiles_30_seconds_when_the_database_is_locked(
    serve, workspace, database
):
    """Unipile retries without a 200 in 30 s: a stuck database gives a quick 429 instead."""
    live = serve(scheduler_enabled=False, clock=lambda: NOW, write_timeout_seconds=0.5)
    database.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        started = time.monotonic()
        response = httpx.post(
            live.url + PATH, json=message_payload(), headers=workspace.auth, timeout=30
        )
        elapsed = time.monotonic() - started
    finally:
        database.execute("ROLLBACK")

    assert response.status_code == 429
    assert response.headers["retry-after"] == "30"
    assert elapsed < 10  # loose: the bound is the write timeout, far below 30 s


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.linkedin.com/in/kim-lead-42/", KIM_URL),
        ("http://WWW.LINKEDIN.COM/in/kim-lead-42?trk=abc#x", KIM_URL),
        ("linkedin.com/in/kim-lead-42", KIM_URL),
        ("https://uk.linkedin.com/in/kim-lead-42/details/", KIM_URL),
        (f"https://www.linkedin.com/in/{KIM_ID}/", f"https://linkedin.com/in/{KIM_ID}"),
        ("https://linkedin.com/in/j%C3%B6rg", "https://linkedin.com/in/jörg"),
        ("https://www.linkedin.com/company/acme/", None),
        ("https://example.com/in/kim", None),
        ("https://linkedin.com/in/", None),
        ("", None),
    ],
)
def test_normalize_linkedin_url(url, expected):
    assert normalize_linkedin_url(url) == expected
