"""The storage contract of the delivery ledger (``deliveries``): rows written with their
message in one transaction, ignored and rejected rows, reads by filter newest first with
keyset pages, a delivery's detail, deliveries per hour, and retention. Tested only through
:class:`db.Store`."""

from __future__ import annotations

import asyncio
import time

import pytest

import db
from db.vocab import SMS_INBOUND_POST_PROCESS

T0 = "2026-01-18T10:00:00.000Z"
GHL = "/api/webhooks/ghl/sms"
EMAIL = "/api/webhooks/email"


@pytest.fixture
def client(backend_store):
    found, token = backend_store.sync.create_client(name="Acme", now=T0, ghl_location_id="loc")
    return found, db.hash_token(token)


def message(client_id: int, key: str, received_at: str = T0) -> db.NewMessage:
    return db.NewMessage(
        client_id=client_id,
        channel="sms",
        direction="inbound",
        body=f"reply {key}",
        sent_at=received_at,
        received_at=received_at,
        source="test",
        dedupe_column="ghl_id",
        dedupe_value=key,
        job_type=SMS_INBOUND_POST_PROCESS,
    )


def row(client_id: int | None, received_at: str = T0, **fields) -> db.NewDelivery:
    return db.NewDelivery(
        received_at=received_at,
        route=fields.pop("route", GHL),
        started=time.monotonic(),
        client_id=client_id,
        **fields,
    )


def lead() -> db.LeadFields:
    return db.LeadFields(ghl_contact_id="c-1")


def test_an_ingested_delivery_has_its_row_naming_the_message(backend_store, client):
    found, token_hash = client
    s = backend_store.sync
    first = s.ingest(found.id, token_hash, message(found.id, "k1"), lead(),
                     delivery=row(found.id, dedupe_key="k1", body='{"a": 1}'))  # fmt: skip
    again = s.ingest(found.id, token_hash, message(found.id, "k1"), lead(),
                     delivery=row(found.id, dedupe_key="k1"))  # fmt: skip

    newest, oldest = s.find_deliveries({})
    assert (oldest["outcome"], newest["outcome"]) == ("stored", "deduped")
    assert oldest["message_id"] == newest["message_id"] == first.message_id == again.message_id
    assert oldest["body_kept"] and not newest["body_kept"]
    assert "body" not in oldest  # lists leave bodies out
    stored = s.get_delivery(oldest["id"])
    assert stored["body"] == '{"a": 1}' and stored["client_id"] == found.id
    assert stored["answer"] == (
        f'{{"success":true,"deduped":false,"messageId":{first.message_id},'
        f'"leadId":{first.lead_id},"jobEnqueued":true}}'
    )
    assert stored["duration_ms"] >= 0 and stored["status_code"] == 200


def test_the_row_and_the_message_commit_together_or_not_at_all(backend_store, client):
    found, token_hash = client
    s = backend_store.sync
    bad = row(found.id, status_code=99)  # refused by the table: the whole write is
    with pytest.raises(db.DatabaseError):
        s.ingest(found.id, token_hash, message(found.id, "k1"), lead(), delivery=bad)
    assert s.find_deliveries({}) == []
    assert s.list_jobs(status=None, job_type=None, limit=10) == []
    with pytest.raises(db.TokenRevoked):
        s.ingest(found.id, "not-the-hash", message(found.id, "k2"), lead(), delivery=row(found.id))
    assert s.find_deliveries({}) == []


@pytest.mark.anyio
async def test_a_bad_row_fails_its_own_delivery_only(backend_store, client):
    found, token_hash = client
    rows_ = [row(found.id, status_code=99 if n == 2 else 200) for n in range(5)]
    results = await asyncio.gather(
        *(
            backend_store.ingest(found.id, token_hash, message(found.id, f"k{n}"), lead(),
                                 delivery=rows_[n])
            for n in range(5)
        ),
        return_exceptions=True,
    )  # fmt: skip
    assert [isinstance(r, db.DatabaseError) for r in results] == [False, False, True, False, False]
    listed = await backend_store.find_deliveries({})
    assert sorted(r["message_id"] for r in listed) == sorted(
        r.message_id for r in results if not isinstance(r, Exception)
    )
    jobs = await backend_store.list_jobs(status=None, job_type=None, limit=10)
    assert len(jobs) == 4


