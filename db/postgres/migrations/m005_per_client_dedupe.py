"""Every dedupe column of ``messages`` unique per client (as SQLite's m005)."""

from __future__ import annotations

import psycopg

from db.postgres.migrations._registry import migration

_DEDUPE_COLUMNS = (
    "ghl_id",
    "email_reply_id",
    "unipile_message_id",
    "webhook_dedupe_key",
    "scheduled_email_id",
)


@migration
def m005_per_client_dedupe(conn: psycopg.Connection) -> None:
    """``UNIQUE (client_id, <column>) WHERE <column> IS NOT NULL`` replaces ``UNIQUE
    (<column>)``; the new index is built before the old one goes."""
    for column in _DEDUPE_COLUMNS:
        conn.execute(
            f"CREATE UNIQUE INDEX messages_client_{column} ON messages (client_id, {column}) "
            f"WHERE {column} IS NOT NULL"
        )
        conn.execute(f"DROP INDEX messages_{column}")
