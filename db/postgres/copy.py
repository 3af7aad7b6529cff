"""``leadhook db copy --to URL``: a SQLite database into an empty Postgres database.

The target is migrated first (the same schema version as this code), then must be empty: no
row in any of leadhook's tables and no table that is not leadhook's (else :class:`DatabaseError`,
nothing written). Every table the two schemas share is copied with ``COPY`` in one Postgres
transaction, from one read transaction of the SQLite file (a consistent snapshot), parents
before children, ids kept; each identity sequence is set past the highest id copied; the
rollup trigger of ``ai_interactions`` is off meanwhile (the roll-ups are copied as they are:
they hold the spend history of pruned rows). The row counts of every table are compared
before the commit: the copy is all or nothing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from db.errors import DatabaseError, DatabaseMissing
from db.postgres._sql import one, rows
from db.postgres._transport import connect
from db.postgres.migrations import migrate

# Parents before children; tables added later follow, in the SQLite file's order.
ORDER = (
    "clients",
    "leads",
    "messages",
    "deliveries",
    "background_jobs",
    "ai_interactions",
    "ai_drafts",
    "pruned_jobs",
    "message_sentiments",
    "lead_changes",
    "ai_usage_hourly",
    "ai_latency_daily",
)
# Filled by the migrations themselves, or the backend's own bookkeeping.
NOT_COPIED = {"ai_latency_buckets", "_leadhook_readiness", "_leadhook_maintenance"}
ROLLUP_TRIGGER = "ai_interactions_rollup"


def _sqlite_tables(source: sqlite3.Connection) -> list[str]:
    found = source.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name NOT LIKE '\\_%' ESCAPE '\\' ORDER BY rowid"
    ).fetchall()
    return [name for (name,) in found if name not in NOT_COPIED]


def _pg_tables(conn: psycopg.Connection) -> list[str]:
    found = rows(
        conn,
        "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()",
    )
    return [r["name"] for r in found]


def _columns_sqlite(source: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in source.execute(f'PRAGMA table_info("{table}")')]


def _columns_pg(conn: psycopg.Connection, table: str) -> list[str]:
    found = rows(
        conn,
        """SELECT column_name AS name FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position""",
        (table,),
    )
    return [r["name"] for r in found]


def _open_source(path: str) -> sqlite3.Connection:
    if not Path(path).is_file():
        raise DatabaseMissing(str(Path(path).resolve()))
    source = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    source.execute("PRAGMA busy_timeout = 5000")
    return source


def _check_source(source: sqlite3.Connection) -> None:
    from db.sqlite.migrations import migrations

    known = [m.name for m in migrations._migrations]
    applied = {name for (name,) in source.execute("SELECT name FROM _sqlite_migrations")}
    pending = [name for name in known if name not in applied]
    if pending:
        raise DatabaseError(
            f"the SQLite database lacks migrations {', '.join(pending)}: run `leadhook db "
            "migrate` on it first"
        )


def _refuse_unless_empty(conn: psycopg.Connection, tables: list[str], url: str) -> None:
    from db.postgres.maintenance import TABLES

    ours = {*TABLES, *NOT_COPIED, "_leadhook_migrations"}
    foreign = [t for t in _pg_tables(conn) if t not in ours and t not in tables]
    if foreign:
        raise DatabaseError(
            f"{url} is not empty: it has tables that are not leadhook's ({', '.join(foreign)})"
        )
    filled = [t for t in tables if one(conn, f'SELECT EXISTS (SELECT 1 FROM "{t}") AS x')["x"]]
    if filled:
        raise DatabaseError(f"{url} is not empty: {', '.join(filled)} already have rows")


def copy_to_postgres(source_path: str, url: str) -> dict[str, int]:
    """Copy the SQLite file ``source_path`` into the Postgres database ``url`` (see the
    module docstring); returns the rows copied per table (equal on both sides)."""
    from db.postgres._transport import redact

    shown = redact(url)
    source = _open_source(source_path)
    conn = connect(url)
    try:
        _check_source(source)
        migrate(conn)
        present = set(_pg_tables(conn))
        found = _sqlite_tables(source)
        shared = [t for t in ORDER if t in found and t in present]
        shared += [t for t in found if t in present and t not in shared]
        _refuse_unless_empty(conn, shared, shown)
        source.execute("BEGIN")  # one snapshot of the file for the whole copy
        try:
            with conn.transaction():
                conn.execute(f"ALTER TABLE ai_interactions DISABLE TRIGGER {ROLLUP_TRIGGER}")
                counts = {table: _copy_table(source, conn, table) for table in shared}
                conn.execute(f"ALTER TABLE ai_interactions ENABLE TRIGGER {ROLLUP_TRIGGER}")
                _verify(source, conn, counts)
        finally:
            source.execute("ROLLBACK")
        return counts
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseError(f"the copy into {shown} failed, nothing was kept: {first}") from None
    finally:
        source.close()
        conn.close()


def _copy_table(source: sqlite3.Connection, conn: psycopg.Connection, table: str) -> int:
    target_columns = set(_columns_pg(conn, table))
    columns = [c for c in _columns_sqlite(source, table) if c in target_columns]
    names = ", ".join(f'"{c}"' for c in columns)
    count = 0
    cursor = source.execute(f'SELECT {names} FROM "{table}"')
    with conn.cursor() as target, target.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        for row in cursor:
            copy.write_row(row)
            count += 1
    if "id" in columns:
        conn.execute(
            f"""SELECT setval(pg_get_serial_sequence('"{table}"', 'id'),
                              COALESCE((SELECT max(id) FROM "{table}"), 0) + 1, false)"""
        )
    return count


def _verify(source: sqlite3.Connection, conn: psycopg.Connection, counts: dict[str, int]) -> None:
    for table in counts:
        (expected,) = source.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()
        copied = one(conn, f'SELECT COUNT(*) AS n FROM "{table}"')["n"]
        if copied != expected:
            raise DatabaseError(f"{table}: {expected} rows in SQLite, {copied} copied")