def test_unsubscribe_and_ignored_rows_check_the_token_in_their_transaction(backend_store, client):
    found, token_hash = client
    s = backend_store.sync
    lead_id = s.unsubscribe(found.id, token_hash, lead(), T0, delivery=row(found.id))
    s.record_ignored(found.id, token_hash, row(found.id, event_type="OPENED", answer="{}"))
    with pytest.raises(db.TokenRevoked):
        s.record_ignored(found.id, "not-the-hash", row(found.id))
    ignored, unsubscribed = s.find_deliveries({})
    assert (unsubscribed["outcome"], unsubscribed["message_id"]) == ("stored", None)
    answer = s.get_delivery(unsubscribed["id"])["answer"]
    assert answer == f'{{"success":true,"leadId":{lead_id},"status":"blacklisted"}}'
    assert (ignored["outcome"], ignored["event_type"]) == ("ignored", "OPENED")


def test_an_operator_replay_needs_no_token_but_an_enabled_client(backend_store, client):
    found, _ = client
    s = backend_store.sync
    s.record_ignored(found.id, None, row(found.id))
    s.ingest(found.id, None, message(found.id, "k1"), lead(), delivery=row(found.id))
    s.disable_client(found.id, now=T0)
    with pytest.raises(db.TokenRevoked):
        s.ingest(found.id, None, message(found.id, "k2"), lead(), delivery=row(found.id))
    with pytest.raises(db.TokenRevoked):
        s.record_ignored(found.id, None, row(found.id))
    with pytest.raises(db.TokenRevoked):
        s.record_ignored(9999, None, row(9999))
    assert len(s.find_deliveries({})) == 2


@pytest.mark.anyio
async def test_rejected_rows_are_queued_without_waiting(backend_store, client):
    found, _ = client
    future = backend_store.submit_delivery(
        row(
            None, status_code=401, outcome="rejected", error="Invalid client token", duration_ms=1.5
        )
    )
    await backend_store.flush()
    [stored] = await backend_store.find_deliveries({})
    assert future.result(timeout=5) == stored["id"]
    assert (stored["client_id"], stored["status_code"], stored["duration_ms"]) == (None, 401, 1.5)
    ids = await backend_store.record_deliveries(
        [row(found.id, status_code=429, outcome="rejected") for _ in range(3)]
    )
    assert len(ids) == 3 and len(await backend_store.find_deliveries({})) == 4


def test_filters_order_and_keyset_pages(backend_store, client):
    found, _ = client
    other, _ = backend_store.sync.create_client(name="Other", now=T0)
    s = backend_store.sync
    times = [f"2026-01-18T10:{m:02d}:00.000Z" for m in range(10)]
    for n, at in enumerate(times):
        route = GHL if n % 2 else EMAIL
        s.record_delivery(row(found.id if n < 8 else other.id, at, route=route,
                              outcome="rejected" if n % 3 == 0 else "ignored",
                              status_code=400 if n % 3 == 0 else 200))  # fmt: skip
    late = row(found.id, "2026-01-18T09:59:00.000Z", outcome="rejected", status_code=429)
    s.record_delivery(late)  # written last, received first (a row kept while the disk was full)
    s.record_delivery(row(found.id, T0, outcome="ignored", dedupe_key="smartlead:<m@x>"))

    listed = s.find_deliveries({})
    assert [r["received_at"] for r in listed] == sorted((r["received_at"] for r in listed),
                                                        reverse=True)  # fmt: skip
    assert listed[-1]["status_code"] == 429
    page1 = s.find_deliveries({}, limit=5)
    page2 = s.find_deliveries({}, before_id=page1[-1]["id"], limit=5)
    page3 = s.find_deliveries({}, before_id=page2[-1]["id"], limit=5)
    assert [r["id"] for r in page1 + page2 + page3] == [r["id"] for r in listed]
    assert {r["route"] for r in s.find_deliveries({"route": GHL})} == {GHL}
    rejected = s.find_deliveries({"outcome": "rejected"})
    assert {r["outcome"] for r in rejected} == {"rejected"} and len(rejected) == 5
    assert {r["client_name"] for r in s.find_deliveries({"client_id": other.id})} == {"Other"}
    window = s.find_deliveries({"since": times[2], "until": times[5]})
    assert [r["received_at"] for r in window] == [times[4], times[3], times[2]]
    assert len(s.find_deliveries({"key": "<m@x>"})) == 1  # a provider id under its prefix
    assert len(s.find_deliveries({"key": "smartlead:<m@x>"})) == 1
    assert s.find_deliveries({"key": "<other@x>"}) == []
    with pytest.raises(ValueError, match="not delivery filters"):
        s.find_deliveries({"body": "x"})


