"""AI reply drafts on Postgres (as :mod:`db.sqlite.drafts`)."""

from __future__ import annotations

import psycopg

from db.postgres._sql import one
from db.postgres.leads import OPTED_OUT


def get_draft(conn: psycopg.Connection, trigger_message_id: int, channel: str) -> dict | None:
    return one(
        conn,
        "SELECT * FROM ai_drafts WHERE trigger_message_id = %s AND channel = %s",
        (trigger_message_id, channel),
    )


def insert_draft(
    conn: psycopg.Connection,
    client_id: int,
    lead_id: int,
    trigger_message_id: int,
    channel: str,
    body: str,
    now: str,
) -> tuple[int, bool]:
    found = one(
        conn,
        f"""INSERT INTO ai_drafts (client_id, lead_id, trigger_message_id, channel, body, status,
                                  created_at, updated_at)
           SELECT %(client_id)s::bigint, %(lead_id)s::bigint, %(message_id)s::bigint,
                  %(channel)s::text, %(body)s::text,
                  CASE WHEN EXISTS (SELECT 1 FROM leads WHERE id = %(lead_id)s AND {OPTED_OUT})
                       THEN 'rejected' ELSE 'pending' END,
                  %(now)s::timestamptz, %(now)s::timestamptz
           ON CONFLICT (trigger_message_id, channel) DO NOTHING RETURNING id""",
        {
            "client_id": client_id,
            "lead_id": lead_id,
            "message_id": trigger_message_id,
            "channel": channel,
            "body": body,
            "now": now,
        },
    )
    if found is not None:
        return found["id"], True
    existing = get_draft(conn, trigger_message_id, channel)
    assert existing is not None
    return existing["id"], False
