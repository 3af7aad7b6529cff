"""Errors raised by the storage interface. No driver exception ever leaves :mod:`db`.

DatabaseError
 ├── DatabaseUnavailable   the write could not be committed in time: locked by another
 │                         process past the busy timeout, disk full, read-only file, I/O
 │                         error, a closed store. Nothing of that operation was kept.
 │                         Webhooks answer 429 so that the provider redelivers.
 ├── TokenRevoked          the client token stopped being valid (rotated, client removed)
 │                         between the request's authentication and its write: nothing
 │                         was written.
 ├── DedupeConflict        a provider id is already stored for another client; the
 │                         delivery is refused rather than attached to that message.
 └── DuplicateWorkspace    a client with that workspace id (GoHighLevel location, Unipile
                           account, email workspace) exists already.
"""

from __future__ import annotations


class DatabaseError(Exception):
    """Base class of the errors of :mod:`db`."""


class DatabaseUnavailable(DatabaseError):
    """The database could not take the write in time; nothing was written."""


class TokenRevoked(DatabaseError):
    """The token is no longer the client's; the operation wrote nothing."""


class DedupeConflict(DatabaseError):
    """The dedupe value belongs to another client's message (the write is rolled back)."""


class DuplicateWorkspace(DatabaseError):
    """Another client already has that workspace id."""
