"""The schema: versioned migrations, constraints an operator can rely on."""

from __future__ import annotations

import sqlite3

import pytest

import db
from db.sqlite import connect, migrate, ops
from db.sqlite.leads import find_or_create_lead
from db.sqlite.migrations import migrations

NOW = "2026-01-18T10:00:00.000Z"


def test_fresh_file_gets_every_table_and_the_view_of_applied_migrations(db_path):
    database = connect(db_path)
    applied = migrate(database)
    assert applied[0] == "m001_initial"
    assert set(database.table_names()) >= {
        "clients",
        "leads",
        "messages",
        "background_jobs",
        "ai_interactions",
        "ai_drafts",
    }
    assert migrate(database) == []  # idempotent


def test_older_file_migrates_forward_and_keeps_its_data(db_path):
    names = [m.name for m in migrations._migrations]
    database = connect(db_path)
    if len(names) > 1:
        migrations.apply(database, stop_before=names[1])
    else:
        migrations.apply(database)
    # The old schema's own columns (today's operations may read columns added since).
    client_id = database.execute(
        "INSERT INTO clients (name, ghl_location_id, token_hash, token_prefix, created_at,"
        " updated_at) VALUES ('Old', 'loc', 'hash', 'lh_', ?, ?) RETURNING id",
        (NOW, NOW),
    ).fetchone()[0]
    database.execute(
        "INSERT INTO leads (client_id, status, created_at, updated_at) VALUES (?, 'new', ?, ?)",
        (client_id, NOW, NOW),
    )
    database.close()
    reopened = connect(db_path)
    assert migrate(reopened) == names[1:]
    assert [c.name for c in ops.list_clients(reopened)] == ["Old"]
    assert reopened.execute("SELECT COUNT(*) FROM leads").fetchone()[0] == 1


def test_pragmas_of_a_connection(db_path):
    database = connect(db_path)
    assert database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert database.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert database.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert database.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


@pytest.fixture
def seeded(database):
    client, _ = ops.create_client(database, "A", NOW, {"ghl_location_id": "loc"})
    lead = find_or_create_lead(database, client.id, db.LeadFields(ghl_contact_id="c1"), now=NOW)
    return database, client.id, lead


def insert_message(database, client_id, lead_id, **extra):
    columns = {
        "client_id": client_id,
        "lead_id": lead_id,
        "channel": "sms",
        "direction": "inbound",
        "body": "hi",
        "sent_at": NOW,
        "received_at": NOW,
        "source": "ghl",
        "created_at": NOW,
        **extra,
    }
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    database.execute(f"INSERT INTO messages ({names}) VALUES ({marks})", tuple(columns.values()))


@pytest.mark.parametrize(
    "column",
    ["ghl_id", "email_reply_id", "unipile_message_id", "webhook_dedupe_key", "scheduled_email_id"],
)
def test_every_dedupe_column_is_unique_per_client_and_nullable(seeded, column):
    database, client_id, lead_id = seeded
    insert_message(database, client_id, lead_id)  # all dedupe columns NULL
    insert_message(database, client_id, lead_id)  # NULLs never collide
    insert_message(database, client_id, lead_id, **{column: "k1"})
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        insert_message(database, client_id, lead_id, **{column: "k1"})
    other, _ = ops.create_client(database, "B", NOW, {})
    other_lead = find_or_create_lead(
        database, other.id, db.LeadFields(ghl_contact_id="c1"), now=NOW
    )
    insert_message(database, other.id, other_lead, **{column: "k1"})  # another client's own


@pytest.mark.parametrize(
    ("table", "column", "bad"),
    [
        ("messages", "channel", "fax"),
        ("messages", "direction", "sideways"),
        ("leads", "status", "hot"),
        ("leads", "sentiment_tag", "Happy"),
        ("background_jobs", "status", "DONE"),
        ("ai_interactions", "status", "ok"),
        ("ai_drafts", "status", "sent"),
        ("deliveries", "outcome", "lost"),
    ],
)
def test_enum_columns_have_check_constraints(database, table, column, bad):
    sql = database.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()[0]
    assert f"{column} TEXT" in sql and "CHECK" in sql
    sentinel = f"CHECK ({column} IN" if column != "sentiment_tag" else "sentiment_tag IN"
    assert sentinel in sql


def test_check_constraints_reject_bad_values(seeded):
    database, client_id, lead_id = seeded
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        insert_message(database, client_id, lead_id, channel="fax")
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        database.execute("UPDATE leads SET status = 'hot'")
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        database.execute("UPDATE leads SET fit_score = 5")


def test_leads_are_unique_per_client_and_ghl_contact(seeded):
    database, client_id, _ = seeded
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        database.execute(
            "INSERT INTO leads (client_id, ghl_contact_id, status, created_at, updated_at)"
            " VALUES (?, 'c1', 'new', ?, ?)",
            (client_id, NOW, NOW),
        )
    other, _ = ops.create_client(database, "B", NOW, {})
    database.execute(
        "INSERT INTO leads (client_id, ghl_contact_id, status, created_at, updated_at)"
        " VALUES (?, 'c1', 'new', ?, ?)",
        (other.id, NOW, NOW),
    )


def test_job_dedupe_key_is_unique_and_required(seeded):
    database, client_id, lead_id = seeded
    insert_message(database, client_id, lead_id)
    args = dict(
        job_type="SMS_INBOUND_POST_PROCESS",
        client_id=client_id,
        lead_id=lead_id,
        message_id=1,
        now=NOW,
    )
    assert ops.enqueue_job(database, **args) == (1, True)
    assert ops.enqueue_job(database, **args) == (1, False)
    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
        database.execute(
            "INSERT INTO background_jobs (type, client_id, run_at, created_at, updated_at)"
            " VALUES ('X', ?, ?, ?, ?)",
            (client_id, NOW, NOW, NOW),
        )


