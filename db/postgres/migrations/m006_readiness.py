"""``_leadhook_readiness`` (as SQLite's m006) and ``_leadhook_maintenance``: when the daily
maintenance last ran, so that it runs in one process a day however many share the database."""

from __future__ import annotations

import psycopg

from db.postgres.migrations._registry import migration


@migration
def m006_readiness(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE _leadhook_readiness (
            id integer PRIMARY KEY CHECK (id = 1),
            checked_at timestamptz NOT NULL,
            pid integer NOT NULL,
            host text NOT NULL
        );
        CREATE TABLE _leadhook_maintenance (
            name text PRIMARY KEY,
            last_run_at timestamptz NOT NULL,
            pid integer NOT NULL,
            host text NOT NULL
        );
        """
    )
