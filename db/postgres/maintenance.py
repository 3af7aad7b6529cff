"""``leadhook db check`` and ``db backup`` on Postgres.

:func:`check` compares the migrations applied with those this code knows and confirms that
every table and view of the schema is there. Postgres itself enforces foreign keys and keeps
its pages' integrity (checksums, WAL), so those lists stay empty. :func:`backup` refuses:
``pg_dump`` is the tool for a consistent copy of a live Postgres database.
"""

from __future__ import annotations

import psycopg

from db.errors import DatabaseError
from db.postgres._sql import rows
from db.postgres.migrations import MIGRATIONS, applied

TABLES = (
    "clients",
    "leads",
    "messages",
    "background_jobs",
    "ai_interactions",
    "ai_drafts",
    "pruned_jobs",
    "message_sentiments",
    "lead_changes",
    "deliveries",
    "ai_usage_hourly",
    "ai_latency_buckets",
    "ai_latency_daily",
    "background_job_summary",
    "ai_spend_by_source",
)


def backup(conn: psycopg.Connection, destination: str) -> dict:
    raise DatabaseError(
        "`leadhook db backup` copies SQLite files; for a Postgres database use pg_dump "
        '(e.g. pg_dump --format=custom --file=leadhook.dump "$LEADHOOK_DB"; docs/scaling.md)'
    )


def check(conn: psycopg.Connection) -> dict:
    known = [m.name for m in MIGRATIONS]
    done = applied(conn)
    pending = [name for name in known if name not in done]
    unknown = [name for name in done if name not in known]
    problems = []
    if done:
        present = {
            r["name"]
            for r in rows(
                conn,
                "SELECT c.relname AS name FROM pg_class AS c "
                "WHERE c.relnamespace = current_schema()::regnamespace "
                "AND c.relkind IN ('r', 'v', 'p')",
            )
        }
        missing = [table for table in TABLES if table not in present]
        if missing and not pending:
            problems.append(f"integrity: tables missing: {', '.join(missing)}")
    if pending:
        problems.append(
            f"migrations not applied: {', '.join(pending)} (run `leadhook db migrate`; "
            "`leadhook serve` applies them too)"
        )
    if unknown:
        problems.append(
            f"migrations this version does not know: {', '.join(unknown)} (the database was "
            "written by a newer leadhook: run that version)"
        )
    return {
        "integrity": [p for p in problems if p.startswith("integrity")],
        "foreign_keys": [],
        "migrations": {"applied": done, "pending": pending, "unknown": unknown},
        "problems": problems,
    }
