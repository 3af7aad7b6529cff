"""Each inbound message's own classification (``message_sentiments``), kept so that a retried
job reuses it instead of asking the model again."""

from __future__ import annotations

from sqlite_utils import Database

from db.sqlite._connection import one
from db.sqlite.leads import set_lead_sentiment


def get_sentiment(database: Database, message_id: int) -> dict | None:
    """The message's classification row (``sentiment_tag``, ``classified_by``, ...), or None."""
    return one(database, "SELECT * FROM message_sentiments WHERE message_id = ?", (message_id,))


def record_sentiment(
    database: Database,
    message_id: int,
    lead_id: int,
    sentiment_tag: str,
    status: str,
    classified_by: str,
    now: str,
) -> bool:
    """Keep the message's classification (the first one stays) and, in the same transaction,
    set the lead's tag and status from it by the lead's own rules
    (:func:`db.sqlite.leads.set_lead_sentiment`); returns whether the lead changed."""
    database.execute(
        """INSERT INTO message_sentiments (message_id, client_id, sentiment_tag, classified_by,
                                           created_at)
           SELECT id, client_id, :tag, :by, :now FROM messages WHERE id = :message
           ON CONFLICT (message_id) DO NOTHING""",
        {"message": message_id, "tag": sentiment_tag, "by": classified_by, "now": now},
    )
    return set_lead_sentiment(database, lead_id, sentiment_tag, status, now, message_id)
