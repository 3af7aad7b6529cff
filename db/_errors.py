"""Errors raised by the database layer.

DatabaseError
 └── DatabaseUnavailable   the write could not be committed in time: locked by another
                           process past the busy timeout, disk full, read-only file,
                           I/O error. Nothing of that unit of work was kept. Webhooks
                           answer 429 so that the provider redelivers.
"""

from __future__ import annotations


class DatabaseError(Exception):
    """Base class of the errors of :mod:`db`."""


class DatabaseUnavailable(DatabaseError):
    """The database could not take the write in time; nothing was written."""
