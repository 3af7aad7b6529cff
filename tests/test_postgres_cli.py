"""The command line on Postgres: ``db copy`` from a SQLite file, ``db check``, ``db backup``'s
refusal, and no password in what the commands print."""

from __future__ import annotations

import json
import time

import psycopg

import db
from db.postgres.migrations import MIGRATIONS
from tests.process_helpers import run

T0 = "2026-01-18T10:00:00.000Z"


def ledger_row(client_id: int | None, received_at: str = T0, **fields) -> db.NewDelivery:
    return db.NewDelivery(received_at=received_at, route="/api/webhooks/ghl/sms",
                          started=time.monotonic(), client_id=client_id, **fields)  # fmt: skip


def seeded_sqlite(path) -> dict:
    """A SQLite database with a bit of everything, some rows deleted (ids with gaps)."""
    store = db.open_store(path)
    try:
        sync = store.sync
        client, token = sync.create_client(name="Acme", now=T0, ghl_location_id="loc")
        sync.create_client(name="Other", now=T0)
        # The ledger: a rejected row pruned (an id gap: 1), another kept; a replay below.
        early = "2026-01-17T10:00:00.000Z"
        sync.record_delivery(ledger_row(None, early, outcome="rejected", status_code=401))
        sync.record_delivery(ledger_row(None, outcome="rejected", status_code=401, error="x"))
        sync.prune_deliveries(before=T0, batch=10)
        ids = []
        for n in range(5):
            message = db.NewMessage(
                client_id=client.id, channel="sms", direction="inbound", body=f"hello {n}",
                sent_at=T0, received_at=T0, source="test", dedupe_column="ghl_id",
                dedupe_value=f"m{n}", job_type=db.vocab.SMS_INBOUND_POST_PROCESS,
            )  # fmt: skip
            lead = db.LeadFields(ghl_contact_id=f"c{n % 2}")
            delivery = ledger_row(client.id, dedupe_key=f"m{n}", body=f'{{"n": {n}}}')
            ids.append(sync.ingest(client.id, db.hash_token(token), message, lead,
                                   delivery=delivery))  # fmt: skip
        [first] = sync.find_deliveries({"key": "m0"})
        sync.record_ignored(client.id, None, ledger_row(client.id, replay_of=first["id"]))
        sync.set_lead_sentiment(ids[0].lead_id, "Interested", "qualified", now=T0)
        sync.record_interaction(
            {"source": "test", "feature_id": "sentiment.classify", "provider": "offline",
             "api_type": "chat", "model": "offline", "status": "success", "latency_ms": 12,
             "cost_usd": 0.0, "created_at": T0, "client_id": client.id}
        )  # fmt: skip
        sync.prune_interactions(before="2030-01-01T00:00:00.000Z", batch=10)  # roll-ups stay
    finally:
        store.close()
    return {"token": token, "client": client, "ids": ids}


def test_db_copy_keeps_every_row_and_id_and_the_target_goes_on_from_there(tmp_path, pg_empty_url):
    path = tmp_path / "source.db"
    seeded = seeded_sqlite(path)
    done = run(path, "db", "copy", "--to", pg_empty_url, "--json")
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)
    assert counts["clients"] == 2 and counts["messages"] == 5 and counts["background_jobs"] == 5
    assert counts["ai_interactions"] == 0 and counts["ai_usage_hourly"] == 1
    assert counts["lead_changes"] >= 1
    source = db.open_store(path, apply_migrations=False)
    target = db.open_store(pg_empty_url, apply_migrations=False)
    try:
        first = seeded["ids"][0]
        assert target.sync.get_message(first.message_id) == source.sync.get_message(
            first.message_id
        )
        assert target.sync.get_lead(first.lead_id) == source.sync.get_lead(first.lead_id)
        assert target.sync.list_jobs(limit=50) == source.sync.list_jobs(limit=50)
        spend = {"by": "source", "since": T0, "until": "2026-01-19T00:00:00.000Z"}
        assert target.sync.ai_spend(**spend)["total"]["calls"] == 1  # the history stayed
        # The token still works and new rows get new ids (the sequences are past the copy).
        client = target.sync.client_by_token_hash(db.hash_token(seeded["token"]))
        assert client == seeded["client"]
        created, _ = target.sync.create_client(name="New", now=T0)
        assert created.id == 3
        # The ledger: every row as it was (ids, times, bodies, replays), and new ids after.
        assert counts["deliveries"] == 7
        listed = source.sync.find_deliveries({})
        assert target.sync.find_deliveries({}) == listed
        assert 1 not in {r["id"] for r in listed}  # the gap stayed (the pruned row)
        for row in listed:
            assert target.sync.delivery_detail(row["id"]) == source.sync.delivery_detail(row["id"])
        new_id = target.sync.record_delivery(ledger_row(None, outcome="rejected", status_code=429))
        assert new_id == max(r["id"] for r in listed) + 1
    finally:
        source.close()
        target.close()


def test_db_copy_refuses_a_target_that_is_not_empty(tmp_path, pg_url):
    path = tmp_path / "source.db"
    seeded_sqlite(path)
    store = db.open_store(pg_url)
    store.sync.create_client(name="Already here", now=T0)
    store.close()
    refused = run(path, "db", "copy", "--to", pg_url)
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "is not empty: clients already have rows" in (
        refused.stderr
    )
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM clients").fetchone()[0] == 1


def test_db_copy_refuses_a_database_of_something_else(tmp_path, pg_empty_url):
    path = tmp_path / "source.db"
    seeded_sqlite(path)
    with psycopg.connect(pg_empty_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id integer)")
    refused = run(path, "db", "copy", "--to", pg_empty_url)
    assert refused.returncode == 1 and "not leadhook's (invoices)" in refused.stderr


def test_check_backup_and_what_commands_print_on_postgres(pg_url):
    secret_url = pg_url.replace("postgres@", "postgres:hunter2@")  # trust auth ignores it
    checked = run(secret_url, "db", "check")
    assert checked.returncode == 0, checked.stderr
    latest = f"({len(MIGRATIONS)} applied, the last {MIGRATIONS[-1].name})"
    assert checked.stdout.startswith(f"ok: integrity, foreign keys, migrations {latest}")
    refused = run(secret_url, "db", "backup", "/tmp/never.db")
    assert refused.returncode == 1 and "pg_dump" in refused.stderr
    listed = run(secret_url, "config")
    assert "hunter2" not in listed.stdout + listed.stderr
    added = run(secret_url, "clients", "add", "--name", "A", "--json")
    assert added.returncode == 0 and "hunter2" not in added.stdout + added.stderr


def test_commands_refuse_a_postgres_database_without_the_schema(pg_empty_url):
    refused = run(pg_empty_url, "jobs", "stats")
    assert refused.returncode == 1
    assert "no leadhook schema" in refused.stderr and "leadhook db migrate" in refused.stderr
