"""The storage contract of tenant isolation: every dedupe value is the client's own (DESIGN
``messages``: UNIQUE per client). One workspace's stored ids never block, reveal or receive
another workspace's deliveries. Tested only through :class:`db.Store`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

import db
from db.vocab import DEDUPE_COLUMNS, SMS_INBOUND_POST_PROCESS

T0 = "2026-01-18T10:00:00.000Z"
LATER = "2026-01-18T12:00:00.000Z"


def message(client_id: int, column: str, key: str, **overrides) -> db.NewMessage:
    values = dict(
        client_id=client_id,
        channel="email",
        direction="inbound",
        body=f"reply of client {client_id}",
        sent_at=T0,
        received_at=T0,
        source="test",
        dedupe_column=column,
        dedupe_value=key,
        job_type=SMS_INBOUND_POST_PROCESS,
    )
    values.update(overrides)
    return db.NewMessage(**values)


@pytest.fixture
def two_clients(backend_store):
    made = []
    for name in ("A", "B"):
        client, token = backend_store.sync.create_client(name=name, now=T0)
        made.append((client.id, db.hash_token(token)))
    return made


def ingest(store, client, column, key, **overrides):
    client_id, token_hash = client
    lead = db.LeadFields(email=f"lead-{client_id}@example.com")
    return store.sync.ingest(
        client_id, token_hash, message(client_id, column, key, **overrides), lead
    )


@pytest.mark.parametrize("column", DEDUPE_COLUMNS)
def test_the_same_provider_id_is_stored_once_per_client(backend_store, two_clients, column):
    a, b = two_clients
    first_a = ingest(backend_store, a, column, "4711")
    first_b = ingest(backend_store, b, column, "4711")  # EmailBison ids are sequential

    assert not first_a.deduped and not first_b.deduped
    assert first_a.message_id != first_b.message_id
    assert first_a.job_enqueued and first_b.job_enqueued
    # Each client's redelivery dedupes to its own message, never the other's.
    again_a = ingest(backend_store, a, column, "4711")
    again_b = ingest(backend_store, b, column, "4711")
    assert (again_a.deduped, again_a.message_id) == (True, first_a.message_id)
    assert (again_b.deduped, again_b.message_id) == (True, first_b.message_id)
    stored_b = backend_store.sync.get_message(first_b.message_id)
    assert (stored_b["client_id"], stored_b["body"]) == (b[0], f"reply of client {b[0]}")
    assert backend_store.sync.get_job(first_b.job_id)["client_id"] == b[0]


def test_concurrent_deliveries_of_one_id_to_two_clients_make_one_message_each(
    backend_store, two_clients
):
    def deliver(i: int) -> tuple[int, db.IngestResult]:
        side = i % 2
        return side, ingest(backend_store, two_clients[side], "email_reply_id", "7")

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(deliver, range(32)))
    for side in (0, 1):
        mine = [r for s, r in results if s == side]
        assert sum(not r.deduped for r in mine) == 1
        assert len({r.message_id for r in mine}) == 1
    assert len({r.message_id for _, r in results}) == 2


def test_a_repeat_window_chain_is_the_clients_own(backend_store, two_clients):
    """A GoHighLevel content key repeated after the window gets <key>#2 within its client;
    another client's chain of the same key neither counts nor collides."""
    a, b = two_clients
    key = "ghl_sms:" + "0" * 32
    window = {"repeat_window_seconds": 60}
    ingest(backend_store, a, "webhook_dedupe_key", key, **window)
    ingest(backend_store, a, "webhook_dedupe_key", key, received_at=LATER, **window)
    first_b = ingest(backend_store, b, "webhook_dedupe_key", key, received_at=LATER, **window)

    assert not first_b.deduped
    assert backend_store.sync.get_message(first_b.message_id)["webhook_dedupe_key"] == key