def test_detail_names_the_message_the_original_and_the_replays(backend_store, client):
    found, token_hash = client
    s = backend_store.sync
    result = s.ingest(found.id, token_hash, message(found.id, "k1"), lead(), delivery=row(found.id))
    [original] = s.find_deliveries({})
    for _ in range(2):
        s.ingest(found.id, None, message(found.id, "k1"), lead(),
                 delivery=row(found.id, replay_of=original["id"]))  # fmt: skip
    detail = s.delivery_detail(original["id"])
    assert detail["message"]["id"] == result.message_id
    assert detail["replay_of"] is None and len(detail["replays"]) == 2
    replay = s.delivery_detail(detail["replays"][0]["id"])
    assert replay["replay_of"]["id"] == original["id"]
    assert replay["delivery"]["outcome"] == "deduped"
    assert s.find_deliveries({"replay_of": original["id"]})[0]["id"] == detail["replays"][0]["id"]
    assert (
        s.find_deliveries({"message_id": result.message_id}, limit=500)[-1]["id"]
        == (original["id"])
    )
    assert s.delivery_detail(12345) is None and s.get_delivery(12345) is None


def test_deliveries_per_hour_by_route_and_outcome(backend_store, client):
    found, _ = client
    s = backend_store.sync
    for at, route, outcome in [
        ("2026-01-18T09:59:59.999Z", GHL, "ignored"),  # before the window
        ("2026-01-18T10:00:00.000Z", GHL, "ignored"),
        ("2026-01-18T10:59:00.000Z", GHL, "ignored"),
        ("2026-01-18T10:30:00.000Z", EMAIL, "rejected"),
        ("2026-01-18T12:00:00.000Z", GHL, "rejected"),
    ]:
        s.record_delivery(row(found.id, at, route=route, outcome=outcome))
    assert s.deliveries_per_hour(since=T0) == [
        {"hour": "2026-01-18T10:00:00.000Z", "route": EMAIL, "outcome": "rejected",
         "deliveries": 1},
        {"hour": "2026-01-18T10:00:00.000Z", "route": GHL, "outcome": "ignored", "deliveries": 2},
        {"hour": "2026-01-18T12:00:00.000Z", "route": GHL, "outcome": "rejected",
         "deliveries": 1},
    ]  # fmt: skip


def test_retention_prunes_rows_and_bodies_in_batches(backend_store, client):
    found, token_hash = client
    s = backend_store.sync
    old = [f"2026-01-0{d}T10:00:00.000Z" for d in range(1, 6)]
    for n, at in enumerate([*old, T0]):
        s.ingest(found.id, token_hash, message(found.id, f"k{n}", at), lead(),
                 delivery=row(found.id, at, body=f'{{"n": {n}}}', body_sha256="h"))  # fmt: skip
    assert s.prune_delivery_bodies(before="2026-01-04T00:00:00.000Z", batch=2) == 2
    assert s.prune_delivery_bodies(before="2026-01-04T00:00:00.000Z", batch=2) == 1
    assert s.prune_delivery_bodies(before="2026-01-04T00:00:00.000Z", batch=2) == 0
    kept = {r["received_at"]: r["body_kept"] for r in s.find_deliveries({})}
    assert [kept[at] for at in [*old, T0]] == [0, 0, 0, 1, 1, 1]
    assert all(r["body_sha256"] == "h" for r in s.find_deliveries({}))  # the hash stays
    assert s.prune_deliveries(before="2026-01-03T00:00:00.000Z", batch=1) == 1
    assert s.prune_deliveries(before="2026-01-03T00:00:00.000Z", batch=5) == 1
    assert len(s.find_deliveries({})) == 4
    # The messages stay: the ledger's retention is its own.
    assert len(s.list_jobs(status=None, job_type=None, limit=10)) == 6
