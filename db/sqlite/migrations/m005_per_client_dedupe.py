"""Every dedupe column of ``messages`` unique per client instead of across all clients."""

from __future__ import annotations

from sqlite_utils import Database

from db.sqlite.migrations._registry import migrations

# The dedupe columns as of this migration (a frozen copy; db.vocab holds the live list).
_DEDUPE_COLUMNS = (
    "ghl_id",
    "email_reply_id",
    "unipile_message_id",
    "webhook_dedupe_key",
    "scheduled_email_id",
)


@migrations()
def m005_per_client_dedupe(db: Database) -> None:
    """``UNIQUE (client_id, <column>)`` for each dedupe column (partial: ``WHERE <column> IS
    NOT NULL``), replacing m001's ``UNIQUE (<column>)``.

    Two workspaces' providers share id spaces (EmailBison reply ids are sequential integers),
    so a global index let one workspace's stored id block, and reveal, another's delivery.
    Rows that were unique across all clients are unique per client: the new indexes are
    built before the old ones go, so the file is never without a unique index, and no row
    can fail. Nothing is dropped but the old indexes.
    """
    for column in _DEDUPE_COLUMNS:
        db.execute(
            f"CREATE UNIQUE INDEX messages_client_{column} ON messages (client_id, {column}) "
            f"WHERE {column} IS NOT NULL"
        )
        db.execute(f"DROP INDEX messages_{column}")
