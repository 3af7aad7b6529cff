"""Errors raised by the storage interface. No driver exception ever leaves :mod:`db`.

DatabaseError
 ├── DatabaseUnavailable   the write could not be committed in time: locked by another
 │                         process past the busy timeout, disk full, read-only file, I/O
 │                         error, a closed store. Nothing of that operation was kept.
 │                         Webhooks answer 429 so that the provider redelivers.
 ├── DatabaseMissing       the database file does not exist and the caller asked not to
 │                         create it (every CLI command but serve and db migrate).
 ├── DatabaseInUse         another process serves this SQLite file: its lock file names it
 │                         (``holder``: pid, host, start time, command).
 ├── TokenRevoked          the client token stopped being valid (rotated, client removed)
 │                         between the request's authentication and its write: nothing
 │                         was written.
 └── DuplicateWorkspace    a client with that workspace id (GoHighLevel location, Unipile
                           account, email workspace) exists already.
"""

from __future__ import annotations


class DatabaseError(Exception):
    """Base class of the errors of :mod:`db`."""


class DatabaseUnavailable(DatabaseError):
    """The database could not take the write in time; nothing was written."""


class DatabaseMissing(DatabaseError):
    """There is no database at ``path`` (nothing was created)."""

    def __init__(self, path: str) -> None:
        super().__init__(f"there is no database at {path}")
        self.path = path


class DatabaseInUse(DatabaseError):
    """Another process holds the file's server lock; ``holder`` is what it wrote there."""

    def __init__(self, path: str, holder: dict) -> None:
        self.path = path
        self.holder = holder
        super().__init__(f"{path} is in use by {describe_holder(holder)}")


def describe_holder(holder: dict) -> str:
    """``pid 1234 on host web1 since 2026-01-18T10:00:00.000Z (leadhook serve --port 8000)``."""
    if not holder.get("pid"):
        return "another process (it has not written its name yet)"
    text = f"pid {holder['pid']}"
    if holder.get("host"):
        text += f" on host {holder['host']}"
    if holder.get("started_at"):
        text += f" since {holder['started_at']}"
    if holder.get("command"):
        text += f" ({holder['command']})"
    return text


class TokenRevoked(DatabaseError):
    """The token is no longer the client's; the operation wrote nothing."""


class DuplicateWorkspace(DatabaseError):
    """Another client already has that workspace id."""
