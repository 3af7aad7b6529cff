"""Replay (``app.replay_delivery``, behind ``leadhook deliveries replay`` and the console): a
stored delivery's body runs through its route's current code for its client, dedupe
applies, and the replay is a ledger row of its own."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

import app
import db
import handlers.email
from tests.conftest import load_payload, rows
from tests.ledger_helpers import ledger_rows

EMAIL = "/api/webhooks/email"
GHL = "/api/webhooks/ghl/sms"


def replay(live, delivery_id: int):
    state = live.app.state
    return asyncio.run(app.replay_delivery(state.store, state.settings, delivery_id))


def test_an_ignored_delivery_is_stored_by_its_replay_after_a_mapping_fix(
    serve, workspace, database, monkeypatch
):
    live = serve(scheduler_enabled=False)
    payload = load_payload("email_lead_replied.json")
    payload["event"]["type"] = "LEAD_REPLIED_V2"  # a new name the route does not know yet
    with httpx.Client(base_url=live.url, timeout=30) as http:
        answer = http.post(EMAIL, json=payload, headers=workspace.auth).json()
    assert answer == {"success": True, "ignored": True, "eventType": "LEAD_REPLIED_V2"}
    [ignored] = ledger_rows(database, 1)
    assert rows(database, "SELECT id FROM messages") == []

    # The mapping fix: the route now reads this event as a reply.
    monkeypatch.setattr(
        handlers.email, "REPLY_EVENTS", handlers.email.REPLY_EVENTS | {"LEAD_REPLIED_V2"}
    )
    first = replay(live, ignored["id"])
    again = replay(live, ignored["id"])

    assert (first.status_code, first.outcome, first.refused) == (200, "stored", None)
    assert first.answer["deduped"] is False and again.answer["deduped"] is True
    assert again.outcome == "deduped"
    [message] = rows(database, "SELECT * FROM messages")
    assert message["id"] == first.answer["messageId"] and message["client_id"] == workspace.id
    assert message["email_reply_id"] == "999"
    [job] = rows(database, "SELECT * FROM background_jobs")
    assert job["message_id"] == message["id"]
    original, stored, deduped = ledger_rows(database, 3)
    assert (stored["id"], deduped["id"]) == (first.delivery_id, again.delivery_id)
    assert stored["replay_of"] == deduped["replay_of"] == original["id"]
    assert (stored["message_id"], stored["outcome"]) == (message["id"], "stored")
    assert stored["body"] == original["body"] and stored["client_id"] == workspace.id
    assert json.loads(stored["answer"]) == first.answer


def test_a_403_replayed_after_the_workspace_id_is_fixed_is_stored(
    serve, make_workspace, database, store
):
    acme = make_workspace(ghl_location_id="loc_typo")
    live = serve(scheduler_enabled=False)
    with httpx.Client(base_url=live.url, timeout=30) as http:
        payload = load_payload("ghl_sms_workflow.json")  # location.id loc_AbC123
        assert http.post(GHL, json=payload, headers=acme.auth).status_code == 403
    [refused] = ledger_rows(database, 1)
    assert refused["client_id"] == acme.id and refused["body"] is not None

    still = replay(live, refused["id"])
    assert (still.status_code, still.outcome) == (403, "rejected")
    assert "does not belong to this client token" in still.answer["error"]
    store.sync.update_client(acme.id, now=db.iso(db.utcnow()), ghl_location_id="loc_AbC123")
    fixed = replay(live, refused["id"])

    assert (fixed.status_code, fixed.outcome) == (200, "stored")
    _, again_refused, stored = ledger_rows(database, 3)
    assert (again_refused["status_code"], again_refused["replay_of"]) == (403, refused["id"])
    assert stored["message_id"] == fixed.answer["messageId"]


def test_what_cannot_be_replayed_is_refused_and_writes_nothing(serve, workspace, database, store):
    live = serve(scheduler_enabled=False, max_body_bytes=2048)
    payload = load_payload("ghl_sms_workflow.json")
    with httpx.Client(base_url=live.url, timeout=30) as http:
        http.post(GHL, json=payload)  # no token
        huge = {**payload, "pad": "x" * 4000}
        assert http.post(GHL, json=huge, headers=workspace.auth).status_code == 413
        assert http.post(GHL, json=payload, headers=workspace.auth).status_code == 200
    tokenless, too_large, stored = ledger_rows(database, 3)

    assert "no valid client token" in replay(live, tokenless["id"]).refused
    assert "body is not kept" in replay(live, too_large["id"]).refused
    assert replay(live, 999).refused == "no delivery 999"
    store.sync.disable_client(workspace.id, now=db.iso(db.utcnow()))
    assert "disabled" in replay(live, stored["id"]).refused
    assert len(ledger_rows(database)) == 3


@pytest.mark.parametrize("body_days", [0])
def test_without_kept_bodies_there_is_nothing_to_replay(serve, workspace, database, body_days):
    live = serve(scheduler_enabled=False, ledger_body_days=body_days)
    with httpx.Client(base_url=live.url, timeout=30) as http:
        payload = load_payload("ghl_sms_workflow.json")
        assert http.post(GHL, json=payload, headers=workspace.auth).status_code == 200
    [row] = ledger_rows(database, 1)
    assert row["body"] is None and row["body_sha256"] and row["body_bytes"]
    assert "body is not kept" in replay(live, row["id"]).refused
