"""No secret in the database file: after a mixed run over every route and every way of
sending a token (header, ``X-Leadhook-Token``, ``?token=``, SmartLead's ``secret_key``),
with tokens and secret keys also inside the payloads' other fields, wrong and rotated tokens,
400s, 403s and ignored events, the raw bytes of the ``.db`` and ``-wal`` files hold none of
the tokens or secret keys used."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.conftest import load_payload
from tests.ledger_helpers import ledger_rows


def test_no_token_or_secret_key_reaches_the_database_file(serve, make_workspace, db_path, store):
    acme, other = make_workspace(), make_workspace()
    live = serve(scheduler_enabled=False)
    old_token = acme.token
    secrets = {acme.token, other.token}
    requests: list[tuple[str, dict]] = []

    def add(path: str, payload: dict | bytes, *, token: str | None = None, how: str = "bearer"):
        headers, url = {}, path
        if how == "bearer" and token:
            headers["Authorization"] = f"Bearer {token}"
        elif how == "header" and token:
            headers["X-Leadhook-Token"] = token
        elif how == "query" and token:
            url = f"{path}?token={token}"
        content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        requests.append((url, {"content": content, "headers": headers}))

    for n, how in enumerate(("bearer", "header", "query")):
        ghl = load_payload("ghl_sms_workflow.json")
        ghl["contact_id"] = f"c-{n}"
        ghl["customData"]["Note"] = f"token {acme.token} pasted here"  # a field not stored
        add("/api/webhooks/ghl/sms", ghl, token=acme.token, how=how)
        email = load_payload("email_lead_replied.json")
        email["data"]["reply"]["id"] = f"r-{n}"
        email["extra"] = {"copy_of_token": acme.token}
        add("/api/webhooks/email", email, token=acme.token, how=how)
    for n, secret in enumerate(("sk-live-7f3a9c2b1d0e", acme.token, "wrong-secret-key-42")):
        smartlead = load_payload("smartlead_email_reply.json")
        smartlead["reply_message"]["message_id"] = f"<r{n}@mail>"
        smartlead["secret_key"] = secret
        smartlead["metadata"]["nested"] = {"secret_key": secret, "echo": secret}
        secrets.add(secret)
        # The first with a header token and a stray secret_key, the second with its token
        # only as secret_key, the third with a secret_key that is no token (401).
        add("/api/webhooks/smartlead", smartlead, token=acme.token if n == 0 else None)
    add("/api/webhooks/ghl/sms", b'{"contact_id": "' + acme.token.encode(), token=acme.token)
    forbidden = load_payload("ghl_sms_workflow.json")
    forbidden["location"]["id"] = acme.token  # quoted (cut) in the 403's error
    add("/api/webhooks/ghl/sms", forbidden, token=acme.token)
    ignored = load_payload("instantly_reply_received.json")
    ignored["event_type"] = "email_opened"
    ignored["note"] = other.token
    add("/api/webhooks/instantly", ignored, token=other.token, how="query")
    add("/api/webhooks/linkedin", load_payload("unipile_message_received.json"), token="lh_x" * 9)

    with httpx.Client(base_url=live.url, timeout=30) as http:
        statuses = [http.post(url, **kwargs).status_code for url, kwargs in requests]
        rotated = store.sync.rotate_token(acme.id, now="2026-01-18T10:00:00.000Z")
        secrets.add(rotated)
        again = load_payload("ghl_sms_workflow.json")
        again["customData"]["Note"] = old_token + " " + rotated
        statuses.append(
            http.post("/api/webhooks/ghl/sms", json=again, headers={"X-Leadhook-Token": old_token})
            .status_code
        )  # fmt: skip
        statuses.append(http.post("/api/webhooks/ghl/sms?token=" + rotated, json=again).status_code)
    assert sorted(set(statuses)) == [200, 400, 401, 403], statuses
    found = ledger_rows(database_of(db_path), len(statuses))
    assert {r["outcome"] for r in found} == {"stored", "ignored", "rejected"}
    assert any(r["body"] and "[redacted]" in r["body"] for r in found)

    files = [db_path, Path(f"{db_path}-wal")]
    assert files[1].exists()  # the rows are (also) in the write-ahead log
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{secret!r} is in {path.name}"


def database_of(db_path):
    from tests.conftest import open_file

    return open_file(db_path)
