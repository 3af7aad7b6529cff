"""Round trips to the Postgres server per webhook write: the ledger row costs none.

A round trip is one ``Connection.execute`` outside a pipeline, or one pipeline block (its
statements go in one send and their results come back together). Counted on the worker
thread that runs the operation, BEGIN and COMMIT included; a change that adds one fails here
(a new message of a known lead: 9; issue 12's ledger row rides on the COMMIT).
"""

from __future__ import annotations

import contextlib
import threading
import time

import psycopg
import pytest

import db
from db.vocab import SMS_INBOUND_POST_PROCESS

T0 = "2026-01-18T10:00:00.000Z"


class RoundTrips:
    """Counts the round trips of the operations' connections (the transport's worker threads)
    while installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self._lock = threading.Lock()
        execute = psycopg.Connection.execute
        pipeline = psycopg.Connection.pipeline

        def counted_execute(conn, *args, **kwargs):
            if conn._pipeline is None:
                self._add()
            return execute(conn, *args, **kwargs)

        @contextlib.contextmanager
        def counted_pipeline(conn):
            outer = conn._pipeline is None
            with pipeline(conn) as p:
                yield p
            if outer:
                self._add()

        monkeypatch.setattr(psycopg.Connection, "execute", counted_execute)
        monkeypatch.setattr(psycopg.Connection, "pipeline", counted_pipeline)

    def _add(self) -> None:
        if not threading.current_thread().name.startswith("leadhook-pg_"):
            return  # the notifier's own connection, not the operation's
        with self._lock:
            self.count += 1

    def take(self) -> int:
        with self._lock:
            found, self.count = self.count, 0
            return found


@pytest.fixture
def pg_store(pg_url):
    store = db.open_store(pg_url)
    yield store
    store.close()


def message(client_id: int, key: str) -> db.NewMessage:
    return db.NewMessage(
        client_id=client_id, channel="sms", direction="inbound", body=f"reply {key}",
        sent_at=T0, received_at=T0, source="test", dedupe_column="ghl_id", dedupe_value=key,
        job_type=SMS_INBOUND_POST_PROCESS,
    )  # fmt: skip


def delivery(client_id: int) -> db.NewDelivery:
    return db.NewDelivery(received_at=T0, route="/api/webhooks/ghl/sms", started=time.monotonic(),
                          client_id=client_id, body="{}")  # fmt: skip


def test_the_ledger_row_adds_no_round_trip_to_ingest(pg_store, monkeypatch):
    s = pg_store.sync
    client, token = s.create_client(name="Acme", now=T0)
    token_hash = db.hash_token(token)
    lead = db.LeadFields(ghl_contact_id="c-1")
    s.ingest(client.id, token_hash, message(client.id, "warm"), lead)  # the lead exists
    trips = RoundTrips(monkeypatch)

    s.ingest(client.id, token_hash, message(client.id, "k1"), lead)
    without = trips.take()
    s.ingest(client.id, token_hash, message(client.id, "k2"), lead, delivery=delivery(client.id))
    stored = trips.take()
    s.ingest(client.id, token_hash, message(client.id, "k2"), lead, delivery=delivery(client.id))
    deduped = trips.take()
    s.unsubscribe(client.id, token_hash, lead, T0)
    unsubscribe_without = trips.take()
    s.unsubscribe(client.id, token_hash, lead, T0, delivery=delivery(client.id))
    unsubscribe_with = trips.take()
    s.record_ignored(client.id, token_hash, delivery(client.id))
    ignored = trips.take()

    # BEGIN; the token check with the message look-up; the savepoint with the lead locks; the
    # lead's match; its update; the message; the job; the pruned-jobs re-check; COMMIT.
    assert without == 9
    assert stored == without
    assert deduped < stored
    assert unsubscribe_with == unsubscribe_without
    assert ignored == 3  # BEGIN, the token check, the row with the COMMIT
    assert len(s.find_deliveries({})) == 4


def test_the_folded_re_check_takes_back_a_job_whose_success_was_pruned_meanwhile(
    pg_store, pg_url, monkeypatch
):
    """The prune race of :mod:`db.postgres.jobs`: a prune of the job's success commits
    between the enqueue's insert and its re-check (one statement now, with clearing a failed
    job's record): the job is taken back, and a failed record is cleared otherwise."""
    s = pg_store.sync
    client, token = s.create_client(name="Acme", now=T0)
    lead = db.LeadFields(ghl_contact_id="c-1")
    result = s.ingest(client.id, db.hash_token(token), message(client.id, "k1"), lead)
    with psycopg.connect(pg_url, autocommit=True) as other:
        other.execute("DELETE FROM background_jobs")
        key = db.vocab.job_dedupe_key(client.id, result.message_id, "LEAD_SCORING_POST_PROCESS")
        other.execute(
            "INSERT INTO pruned_jobs (dedupe_key, type, status, client_id, pruned_at) "
            "VALUES (%s, 'LEAD_SCORING_POST_PROCESS', 'FAILED', %s, now())",
            (key, client.id),
        )
    execute = psycopg.Connection.execute
    pruned_meanwhile = {"key": None}

    def racing_execute(conn, query, *args, **kwargs):
        found = execute(conn, query, *args, **kwargs)
        if pruned_meanwhile["key"] and str(query).lstrip().startswith("INSERT INTO background_"):
            with psycopg.connect(pg_url, autocommit=True) as other:
                other.execute(
                    "INSERT INTO pruned_jobs (dedupe_key, type, status, client_id, pruned_at) "
                    "VALUES (%s, %s, 'SUCCEEDED', %s, now())",
                    (pruned_meanwhile["key"], SMS_INBOUND_POST_PROCESS, client.id),
                )
        return found

    monkeypatch.setattr(psycopg.Connection, "execute", racing_execute)
    args = {"client_id": client.id, "lead_id": result.lead_id, "message_id": result.message_id}
    job_id, enqueued = s.enqueue_job(job_type="LEAD_SCORING_POST_PROCESS", now=T0, **args)
    assert job_id is not None and enqueued
    with psycopg.connect(pg_url) as other:
        assert other.execute("SELECT COUNT(*) FROM pruned_jobs").fetchone() == (0,)  # cleared

    pruned_meanwhile["key"] = db.vocab.job_dedupe_key(
        client.id, result.message_id, SMS_INBOUND_POST_PROCESS
    )
    assert s.enqueue_job(job_type=SMS_INBOUND_POST_PROCESS, now=T0, **args) == (None, False)
    jobs = s.list_jobs(status=None, job_type=None, limit=10)
    assert [j["type"] for j in jobs] == ["LEAD_SCORING_POST_PROCESS"]  # the other taken back
