"""``message_sentiments``: each inbound message's own classification, kept for retries."""

from __future__ import annotations

from sqlite_utils import Database

from db.sqlite.migrations._registry import in_list as _in
from db.sqlite.migrations._registry import migrations

# Frozen copies of the vocabularies as of this migration (db.vocab holds the live lists).
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


@migrations()
def m008_message_sentiments(db: Database) -> None:
    """One row per classified message: its tag and whether a rule or the model gave it.

    Written in the same transaction as the lead's sentiment, so a retried job reuses it and
    never pays for the classification again. Removed with its message.
    """
    db.executescript(
        f"""
        CREATE TABLE message_sentiments (
            message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
            client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
            sentiment_tag TEXT NOT NULL CHECK (sentiment_tag IN {_in(SENTIMENT_TAGS)}),
            classified_by TEXT NOT NULL CHECK (classified_by IN {_in(CLASSIFIED_BY)}),
            created_at TEXT NOT NULL
        );
        """
    )
