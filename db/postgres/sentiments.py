"""Each inbound message's own classification on Postgres (as :mod:`db.sqlite.sentiments`)."""

from __future__ import annotations

import psycopg

from db.postgres._sql import one
from db.postgres.leads import set_lead_sentiment


def get_sentiment(conn: psycopg.Connection, message_id: int) -> dict | None:
    return one(conn, "SELECT * FROM message_sentiments WHERE message_id = %s", (message_id,))


def record_sentiment(
    conn: psycopg.Connection,
    message_id: int,
    lead_id: int,
    sentiment_tag: str,
    status: str,
    classified_by: str,
    now: str,
) -> bool:
    conn.execute(
        """INSERT INTO message_sentiments (message_id, client_id, sentiment_tag, classified_by,
                                           created_at)
           SELECT id, client_id, %(tag)s::text, %(by)s::text, %(now)s::timestamptz
             FROM messages WHERE id = %(message)s
           ON CONFLICT (message_id) DO NOTHING""",
        {"message": message_id, "tag": sentiment_tag, "by": classified_by, "now": now},
    )
    return set_lead_sentiment(conn, lead_id, sentiment_tag, status, now, message_id)
