"""Lead state: ``leads.opted_out_at``, ``messages.provider_sent_at``, and ``pruned_jobs``
(as SQLite's m004; ``provider_sent_at`` is the provider's raw text, not a timestamp)."""

from __future__ import annotations

import psycopg

from db.postgres.migrations._registry import in_list as _in
from db.postgres.migrations._registry import migration

FINISHED_JOB_STATUSES = ("SUCCEEDED", "FAILED")


@migration
def m004_lead_state(conn: psycopg.Connection) -> None:
    conn.execute(
        f"""
        ALTER TABLE leads ADD COLUMN opted_out_at timestamptz;
        UPDATE leads SET opted_out_at = updated_at, sentiment_tag = 'Blacklist'
         WHERE status = 'blacklisted';

        ALTER TABLE messages ADD COLUMN provider_sent_at text;

        CREATE TABLE pruned_jobs (
            dedupe_key text PRIMARY KEY,
            type text NOT NULL,
            status text NOT NULL CHECK (status IN {_in(FINISHED_JOB_STATUSES)}),
            client_id bigint NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
            message_id bigint REFERENCES messages(id) ON DELETE CASCADE,
            attempts integer NOT NULL DEFAULT 0,
            last_error text,
            finished_at timestamptz,
            pruned_at timestamptz NOT NULL
        );
        CREATE INDEX pruned_jobs_message ON pruned_jobs (message_id);
        """
    )
