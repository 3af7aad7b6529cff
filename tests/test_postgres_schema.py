"""The Postgres schema is SQLite's: the same tables, columns and views, the same CHECK
vocabularies (db.vocab's live lists), per-client unique dedupe indexes, foreign keys,
triggers; and the same migrations by name."""

from __future__ import annotations

import re

import psycopg
import pytest

import db
from db.postgres.migrations import MIGRATIONS
from db.sqlite.migrations import migrations as sqlite_migrations


@pytest.fixture
def pg(pg_url):
    with psycopg.connect(pg_url) as conn:
        yield conn


def test_the_same_migrations_by_name_on_both_backends():
    assert [m.name for m in MIGRATIONS] == [m.name for m in sqlite_migrations._migrations]


def test_the_same_tables_columns_and_views(pg, database):
    sqlite_tables = {
        name: [c[1] for c in database.execute(f"PRAGMA table_info({name})")]
        for (name,) in database.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%' AND name != '_sqlite_migrations'"
        )
    }
    pg_tables: dict[str, list[str]] = {}
    for table, column in pg.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    ):
        pg_tables.setdefault(table, []).append(column)
    pg_only = {"_leadhook_migrations", "_leadhook_maintenance"}
    assert set(pg_tables) - pg_only == set(sqlite_tables)
    for table, columns in sqlite_tables.items():
        assert sorted(pg_tables[table]) == sorted(columns), table


@pytest.mark.parametrize(
    ("table", "column", "live"),
    [
        ("messages", "channel", db.vocab.CHANNELS),
        ("messages", "direction", db.vocab.DIRECTIONS),
        ("leads", "status", db.vocab.LEAD_STATUSES),
        ("leads", "sentiment_tag", db.vocab.SENTIMENT_TAGS),
        ("background_jobs", "status", db.vocab.JOB_STATUSES),
        ("ai_drafts", "status", db.vocab.DRAFT_STATUSES),
        ("message_sentiments", "sentiment_tag", db.vocab.SENTIMENT_TAGS),
        ("message_sentiments", "classified_by", db.vocab.CLASSIFIED_BY),
        ("ai_latency_daily", "dimension", db.vocab.SPEND_DIMENSIONS),
        ("pruned_jobs", "status", db.vocab.FINISHED_JOB_STATUSES),
        ("deliveries", "outcome", db.vocab.DELIVERY_OUTCOMES),
    ],
)
def test_the_schema_accepts_exactly_the_live_vocabulary(pg, table, column, live):
    definitions = [
        row[0]
        for row in pg.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'c'",
            (table,),
        )
    ]
    [check] = [d for d in definitions if re.search(rf"\b{column}\b", d) and "ANY" in d]
    assert tuple(re.findall(r"'([^']*)'::text", check)) == live


def test_every_dedupe_column_is_unique_per_client(pg):
    indexes = {
        name: definition
        for name, definition in pg.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'messages'"
        )
    }
    for column in db.vocab.DEDUPE_COLUMNS:
        definition = indexes[f"messages_client_{column}"]
        assert "UNIQUE" in definition and f"(client_id, {column})" in definition
        assert f"WHERE ({column} IS NOT NULL)" in definition
    assert not any(name == "messages_ghl_id" for name in indexes)  # the global ones went


def test_foreign_keys_cascade_as_on_sqlite(pg):
    found = dict(
        pg.execute(
            "SELECT conname, confdeltype FROM pg_constraint "
            "WHERE conrelid = 'messages'::regclass AND contype = 'f'"
        ).fetchall()
    )
    assert set(found.values()) == {"c"}  # ON DELETE CASCADE, to clients and leads
    assert len(found) == 2


def test_the_ledger_has_sqlite_s_foreign_keys_checks_and_indexes(pg, database):
    found = {
        (row[0], row[1]): row[2]
        for row in pg.execute(
            "SELECT a.attname, c.confrelid::regclass::text, c.confdeltype FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "WHERE c.conrelid = 'deliveries'::regclass AND c.contype = 'f'"
        )
    }
    # SQLite's: client_id no action, message_id and replay_of set NULL.
    expected = {
        (row[3], row[2]): {"NO ACTION": "a", "SET NULL": "n"}[row[6]]
        for row in database.execute("PRAGMA foreign_key_list(deliveries)")
    }
    assert (
        found
        == expected
        == {
            ("client_id", "clients"): "a",
            ("message_id", "messages"): "n",
            ("replay_of", "deliveries"): "n",
        }
    )
    [status] = [
        d
        for (d,) in pg.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'deliveries'::regclass AND contype = 'c'"
        )
        if "status_code" in d
    ]
    assert "100" in status and "599" in status
    pg_indexes = {
        name
        for (name,) in pg.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'deliveries'")
    }
    sqlite_indexes = {
        name
        for (name,) in database.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'deliveries'"
        )
    }
    assert pg_indexes - {"deliveries_pkey"} == sqlite_indexes and len(sqlite_indexes) == 7


def test_lead_changes_and_the_spend_rollups_are_kept_by_triggers(pg_url):
    store = db.open_store(pg_url)
    try:
        sync = store.sync
        client, token = sync.create_client(name="A", now="2026-01-18T10:00:00.000Z")
        message = db.NewMessage(
            client_id=client.id, channel="sms", direction="inbound", body="STOP",
            sent_at="2026-01-18T10:00:00.000Z", received_at="2026-01-18T10:00:00.000Z",
            source="test", dedupe_column="ghl_id", dedupe_value="stop",
        )  # fmt: skip
        result = sync.ingest(client.id, db.hash_token(token), message, db.LeadFields(phone="1"))
        changes = sync.lead_timeline(result.lead_id)["changes"]
        by_field = {c["field"]: (c["old_value"], c["new_value"]) for c in changes}
        assert by_field["status"] == ("new", "blacklisted")
        assert by_field["opted_out_at"] == (None, "2026-01-18T10:00:00.000Z")  # ISO text
        assert {c["changed_at"] for c in changes} == {"2026-01-18T10:00:00.000Z"}
    finally:
        store.close()
