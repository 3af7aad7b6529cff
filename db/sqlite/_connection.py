"""Opening the SQLite file with the PRAGMAs every connection needs, and small query helpers."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

T = TypeVar("T")
BUSY_TIMEOUT_MS = 5000
MIN_SQLITE = (3, 35, 0)  # RETURNING


def connect(path: str | Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Database:
    """Open ``path`` (creating its folder) in WAL mode with ``synchronous=FULL``.

    The connection is in autocommit mode (``isolation_level=None``): transactions are opened
    explicitly, with ``BEGIN IMMEDIATE`` whenever they may write.
    """
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise RuntimeError(f"SQLite {sqlite3.sqlite_version} is too old; 3.35 or newer is needed")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path, timeout=busy_timeout_ms / 1000, check_same_thread=False, isolation_level=None
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA foreign_keys = ON")
    # Acknowledged means on disk: fsync the WAL at every commit.
    conn.execute("PRAGMA synchronous = FULL")
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    return Database(conn, execute_plugins=False)


def rows(db: Database, sql: str, params: tuple | dict = ()) -> list[dict]:
    """Run ``sql`` and return every row as a dict (fetching all, so RETURNING completes)."""
    cursor = db.execute(sql, params)
    if cursor.description is None:
        return []
    keys = [d[0] for d in cursor.description]
    return [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]


def one(db: Database, sql: str, params: tuple | dict = ()) -> dict | None:
    found = rows(db, sql, params)
    return found[0] if found else None


def transaction(database: Database, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(database, *args)`` in its own ``BEGIN IMMEDIATE`` transaction.

    For a plain connection without the writer (migrations, tests): the write lock is taken
    before the first read, so a read-then-write cannot be invalidated by another writer.
    """
    database.execute("BEGIN IMMEDIATE")
    try:
        result = fn(database, *args)
    except BaseException:
        database.execute("ROLLBACK")
        raise
    database.execute("COMMIT")
    return result


def is_unavailable(exc: BaseException) -> bool:
    """Errors that mean "the database cannot take writes now", not "this unit is wrong"."""
    return isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) and not isinstance(
        exc, sqlite3.IntegrityError | sqlite3.ProgrammingError
    )
