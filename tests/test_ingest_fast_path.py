"""The ingest write without its own savepoint (issue 15): in the writer's first run of a
batch a message insert that finds its dedupe value stored (the look-up missed it) raises, and
the batch runs again with savepoints, where the delivery is a duplicate that changes no lead
field, and the other deliveries of the batch still commit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import db.sqlite.messages as messages
from tests.conftest import count_rows, load_payload, rows

GHL_PATH = "/api/webhooks/ghl/sms"


def inbound_jobs(database) -> int:
    """One per stored message; the runner may have queued scoring jobs meanwhile."""
    sql = "SELECT COUNT(*) FROM background_jobs WHERE type = 'SMS_INBOUND_POST_PROCESS'"
    return database.execute(sql).fetchone()[0]


def test_an_insert_that_loses_is_a_duplicate_and_leaves_the_lead_unchanged(
    http, workspace, database, monkeypatch
):
    first = load_payload("ghl_sms_workflow.json")
    first.pop("email")
    first["customData"].pop("Email")
    answer = http.post(GHL_PATH, json=first, headers=workspace.auth)
    assert answer.status_code == 200, answer.text
    stored = answer.json()
    assert stored["deduped"] is False
    runs = []
    real = messages._existing_for

    def miss(db, message):  # the look-up misses the stored message (a lost race)
        runs.append(getattr(db, "rerun_on_failure", None))
        return None, real(db, message)[1]

    monkeypatch.setattr(messages, "_existing_for", miss)
    again = load_payload("ghl_sms_workflow.json")  # the same delivery, now with an email
    answer = http.post(GHL_PATH, json=again, headers=workspace.auth)
    assert answer.status_code == 200, answer.text
    assert answer.json()["deduped"] is True
    assert answer.json()["messageId"] == stored["messageId"]
    assert runs == [True, False]  # raised in the first run, a duplicate with savepoints
    assert count_rows(database, "messages") == 1
    assert inbound_jobs(database) == 1
    (lead,) = rows(database, "SELECT email FROM leads")
    assert lead["email"] is None  # the match's filled-in email was rolled back
    outcomes = [r["outcome"] for r in rows(database, "SELECT outcome FROM deliveries ORDER BY id")]
    assert outcomes == ["stored", "deduped"]


def test_the_other_deliveries_of_a_batch_with_a_lost_insert_commit(
    http, workspace, database, monkeypatch
):
    payload = load_payload("ghl_sms_workflow.json")
    assert http.post(GHL_PATH, json=payload, headers=workspace.auth).status_code == 200
    real = messages._existing_for

    def miss(db, message):  # only the stored message's look-up misses
        found, key = real(db, message)
        return (None, key) if found is not None else (found, key)

    monkeypatch.setattr(messages, "_existing_for", miss)
    others = []
    for n in range(7):
        other = load_payload("ghl_sms_workflow.json")
        other["message"]["body"] = f"Reply number {n}"
        others.append(other)
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda body: http.post(GHL_PATH, json=body, headers=workspace.auth),
                [payload, *others],
            )
        )
    assert [a.status_code for a in answers] == [200] * 8
    assert [a.json()["deduped"] for a in answers] == [True] + [False] * 7
    assert count_rows(database, "messages") == 8
    assert inbound_jobs(database) == 8
    assert count_rows(database, "deliveries") == 9


def test_the_200_answer_has_the_headers_litestar_gives_a_dict(live, workspace):
    """The route writes its answer itself (handlers/_body.py): the same head as Litestar's
    JSON answers (its 4xx here), a body of exactly content-length bytes."""
    import json
    import socket

    def exchange(raw: bytes) -> tuple[list[bytes], bytes]:
        with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
            sock.sendall(raw)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        return head.lower().split(b"\r\n")[1:], body

    payload = json.dumps(load_payload("ghl_sms_workflow.json")).encode()
    head = (
        f"POST {GHL_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        "Content-Type: application/json\r\n"
    ).encode()
    auth = f"Authorization: Bearer {workspace.token}\r\n".encode()
    length = f"Content-Length: {len(payload)}\r\n\r\n".encode()
    ok_headers, ok_body = exchange(head + auth + length + payload)
    bad_headers, _ = exchange(head + length + payload)
    assert b"content-type: application/json" in ok_headers
    assert f"content-length: {len(ok_body)}".encode() in ok_headers
    assert json.loads(ok_body)["success"] is True
    assert b"content-type: application/json" in bad_headers
    names = sorted(h.split(b":")[0] for h in ok_headers)
    assert names == sorted(h.split(b":")[0] for h in bad_headers)