def test_jobs_are_indexed_by_status_and_run_at(database):
    plan = database.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM background_jobs WHERE status = 'PENDING'"
        " AND run_at <= ? ORDER BY run_at LIMIT 10",
        (NOW,),
    ).fetchall()
    assert any("background_jobs_status_run_at" in row[-1] for row in plan)


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
def test_the_schema_accepts_exactly_the_live_vocabulary(database, table, column, live):
    """The CHECK lists are frozen copies in the migrations: they must equal db.vocab's."""
    sql = database.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()[0]
    definition = next(line for line in sql.splitlines() if line.strip().startswith(column + " "))
    allowed = definition[definition.index(" IN (") + 5 : definition.rindex(")")].rstrip(")")
    assert tuple(v.strip().strip("'") for v in allowed.split(",")) == live


def test_a_file_of_the_previous_schema_gets_the_lead_state_and_keeps_its_rows(db_path):
    database = connect(db_path)
    migrations.apply(database, stop_before="m004_lead_state")
    # The old schema's own columns (today's operations may read columns added since).
    client_id = database.execute(
        "INSERT INTO clients (name, ghl_location_id, token_hash, token_prefix, created_at,"
        " updated_at) VALUES ('Old', 'loc', 'hash', 'lh_', ?, ?) RETURNING id",
        (NOW, NOW),
    ).fetchone()[0]
    for contact, status in (("c1", "blacklisted"), ("c2", "qualified")):
        database.execute(
            "INSERT INTO leads (client_id, ghl_contact_id, status, sentiment_tag, created_at,"
            " updated_at) VALUES (?, ?, ?, 'Interested', ?, ?)",
            (client_id, contact, status, NOW, "2026-01-19T08:00:00.000Z"),
        )
    insert_message(database, client_id, 1, ghl_id="g1")
    database.close()

    reopened = connect(db_path)
    assert migrate(reopened)[0] == "m004_lead_state"  # and the migrations after it
    leads = list(reopened.query("SELECT * FROM leads ORDER BY id"))
    assert [(r["status"], r["sentiment_tag"], r["opted_out_at"]) for r in leads] == [
        ("blacklisted", "Blacklist", "2026-01-19T08:00:00.000Z"),
        ("qualified", "Interested", None),
    ]
    [message] = reopened.query("SELECT * FROM messages")
    assert (message["ghl_id"], message["provider_sent_at"]) == ("g1", None)
    assert reopened.execute("SELECT COUNT(*) FROM pruned_jobs").fetchone()[0] == 0


# -- m005_per_client_dedupe: a file made by the previous schema -------------------------------

DEDUPE = (
    "ghl_id",
    "email_reply_id",
    "unipile_message_id",
    "webhook_dedupe_key",
    "scheduled_email_id",
)


def message_indexes(database) -> dict[str, str]:
    return {
        name: sql
        for name, sql in database.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'"
            " AND sql IS NOT NULL"
        )
    }


def old_client(database, name: str, location: str | None = None) -> int:
    """A client as the first schema knew it (today's operations may read later columns)."""
    return database.execute(
        "INSERT INTO clients (name, ghl_location_id, token_hash, token_prefix, created_at,"
        " updated_at) VALUES (?, ?, ?, 'lh_', ?, ?) RETURNING id",
        (name, location, f"hash-{name}", NOW, NOW),
    ).fetchone()[0]


def test_per_client_dedupe_migrates_a_file_of_the_previous_schema(db_path):
    database = connect(db_path)
    migrations.apply(database, stop_before="m005_per_client_dedupe")
    assert "messages_email_reply_id" in message_indexes(database)
    a, b = old_client(database, "A", "loc_a"), old_client(database, "B", "loc_b")
    lead_a = find_or_create_lead(database, a, db.LeadFields(ghl_contact_id="c"), now=NOW)
    lead_b = find_or_create_lead(database, b, db.LeadFields(ghl_contact_id="c"), now=NOW)
    for n, column in enumerate(DEDUPE):
        insert_message(database, a, lead_a, **{column: f"a-{n}"})
        insert_message(database, b, lead_b, **{column: f"b-{n}"})
    insert_message(database, a, lead_a)  # no dedupe value at all
    before = database.execute("SELECT * FROM messages ORDER BY id").fetchall()
    database.close()

    reopened = connect(db_path)
    assert "m005_per_client_dedupe" in migrate(reopened)

    assert reopened.execute("SELECT * FROM messages ORDER BY id").fetchall() == before
    indexes = message_indexes(reopened)
    for column in DEDUPE:
        assert f"messages_{column}" not in indexes  # the global unique index is gone
        sql = indexes[f"messages_client_{column}"]
        assert sql.startswith("CREATE UNIQUE INDEX")
        assert f"(client_id, {column}) WHERE {column} IS NOT NULL" in sql
    # Enforced per client: B may now store A's id, A may not store it twice.
    insert_message(reopened, b, lead_b, email_reply_id="a-1")
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        insert_message(reopened, a, lead_a, email_reply_id="a-1")
    assert reopened.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_dedupe_lookups_use_the_per_client_indexes(seeded):
    database, client_id, _ = seeded
    for column in DEDUPE:
        plan = database.execute(
            f"EXPLAIN QUERY PLAN SELECT id FROM messages WHERE client_id = ? AND {column} = ?",
            (client_id, "k"),
        ).fetchall()
        assert any(f"messages_client_{column}" in row[-1] for row in plan), plan
