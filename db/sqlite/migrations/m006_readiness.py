"""``_leadhook_readiness``: where readiness proves that the file takes a real write."""

from __future__ import annotations

from sqlite_utils import Database

from db.sqlite.migrations._registry import migrations


@migrations()
def m006_readiness(db: Database) -> None:
    """One row, rewritten by every readiness check (``GET /readyz``) of the server: when the
    file last took a write, and from which process. An empty transaction proves nothing (it
    commits on a full disk); this row's write goes through the same writer, lock and fsync
    as a webhook's."""
    db.execute(
        """
        CREATE TABLE _leadhook_readiness (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            checked_at TEXT NOT NULL,
            pid INTEGER NOT NULL,
            host TEXT NOT NULL
        )
        """
    )
