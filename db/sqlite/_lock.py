"""One server per SQLite file: an exclusive ``flock`` on ``<database>.lock``.

``leadhook serve`` takes it before anything else and holds it for the life of the process
(the kernel drops it when the process ends, even on SIGKILL, so a stale file never blocks a
start). The holder writes who it is into the file, one JSON line: ``pid``, ``host``,
``started_at``, ``command``; a second server reads that to say who is in the way. The file is
never removed (removing it while a server runs would let a second one lock a new file): the
next holder overwrites it.

``flock`` works between processes of one host; keep the database on a local filesystem.
Locks held by this process are in :data:`HELD` (by the database's real path), so that
readiness can check that the file still is the one locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from pathlib import Path

from db.errors import DatabaseInUse
from db.sqlite._connection import FILE_MODE, narrow_mode, private_folder
from db.time import iso, utcnow


def lock_path_of(db_path: str | Path) -> Path:
    return Path(f"{db_path}.lock")


class ServerLock:
    """The lock this process holds on one database file."""

    def __init__(self, db_path: Path, fd: int, holder: dict) -> None:
        self.db_path = db_path
        self.path = lock_path_of(db_path)
        self.holder = holder
        self._fd: int | None = fd

    def problem(self) -> str | None:
        """None while ``<database>.lock`` is still the file this process locked."""
        if self._fd is None:
            return "released"
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            return f"lost: {self.path} was removed, so a second server could start on this file"
        mine = os.fstat(self._fd)
        if (on_disk.st_dev, on_disk.st_ino) != (mine.st_dev, mine.st_ino):
            return f"lost: {self.path} was replaced, so a second server could start on this file"
        return None

    def release(self) -> None:
        if self._fd is not None:
            HELD.pop(_key(self.db_path), None)
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> ServerLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


HELD: dict[str, ServerLock] = {}


def _key(db_path: str | Path) -> str:
    return os.path.realpath(db_path)


def acquire(db_path: str | Path, *, command: str = "") -> ServerLock:
    """Take the server lock of ``db_path``, or raise :class:`DatabaseInUse` naming its holder
    (the database itself is not touched either way)."""
    db_path = Path(db_path)
    path = lock_path_of(db_path)
    private_folder(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read(fd)
        os.close(fd)
        raise DatabaseInUse(str(db_path), holder) from None
    except BaseException:
        os.close(fd)
        raise
    narrow_mode(path)
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": iso(utcnow()),
        "command": command,
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
    os.fsync(fd)
    lock = ServerLock(db_path, fd, holder)
    HELD[_key(db_path)] = lock
    return lock


def held(db_path: str | Path) -> ServerLock | None:
    """The lock this process holds on ``db_path``, if any."""
    return HELD.get(_key(db_path))


def _read(fd: int) -> dict:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        if isinstance(data, dict):
            return data
    return {}
