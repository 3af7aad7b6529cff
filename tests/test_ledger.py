"""The delivery ledger over real HTTP: one ``deliveries`` row per request that reaches a
webhook route, for every outcome and status, on every route, naming the message it stored."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from tests.conftest import load_payload, rows
from tests.ledger_helpers import ledger_rows
from tests.test_channels import CHANNELS, Channel

# Per route: an event it ignores, and (where it has one) an unsubscribe and a 403.
IGNORED = {
    "ghl": ("ghl_sms_workflow.json", {"message": {"body": "   "}}, None, "empty_message"),
    "email": ("email_lead_replied.json", {"event": {"type": "OPENED"}}, "OPENED", None),
    "linkedin": ("unipile_message_reaction.json", {}, "message_reaction", None),
    "smartlead": ("smartlead_email_reply.json", {"event_type": "CLICKED"}, "CLICKED", None),
    "instantly": ("instantly_reply_received.json", {"event_type": "opened"}, "opened", None),
}
UNSUBSCRIBED = {
    "email": "email_lead_unsubscribed.json",
    "smartlead": "smartlead_lead_unsubscribed.json",
    "instantly": "instantly_lead_unsubscribed.json",
}
FORBIDDEN = {
    "ghl": {"location": {"id": "loc_someone_else"}},
    "email": {"event": {"workspace_id": "777"}},
    "linkedin": {"account_id": "acc_someone_else"},
}


def merged(payload: dict, changes: dict) -> dict:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(payload.get(key), dict):
            merged(payload[key], value)
        else:
            payload[key] = value
    return payload


@pytest.fixture(params=CHANNELS, ids=list(CHANNELS))
def channel(request: pytest.FixtureRequest) -> Channel:
    return CHANNELS[request.param]


@pytest.fixture
def live(serve, workspace, channel):
    return serve(scheduler_enabled=False, clock=lambda: channel.now)


def post(http: httpx.Client, channel: Channel, token: str | None, payload: dict) -> httpx.Response:
    """``payload`` the provider's way (SmartLead: the token as ``secret_key``)."""
    if channel.secret_key:
        payload = {**payload, "secret_key": token} if token else payload
        return http.post(channel.path, content=json.dumps(payload).encode())
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.post(channel.path, content=json.dumps(payload).encode(), headers=headers)


def sample(channel: Channel, name: str | None = None) -> dict:
    payload = load_payload(name or channel.sample)
    payload.pop("secret_key", None)
    return payload


def test_stored_and_deduped_rows_name_their_message(http, channel, workspace, database):
    payload = sample(channel)
    first = post(http, channel, workspace.token, payload)
    second = post(http, channel, workspace.token, payload)
    assert (first.status_code, second.status_code) == (200, 200)

    stored, deduped = ledger_rows(database, 2)
    [message] = rows(database, "SELECT * FROM messages")
    for row, response in ((stored, first), (deduped, second)):
        assert row["route"] == channel.path
        assert (row["client_id"], row["status_code"]) == (workspace.id, 200)
        assert row["message_id"] == message["id"] == response.json()["messageId"]
        assert row["dedupe_key"] == message[channel.dedupe_column]
        assert json.loads(row["answer"]) == response.json()
        assert row["error"] is None and row["replay_of"] is None
        assert row["received_at"] == channel.received_at == message["received_at"]
        assert row["duration_ms"] > 0
        sent = {**payload, "secret_key": workspace.token} if channel.secret_key else payload
        raw = json.dumps(sent)
        assert row["body_bytes"] == len(raw.encode())
        assert row["body_sha256"] == hashlib.sha256(raw.encode()).hexdigest()
        assert workspace.token not in row["body"]
        assert json.loads(row["body"])["secret_key" if channel.secret_key else next(iter(payload))]
    assert (stored["outcome"], deduped["outcome"]) == ("stored", "deduped")
    assert stored["event_type"] and stored["event_type"] == deduped["event_type"]


def test_an_ignored_event_is_one_ignored_row(http, channel, workspace, database):
    name, changes, event_type, reason = IGNORED[channel_key(channel)]
    response = post(http, channel, workspace.token, merged(sample(channel, name), changes))
    assert response.status_code == 200 and response.json()["ignored"] is True

    [row] = ledger_rows(database, 1)
    assert (row["outcome"], row["status_code"], row["client_id"]) == ("ignored", 200, workspace.id)
    assert (row["event_type"], row["error"], row["message_id"]) == (event_type, reason, None)
    assert json.loads(row["answer"]) == response.json()
    assert rows(database, "SELECT COUNT(*) AS n FROM messages") == [{"n": 0}]


def test_an_unsubscribe_is_a_stored_row_without_a_message(http, channel, workspace, database):
    name = UNSUBSCRIBED.get(channel_key(channel))
    if name is None:
        pytest.skip("this route has no unsubscribe event")
    response = post(http, channel, workspace.token, sample(channel, name))
    assert response.json()["status"] == "blacklisted"

    [row] = ledger_rows(database, 1)
    assert (row["outcome"], row["status_code"], row["message_id"]) == ("stored", 200, None)
    assert json.loads(row["answer"]) == response.json()


