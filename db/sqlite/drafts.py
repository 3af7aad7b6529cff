"""AI reply drafts (``ai_drafts``): at most one per (trigger message, channel)."""

from __future__ import annotations

from sqlite_utils import Database

from db.sqlite._connection import one


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
    (that draft is kept unchanged).
    """
    found = one(
        database,
        """INSERT INTO ai_drafts (client_id, lead_id, trigger_message_id, channel, body, status,
                                 created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)
           ON CONFLICT (trigger_message_id, channel) DO NOTHING RETURNING id""",
        (client_id, lead_id, trigger_message_id, channel, body, now, now),
    )
    if found is not None:
        return found["id"], True
    existing = get_draft(database, trigger_message_id, channel)
    assert existing is not None
    return existing["id"], False
