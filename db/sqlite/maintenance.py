"""Backup and check of the SQLite file (``leadhook db backup``, ``leadhook db check``).

:func:`backup` uses SQLite's online backup API in one step on a read connection: the copy is
the snapshot of one read transaction (WAL: the server keeps writing meanwhile, and nothing it
commits later is in the copy, nor half of anything). The copy is written 0600 beside its
destination, checked (``quick_check``), fsynced and renamed into place, so a destination
either is a complete backup or does not exist. It is a plain database file without a
``-wal``: restoring it is copying it into place while no server runs.

:func:`check` runs ``integrity_check``, ``foreign_key_check`` and compares the migrations
applied to the file with those this code knows.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlite_utils import Database

from db.errors import DatabaseError
from db.sqlite._connection import narrow_mode, private_file
from db.sqlite.migrations import migrations

MAX_REPORTED = 20  # integrity_check lines and foreign key rows reported at most


def backup(database: Database, destination: str) -> dict:
    """Copy the database to ``destination`` (a file that must not exist); returns
    ``{"path", "bytes", "pages"}``. A destination that cannot be written is a
    :class:`DatabaseError` saying why."""
    try:
        return _backup(database, Path(destination))
    except OSError as exc:
        raise DatabaseError(f"cannot write {destination}: {exc.strerror or exc}") from None


def _backup(database: Database, target: Path) -> dict:
    if target.exists():
        raise DatabaseError(f"{target} exists already: give a new file name")
    source = Path(database.execute("PRAGMA database_list").fetchone()[2] or "")
    if source and target.resolve() == source.resolve():
        raise DatabaseError("the backup cannot be the database itself")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    private_file(partial)
    try:
        copy = sqlite3.connect(partial, isolation_level=None)
        try:
            database.conn.backup(copy)  # pages=-1: one step, one consistent snapshot
            verdict = copy.execute("PRAGMA quick_check").fetchone()[0]
            pages = copy.execute("PRAGMA page_count").fetchone()[0]
        finally:
            copy.close()
        if verdict != "ok":
            raise DatabaseError(f"the copy failed its check: {verdict}")
        for suffix in ("-wal", "-shm"):  # none are left after close; never ship one
            Path(f"{partial}{suffix}").unlink(missing_ok=True)
        _fsync(partial)
        narrow_mode(partial)
        os.replace(partial, target)
        _fsync(target.parent, directory=True)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return {"path": str(target), "bytes": target.stat().st_size, "pages": pages}


def _fsync(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check(database: Database) -> dict:
    """``{"integrity": [...], "foreign_keys": [...], "migrations": {...}, "problems": [...]}``:
    each list empty when fine; ``problems`` says what is wrong, one line each."""
    integrity = [row[0] for row in database.execute("PRAGMA integrity_check(100)")]
    integrity = [] if integrity == ["ok"] else integrity
    violations = database.execute("PRAGMA foreign_key_check").fetchall()
    foreign_keys = [
        f"{table} row {rowid} points to a missing {parent} row"
        for table, rowid, parent, _ in violations
    ]
    known = [m.name for m in migrations._migrations]
    applied = [m.name for m in migrations.applied(database)]
    pending = [name for name in known if name not in applied]
    unknown = [name for name in applied if name not in known]
    problems = [f"integrity: {line}" for line in integrity[:MAX_REPORTED]]
    problems += [f"foreign key: {line}" for line in foreign_keys[:MAX_REPORTED]]
    if len(foreign_keys) > MAX_REPORTED:
        problems.append(f"foreign key: {len(foreign_keys) - MAX_REPORTED} more rows")
    if pending:
        problems.append(
            f"migrations not applied: {', '.join(pending)} (run `leadhook db migrate`; "
            "`leadhook serve` applies them too)"
        )
    if unknown:
        problems.append(
            f"migrations this version does not know: {', '.join(unknown)} (the file was "
            "written by a newer leadhook: run that version)"
        )
    return {
        "integrity": integrity,
        "foreign_keys": foreign_keys,
        "migrations": {"applied": applied, "pending": pending, "unknown": unknown},
        "problems": problems,
    }
