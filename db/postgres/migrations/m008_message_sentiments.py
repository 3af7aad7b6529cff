"""``message_sentiments``: each inbound message's own classification (as SQLite's m008)."""

from __future__ import annotations

import psycopg

from db.postgres.migrations._registry import in_list as _in
from db.postgres.migrations._registry import migration

SENTIMENT_TAGS = (
    "New",
    "Meeting Booked",
    "Meeting Requested",
    "Call Requested",
    "Information Requested",
    "Not Interested",
    "Blacklist",
    "Follow Up",
    "Out of Office",
    "Automated Reply",
    "Interested",
    "Neutral",
    "Snoozed",
)
CLASSIFIED_BY = ("rule", "ai")


@migration
def m008_message_sentiments(conn: psycopg.Connection) -> None:
    conn.execute(
        f"""
        CREATE TABLE message_sentiments (
            message_id bigint PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
            client_id bigint NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
            sentiment_tag text NOT NULL CHECK (sentiment_tag IN {_in(SENTIMENT_TAGS)}),
            classified_by text NOT NULL CHECK (classified_by IN {_in(CLASSIFIED_BY)}),
            created_at timestamptz NOT NULL
        );
        """
    )
