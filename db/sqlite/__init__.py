"""The embedded backend: one SQLite file, one group-committing writer thread, WAL readers.

:class:`SqliteStore` is :class:`db.Store` over :class:`db.sqlite._writer.Writer`. Its
operations are the units of work in :mod:`db.sqlite.ops`. Driver errors are mapped here:
"cannot write now" (locked, disk full, read-only, I/O) to ``DatabaseUnavailable``, anything
else to ``DatabaseError``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from db.errors import DatabaseError
from db.sqlite import ops
from db.sqlite._connection import BUSY_TIMEOUT_MS, connect
from db.sqlite._writer import MAX_BATCH, Writer
from db.sqlite.migrations import migrate
from db.store import DEFAULT_WRITE_TIMEOUT, Store

__all__ = ["SqliteStore", "connect", "migrate"]


def _noop(_: Any) -> None:
    """A unit of work that writes nothing: units commit in order, so awaiting it flushes."""


def _probe(database: Any) -> None:
    database.execute("SAVEPOINT probe")
    database.execute("RELEASE probe")


class SqliteStore(Store):
    """:class:`db.Store` on one SQLite file (see the module docstring)."""

    backend = "sqlite"

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        max_batch: int = MAX_BATCH,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
        apply_migrations: bool = True,
    ) -> None:
        super().__init__(write_timeout=write_timeout)
        self.ops = ops
        self.path = str(path)
        if apply_migrations:
            database = connect(self.path, busy_timeout_ms=busy_timeout_ms)
            try:
                self.applied_migrations = migrate(database)
            finally:
                database.close()
        self.writer = Writer(self.path, busy_timeout_ms=busy_timeout_ms, max_batch=max_batch)

    async def _write(self, fn: Callable[..., Any], *args: Any, timeout: float | None) -> Any:
        try:
            return await self.writer.write(fn, *args, timeout=timeout)
        except sqlite3.Error as exc:
            raise DatabaseError(f"{type(exc).__name__}: {exc}") from exc

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await self.writer.read(fn, *args)
        except sqlite3.Error as exc:
            raise DatabaseError(f"{type(exc).__name__}: {exc}") from exc

    def _submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self.writer.submit(fn, *args)

    async def ready(self) -> None:
        await self._write(_probe, timeout=2.0)

    async def flush(self, timeout: float | None = 30.0) -> None:
        await self._write(_noop, timeout=timeout)

    def close(self) -> None:
        super().close()
        self.writer.close()
