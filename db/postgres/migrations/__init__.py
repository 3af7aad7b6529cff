"""Versioned schema migrations of the Postgres backend, one module each, by the same names as
the SQLite backend's (``m001_initial`` ...): the same version of leadhook has the same tables,
columns, constraints, triggers and views on both, written in each one's own SQL.

Each migration runs once, in its own transaction, recorded in ``_leadhook_migrations``
(``id``, ``name``, ``applied_at``). :func:`migrate` holds the session advisory lock
:data:`db.postgres._sql.MIGRATION_LOCK` while it looks and applies, so servers that start
together apply each migration exactly once (the others wait, then find nothing to do). Never
edit a migration once released; migrations never drop data. A migration that writes a
vocabulary into a ``CHECK`` holds a frozen copy of it, as the SQLite ones do.
"""

from __future__ import annotations

import psycopg

from db.postgres._sql import MIGRATION_LOCK, rows
from db.postgres.migrations._registry import MIGRATIONS

# Registration order is application order.
from db.postgres.migrations import m001_initial  # noqa: F401  isort: skip
from db.postgres.migrations import m002_jobs_snoozes  # noqa: F401  isort: skip
from db.postgres.migrations import m003_ai_report  # noqa: F401  isort: skip
from db.postgres.migrations import m004_lead_state  # noqa: F401  isort: skip
from db.postgres.migrations import m005_per_client_dedupe  # noqa: F401  isort: skip
from db.postgres.migrations import m006_readiness  # noqa: F401  isort: skip
from db.postgres.migrations import m007_ai_prices  # noqa: F401  isort: skip
from db.postgres.migrations import m008_message_sentiments  # noqa: F401  isort: skip
from db.postgres.migrations import m009_console  # noqa: F401  isort: skip
from db.postgres.migrations import m010_job_metrics  # noqa: F401  isort: skip
from db.postgres.migrations import m011_deliveries  # noqa: F401  isort: skip

__all__ = ["MIGRATIONS", "applied", "migrate", "schema_exists"]

_RECORD = """CREATE TABLE IF NOT EXISTS _leadhook_migrations (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


def schema_exists(conn: psycopg.Connection) -> bool:
    """Whether leadhook's record table is in the connection's schema."""
    found = rows(conn, "SELECT to_regclass('_leadhook_migrations') IS NOT NULL AS found")
    return bool(found[0]["found"])


def applied(conn: psycopg.Connection) -> list[str]:
    """The names of the migrations applied, oldest first ([] on an empty database)."""
    if not schema_exists(conn):
        return []
    return [r["name"] for r in rows(conn, "SELECT name FROM _leadhook_migrations ORDER BY id")]


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply the pending migrations (``conn`` in autocommit mode); the names applied."""
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        conn.execute(_RECORD)
        done = set(applied(conn))
        names = []
        for step in MIGRATIONS:
            if step.name in done:
                continue
            with conn.transaction():
                step.fn(conn)
                conn.execute("INSERT INTO _leadhook_migrations (name) VALUES (%s)", (step.name,))
            names.append(step.name)
        return names
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
