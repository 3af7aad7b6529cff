"""Opening the SQLite file with the PRAGMAs every connection needs, and small query helpers.

The file holds leads' personal data and token hashes: it is readable by its owner only. A new
file is created 0600 (before SQLite opens it, so it never exists with wider rights) in
folders created 0700; SQLite gives its ``-wal`` and ``-shm`` files the database file's mode;
an existing file, ``-wal`` or ``-shm`` readable by others is narrowed to 0600 when opened.
Folders that exist already keep their mode (``LEADHOOK_DB=./x.db`` must not lock up the
current folder).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

log = logging.getLogger("leadhook.db")
T = TypeVar("T")
BUSY_TIMEOUT_MS = 5000
MIN_SQLITE = (3, 35, 0)  # RETURNING
FILE_MODE = 0o600
FOLDER_MODE = 0o700
SIDE_FILES = ("-wal", "-shm")


def private_folder(folder: Path) -> None:
    """Create ``folder`` and its missing parents, each 0700 (an existing one is left as is)."""
    missing: list[Path] = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        new.mkdir(mode=FOLDER_MODE, exist_ok=True)
        os.chmod(new, FOLDER_MODE)  # whatever the umask


def private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 if it does not exist (its folder 0700)."""
    private_folder(path.parent)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))


def narrow_mode(path: Path) -> None:
    """``path`` (if it exists) readable and writable by its owner only."""
    try:
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, FILE_MODE)
    except FileNotFoundError:
        pass
    except PermissionError as exc:  # another user's file: say so, but it stays usable
        log.warning("cannot make %s private (mode 0600): %s", path, exc)


def connect(path: str | Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Database:
    """Open ``path`` (creating it 0600, and its folder 0700) in WAL mode with
    ``synchronous=FULL``.

    The connection is in autocommit mode (``isolation_level=None``): transactions are opened
    explicitly, with ``BEGIN IMMEDIATE`` whenever they may write.
    """
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise RuntimeError(f"SQLite {sqlite3.sqlite_version} is too old; 3.35 or newer is needed")
    path = Path(path)
    if not path.exists():
        private_file(path)
    conn = sqlite3.connect(
        path, timeout=busy_timeout_ms / 1000, check_same_thread=False, isolation_level=None
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA foreign_keys = ON")
    # Acknowledged means on disk: fsync the WAL at every commit.
    conn.execute("PRAGMA synchronous = FULL")
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    for name in (str(path), *(f"{path}{suffix}" for suffix in SIDE_FILES)):
        narrow_mode(Path(name))
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


def is_busy(exc: BaseException) -> bool:
    """Another connection holds the lock (``SQLITE_BUSY``/``SQLITE_LOCKED``)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in str(exc)


def is_unavailable(exc: BaseException) -> bool:
    """Errors that mean "the database cannot take writes now", not "this unit is wrong"."""
    return isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) and not isinstance(
        exc, sqlite3.IntegrityError | sqlite3.ProgrammingError
    )
