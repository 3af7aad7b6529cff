"""A rotated token gets 401 at once, for every answer (DESIGN "Interfaces": a rotated token is
401 and nothing is parsed or stored), although tokens are cached for 5 s to spare the stored
path a read."""

from __future__ import annotations

import pytest

import db
from tests.conftest import all_counts, load_payload

INSTANTLY = "/api/webhooks/instantly"
GHL = "/api/webhooks/ghl/sms"


def instantly(event_type: str = "reply_received", **changes) -> dict:
    return load_payload("instantly_reply_received.json") | {"event_type": event_type, **changes}


def rotate(store, workspace) -> str:
    return store.sync.rotate_token(workspace.id, now=db.iso(db.utcnow()))


def cached(http, workspace) -> None:
    """Put the workspace's token in the server's cache (an ignored event: nothing written)."""
    response = http.post(INSTANTLY, json=instantly("email_opened"), headers=workspace.auth)
    assert response.json() == {"success": True, "ignored": True, "eventType": "email_opened"}


# What a still-valid token would get for each request: none of it may reach a rotated token.
ANSWERS = {
    "ignored event": (INSTANTLY, {"json": instantly("email_opened")}),
    "missing field (400)": (INSTANTLY, {"json": instantly(email_id=None)}),
    "bad JSON (400)": (INSTANTLY, {"content": b'{"event_type": '}),
    "empty body (400)": (INSTANTLY, {"content": b""}),
    "other workspace (403)": (
        GHL,
        {"json": load_payload("ghl_sms_workflow.json") | {"location": {"id": "loc_other"}}},
    ),
    "stored message": (INSTANTLY, {"json": instantly()}),
    "unsubscribe": (INSTANTLY, {"json": instantly("lead_unsubscribed")}),
}


@pytest.mark.parametrize("what", sorted(ANSWERS))
def test_a_rotated_token_gets_401_at_once_whatever_it_sends(http, store, workspace, database, what):
    cached(http, workspace)
    before = all_counts(database)
    rotate(store, workspace)
    path, kwargs = ANSWERS[what]
    response = http.post(path, headers=workspace.auth, **kwargs)
    assert response.status_code == 401, response.text
    assert response.json()["error"].startswith("Invalid client token")
    assert all_counts(database) == before


def test_the_new_token_works_at_once(http, store, workspace):
    cached(http, workspace)
    new = rotate(store, workspace)
    response = http.post(
        INSTANTLY, json=instantly("email_opened"), headers={"Authorization": f"Bearer {new}"}
    )
    assert response.status_code == 200


def test_the_stored_path_keeps_the_cache(live, http, workspace):
    """Deliveries that write read the token once per cache period (the write re-checks it:
    an ignored event's too, which writes its ledger row); only answers that do not write
    (a rejected request) read it again."""
    store = live.app.state.store
    reads: list[str] = []
    original = store.client_by_token_hash

    async def counting(token_hash: str):
        reads.append(token_hash)
        return await original(token_hash)

    store.client_by_token_hash = counting
    try:
        for n in range(5):
            payload = instantly(email_id=f"email-{n}")
            assert http.post(INSTANTLY, json=payload, headers=workspace.auth).status_code == 200
        assert len(reads) == 1
        ignored = http.post(INSTANTLY, json=instantly("email_opened"), headers=workspace.auth)
        assert ignored.json()["ignored"] is True
        assert len(reads) == 1  # its ledger row's write checked the token
        assert http.post(INSTANTLY, content=b"{", headers=workspace.auth).status_code == 400
        assert len(reads) == 2  # a rejected request confirms the cached token
    finally:
        store.client_by_token_hash = original
