"""AI reply drafts (``ai_drafts``): at most one per (trigger message, channel); never
``pending`` for a lead that has opted out."""

from __future__ import annotations

from sqlite_utils import Database

from db.sqlite._connection import one
from db.sqlite.leads import OPTED_OUT


def get_draft(database: Database, trigger_message_id: int, channel: str) -> dict | None:
    return one(
        database,
        "SELECT * FROM ai_drafts WHERE trigger_message_id = ? AND channel = ?",
        (trigger_message_id, channel),
    )


def insert_draft(
    database: Database,
    client_id: int,
    lead_id: int,
    trigger_message_id: int,
    channel: str,
    body: str,
    now: str,
) -> tuple[int, bool]:
    """Insert the draft for (trigger message, channel) unless one exists.

    Returns ``(draft_id, created)``; ``created`` is False when a draft was already there
    (that draft is kept unchanged). A draft for a lead that has opted out (``opted_out_at``,
    also meanwhile, while it was being written) is stored ``rejected``, decided by the
    insert itself: an opted-out lead never has a ``pending`` draft.
    """
    found = one(
        database,
        f"""INSERT INTO ai_drafts (client_id, lead_id, trigger_message_id, channel, body, status,
                                  created_at, updated_at)
           SELECT :client_id, :lead_id, :message_id, :channel, :body,
                  CASE WHEN EXISTS (SELECT 1 FROM leads WHERE id = :lead_id AND {OPTED_OUT})
                       THEN 'rejected' ELSE 'pending' END,
                  :now, :now
           WHERE true
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
    existing = get_draft(database, trigger_message_id, channel)
    assert existing is not None
    return existing["id"], False
