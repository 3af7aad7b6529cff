"""The embedded backend: one SQLite file, one group-committing writer thread, WAL readers.

:class:`SqliteStore` is :class:`db.Store` over :class:`db.sqlite._writer.Writer`. Its
operations are the units of work in :mod:`db.sqlite.ops`. Driver errors are mapped here:
"cannot write now" (locked, disk full, read-only, I/O) to ``DatabaseUnavailable``, anything
else to ``DatabaseError``.

Readiness (:meth:`SqliteStore.readiness`): ``database`` commits a real row through the writer
within :data:`PROBE_TIMEOUT` seconds; ``disk`` wants free space on the filesystem and room
under ``max_page_count`` (:mod:`db.sqlite._health`); ``writer`` is failing after three writes
in a row were refused; ``lock`` (in ``leadhook serve``) wants ``<database>.lock`` to still be
the file this process locked (:mod:`db.sqlite._lock`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from db.errors import DatabaseError, DatabaseMissing
from db.sqlite import _lock, ops
from db.sqlite._connection import BUSY_TIMEOUT_MS, connect
from db.sqlite._health import DISK_FREE_MIN_BYTES, disk_problem, probe
from db.sqlite._writer import MAX_BATCH, Writer
from db.sqlite.migrations import migrate
from db.store import DEFAULT_WRITE_TIMEOUT, Store
from db.time import iso, utcnow

__all__ = ["SqliteStore", "connect", "migrate"]
PROBE_TIMEOUT = 2.0


def _noop(_: Any) -> None:
    """A unit of work that writes nothing: units commit in order, so awaiting it flushes."""


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
        create: bool = True,
    ) -> None:
        super().__init__(write_timeout=write_timeout)
        self.ops = ops
        self.path = str(path)
        # Free space below which readiness says the disk is full (an attribute for tests).
        self.disk_free_min_bytes = DISK_FREE_MIN_BYTES
        if not create and not Path(self.path).is_file():
            raise DatabaseMissing(str(Path(self.path).resolve()))
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

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        facts = None
        try:
            facts = await self._write(probe, iso(utcnow()), timeout=PROBE_TIMEOUT)
            checks["database"] = "ok"
        except DatabaseError as exc:
            checks["database"] = f"not writable: {exc}"
        checks["disk"] = disk_problem(self.path, facts, self.disk_free_min_bytes) or "ok"
        checks["writer"] = self.writer.health.problem() or "ok"
        lock = _lock.held(self.path)
        if lock is not None:
            checks["lock"] = lock.problem() or "ok"
        return checks

    async def flush(self, timeout: float | None = 30.0) -> None:
        await self._write(_noop, timeout=timeout)

    def close(self) -> None:
        super().close()
        self.writer.close()
