"""The storage interface of leadhook: every SQL statement lives below this package.

Public surface: :func:`open_store` and :class:`Store` (the named operations), the records
(:class:`NewMessage`, :class:`LeadFields`, :class:`NewDelivery`, :class:`Client`,
:class:`IngestResult`, :class:`JobResult`), the errors (:mod:`db.errors`), the vocabularies
(:mod:`db.vocab`), time (:func:`utcnow`, :func:`iso`, :func:`parse_iso`,
:func:`normalize_time`), tokens (:func:`hash_token`) and rows written behind the caller's
back (:class:`KeptWrites`, :mod:`db.kept`). Backends live in subpackages
(``db/sqlite/``, ``db/postgres/``); nothing outside ``db/`` imports them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from db import kept, vocab
from db.errors import (
    DatabaseError,
    DatabaseInUse,
    DatabaseMissing,
    DatabaseUnavailable,
    DuplicateWorkspace,
    TokenRevoked,
)
from db.kept import KeptWrites
from db.records import (
    Client,
    IngestResult,
    JobResult,
    LeadFields,
    NewDelivery,
    NewMessage,
    Row,
    unsubscribe_answer,
)
from db.store import Store

if TYPE_CHECKING:
    from db.sqlite._lock import ServerLock
from db.time import iso, normalize_time, parse_iso, utcnow
from db.tokens import hash_token

__all__ = [
    "Client",
    "DatabaseError",
    "DatabaseInUse",
    "DatabaseMissing",
    "DatabaseUnavailable",
    "DuplicateWorkspace",
    "IngestResult",
    "JobResult",
    "KeptWrites",
    "LeadFields",
    "NewDelivery",
    "NewMessage",
    "Row",
    "Store",
    "TokenRevoked",
    "copy_to_postgres",
    "hash_token",
    "hold_server_lock",
    "is_database_url",
    "iso",
    "kept",
    "normalize_time",
    "open_store",
    "parse_iso",
    "redact",
    "unsubscribe_answer",
    "utcnow",
    "vocab",
]


def open_store(
    target: str | Path,
    *,
    busy_timeout_ms: int = 5000,
    max_batch: int = 512,
    write_timeout: float = 8.0,
    apply_migrations: bool = True,
    create: bool = True,
) -> Store:
    """The store for ``target``, migrated unless ``apply_migrations=False``: a SQLite file
    path (a missing file is created 0600, in a folder created 0700, or with ``create=False``
    refused with :class:`DatabaseMissing`), or a ``postgresql://`` URL (the shared backend;
    ``create=False`` refuses a database without leadhook's schema)."""
    if is_database_url(target):
        from db.postgres import PostgresStore

        return PostgresStore(
            str(target),
            write_timeout=write_timeout,
            apply_migrations=apply_migrations,
            create=create,
        )
    from db.sqlite import SqliteStore

    return SqliteStore(
        target,
        busy_timeout_ms=busy_timeout_ms,
        max_batch=max_batch,
        write_timeout=write_timeout,
        apply_migrations=apply_migrations,
        create=create,
    )


def is_database_url(target: str | Path) -> bool:
    """Whether ``target`` names the Postgres backend (``postgresql://`` or ``postgres://``)."""
    return str(target).startswith(("postgresql://", "postgres://"))


def redact(target: str | Path) -> str:
    """``target`` as operators may see it: a URL without its password."""
    if not is_database_url(target):
        return str(target)
    from db.postgres._transport import redact as redact_url

    return redact_url(str(target))


def copy_to_postgres(source: str | Path, url: str) -> dict[str, int]:
    """Copy the SQLite database ``source`` into the empty Postgres database ``url`` (every
    table, ids kept, sequences past them; ``leadhook db copy``); returns the rows per table,
    verified equal on both sides. :class:`DatabaseError` (nothing kept) when the target is
    not empty or the copy fails; :class:`DatabaseMissing` when there is no ``source``."""
    from db.postgres.copy import copy_to_postgres as copy

    return copy(str(source), url)


def hold_server_lock(target: str | Path, *, command: str = "") -> ServerLock | None:
    """Take the one-server lock of ``target`` for the life of this process (``leadhook
    serve`` does, before anything else); :class:`DatabaseInUse` names the process holding it.
    SQLite: an exclusive ``flock`` on ``<file>.lock``, which the holder fills with its pid,
    host, start time and ``command``. The database itself is not touched. A database URL
    (Postgres: many servers share one database) needs no lock: None."""
    if "://" in str(target):
        return None
    from db.sqlite._lock import acquire

    return acquire(target, command=command)