def test_rejected_requests_after_a_valid_token_carry_the_client(
    serve, channel, workspace, database
):
    live = serve(scheduler_enabled=False, clock=lambda: channel.now, max_body_bytes=4096)
    with httpx.Client(base_url=live.url, timeout=30) as http:
        cases = [
            (b'{"event": ', 400, "Body is not valid JSON"),
            (b"[]", 400, "Body must be a JSON object"),
        ]
        if channel.secret_key:  # the token in the body: the 400 must not depend on it
            cases = []
        for content, status, _ in cases:
            response = http.post(channel.path, content=content, headers=workspace.auth)
            assert response.status_code == status
        huge = json.dumps({**sample(channel), "pad": "x" * 10_000}).encode()
        too_large = http.post(channel.path, content=huge, headers=workspace.auth)
        assert too_large.status_code == 413
        forbidden = FORBIDDEN.get(channel_key(channel))
        if forbidden is not None:
            payload = merged(sample(channel), forbidden)
            assert post(http, channel, workspace.token, payload).status_code == 403

    expected = [(status, error) for _, status, error in cases] + [(413, "larger than the limit")]
    if forbidden is not None:
        expected.append((403, "does not belong to this client token"))
    found = ledger_rows(database, len(expected))
    for row, (status, error) in zip(found, expected, strict=True):
        assert (row["outcome"], row["status_code"]) == ("rejected", status)
        assert error in row["error"] and row["client_id"] == workspace.id
        assert json.loads(row["answer"]) == {"success": False, "error": row["error"]}
        assert row["duration_ms"] >= 0
    by_status = {row["status_code"]: row for row in found}
    assert by_status[413]["body"] is None and by_status[413]["body_bytes"] == len(huge)
    if 400 in by_status:
        assert found[0]["body"] == '{"event": ' and found[0]["body_bytes"] == 10


def test_requests_without_a_valid_token_are_rows_without_client_or_body(
    http, channel, workspace, database
):
    payload = sample(channel)
    responses = [
        post(http, channel, None, payload),
        post(http, channel, "lh_wrong_token_123456", payload),
        http.post(channel.path + "?token=lh_wrong_token_123456", json=payload),
    ]
    assert [r.status_code for r in responses] == [401, 401, 401]

    found = ledger_rows(database, 3)
    for row, response in zip(found, responses, strict=True):
        assert (row["outcome"], row["status_code"], row["client_id"]) == ("rejected", 401, None)
        assert row["error"] == response.json()["error"]
        assert row["body"] is None
        assert row["route"] == channel.path  # never the query string
    assert rows(database, "SELECT COUNT(*) AS n FROM messages") == [{"n": 0}]


def test_a_revoked_token_is_a_401_row_without_client(serve, channel, workspace, database, store):
    live = serve(scheduler_enabled=False, clock=lambda: channel.now)
    name, changes, _, _ = IGNORED[channel_key(channel)]
    with httpx.Client(base_url=live.url, timeout=30) as http:
        assert post(http, channel, workspace.token, sample(channel)).status_code == 200
        store.sync.disable_client(workspace.id, now="2026-01-18T10:00:00.000Z")
        ignored = merged(sample(channel, name), changes)
        # The token is cached for a few seconds: the ignored event's write checks it again.
        assert post(http, channel, workspace.token, ignored).status_code == 401

    stored, revoked = ledger_rows(database, 2)
    assert stored["client_id"] == workspace.id
    assert (revoked["status_code"], revoked["client_id"], revoked["body"]) == (401, None, None)


def test_the_ledger_rows_match_the_answers_of_a_mixed_run(serve, workspace, database):
    channel = CHANNELS["ghl"]
    live = serve(scheduler_enabled=False, clock=lambda: channel.now)
    answers = []
    with httpx.Client(base_url=live.url, timeout=30) as http:
        for n in range(30):
            payload = sample(channel)
            payload["contact_id"] = f"c-{n % 10}"
            token = workspace.token if n % 7 else "lh_not_the_token_at_all"
            answers.append(post(http, channel, token, payload))
    found = ledger_rows(database, 30)
    assert [r.status_code for r in answers] == [r["status_code"] for r in found]
    outcomes = {r["outcome"] for r in found}
    assert outcomes == {"stored", "deduped", "rejected"}
    messages = {m["id"]: m for m in rows(database, "SELECT * FROM messages")}
    for row in found:
        if row["outcome"] in ("stored", "deduped"):
            assert messages[row["message_id"]]["webhook_dedupe_key"] == row["dedupe_key"]
    assert sum(r["outcome"] == "stored" for r in found) == len(messages) == 10


def channel_key(channel: Channel) -> str:
    return next(key for key, value in CHANNELS.items() if value is channel)
