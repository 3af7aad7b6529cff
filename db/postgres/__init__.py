"""The shared backend: one PostgreSQL database, any number of leadhook processes on any hosts.

:class:`PostgresStore` is :class:`db.Store` over :class:`db.postgres._transport.Transport`
(a ``psycopg_pool`` pool, operations on worker threads, one transaction each). Its operations
are in :mod:`db.postgres.ops`, by the same names and arguments as SQLite's. What differs
from SQLite, and why the guarantees still hold with many processes:

- exactly once: the ``UNIQUE (client_id, <column>)`` indexes decide (``INSERT ... ON CONFLICT
  DO NOTHING RETURNING`` and a re-read of the winner); read-then-write steps (the GoHighLevel
  repeat chain, finding or creating a lead, the pruned-jobs check) are serialised per key by
  transaction advisory locks or re-checked after the write;
- jobs: claims take ``FOR UPDATE SKIP LOCKED`` rows; every commit that makes a job due is
  followed by ``NOTIFY leadhook_jobs`` (:mod:`db.postgres._notify`: sent right after the
  commit, not inside it, so commits are not serialised), which
  :meth:`PostgresStore.listen_for_jobs` turns into a call of the runner's wake in every
  process (the poll stays the fallback);
- the daily maintenance runs in one process a day (:meth:`PostgresStore.maintenance_turn`:
  ``pg_try_advisory_lock`` and the time of the last run);
- migrations run under ``pg_advisory_lock`` (:mod:`db.postgres.migrations`), so servers
  starting together apply each migration once;
- no server lock: many servers share the database by design.

Readiness: ``database`` commits a real row (``_leadhook_readiness``) within
:data:`PROBE_TIMEOUT` seconds; ``disk`` is the server's own business (a full disk fails that
write); ``writer`` is failing after three writes in a row were refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from typing import Any

from db.errors import DatabaseMissing, DatabaseUnavailable
from db.postgres import ops
from db.postgres._notify import JobListener, JobNotifier
from db.postgres._sql import MAINTENANCE_LOCK, one
from db.postgres._transport import Transport, connect, redact
from db.postgres.migrations import migrate, schema_exists
from db.store import DEFAULT_WRITE_TIMEOUT, Store
from db.time import iso, parse_iso, utcnow

__all__ = ["PostgresStore", "is_postgres_url", "redact"]
log = logging.getLogger("leadhook.db")
PROBE_TIMEOUT = 2.0
POOL_SIZE = 10


def is_postgres_url(target: object) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


def _probe(conn: Any, checked_at: str) -> None:
    conn.execute(
        """INSERT INTO _leadhook_readiness (id, checked_at, pid, host) VALUES (1, %s, %s, %s)
           ON CONFLICT (id) DO UPDATE SET checked_at = EXCLUDED.checked_at,
               pid = EXCLUDED.pid, host = EXCLUDED.host""",
        (checked_at, os.getpid(), socket.gethostname()),
    )


class PostgresStore(Store):
    """:class:`db.Store` on a PostgreSQL database (see the module docstring)."""

    backend = "postgres"

    def __init__(
        self,
        url: str,
        *,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
        apply_migrations: bool = True,
        create: bool = True,
        pool_size: int = POOL_SIZE,
    ) -> None:
        super().__init__(write_timeout=write_timeout)
        self.ops = ops
        self.url = url
        self.path = redact(url)
        if apply_migrations or not create:
            with contextlib.closing(connect(url)) as conn:
                if not create and not schema_exists(conn):
                    raise DatabaseMissing(f"{self.path} (no leadhook schema there)")
                if apply_migrations:
                    self.applied_migrations = migrate(conn)
        self.transport = Transport(url, pool_size=pool_size)
        self.notifier = JobNotifier(url)
        self.transport.on_jobs_due = self.notifier.request
        self._listeners: list[JobListener] = []

    # -- transport ----------------------------------------------------------------------------

    async def _write(self, fn: Callable[..., Any], *args: Any, timeout: float | None) -> Any:
        return await asyncio.wrap_future(self.transport.call(fn, args, timeout, True))

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.wrap_future(self.transport.call(fn, args, None, False))

    def _submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self.transport.call(fn, args, None, True)

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            await self._write(_probe, iso(utcnow()), timeout=PROBE_TIMEOUT)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"not writable: {exc}"
        checks["disk"] = "ok"  # the database server's: a full disk fails the probe's write
        checks["writer"] = self.transport.health.problem() or "ok"
        return checks

    async def flush(self, timeout: float | None = 30.0) -> None:
        pending = self.transport.pending()
        if not pending:
            return
        waiting = [asyncio.wrap_future(f) for f in pending]
        done, not_done = await asyncio.wait(waiting, timeout=timeout)
        for task in done:
            task.exception()  # retrieved: the caller of submit sees it
        if not_done:
            raise DatabaseUnavailable(f"{len(not_done)} writes were not committed in time")

    def close(self) -> None:
        for listener in self._listeners:
            listener.stop()
        self._listeners.clear()
        super().close()
        self.transport.close()
        self.notifier.stop()

    # -- many processes -----------------------------------------------------------------------

    def listen_for_jobs(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (from a thread) whenever a commit in any process made a job due,
        and once after each (re)connection; returns the function that stops listening."""
        listener = JobListener(self.url, callback)
        self._listeners.append(listener)
        listener.start()
        return listener.stop

    @contextlib.asynccontextmanager
    async def maintenance_turn(self, *, now: str, every_seconds: float) -> AsyncIterator[bool]:
        """True for the one process whose turn the daily maintenance is: it holds the
        advisory lock (a session lock on a connection kept for the run) and the last run
        recorded is at least ``every_seconds`` old. The run is recorded when the block ends
        without an error."""
        conn = await asyncio.to_thread(connect, self.url)
        try:
            locked = await asyncio.to_thread(_try_lock, conn)
            if not locked:
                yield False
                return
            try:
                last = await asyncio.to_thread(_last_run, conn)
                due = last is None or (
                    (parse_iso(now) - parse_iso(last)).total_seconds() >= every_seconds
                )
                yield due
                if due:
                    await asyncio.to_thread(_record_run, conn, now)
            finally:
                await asyncio.to_thread(conn.execute, "SELECT pg_advisory_unlock(%s)",
                                        (MAINTENANCE_LOCK,))  # fmt: skip
        finally:
            await asyncio.to_thread(conn.close)


def _try_lock(conn: Any) -> bool:
    found = one(conn, "SELECT pg_try_advisory_lock(%s) AS locked", (MAINTENANCE_LOCK,))
    return bool(found and found["locked"])


def _last_run(conn: Any) -> str | None:
    found = one(conn, "SELECT last_run_at FROM _leadhook_maintenance WHERE name = 'daily'")
    return found["last_run_at"] if found else None


def _record_run(conn: Any, now: str) -> None:
    conn.execute(
        """INSERT INTO _leadhook_maintenance (name, last_run_at, pid, host)
           VALUES ('daily', %s, %s, %s)
           ON CONFLICT (name) DO UPDATE SET last_run_at = EXCLUDED.last_run_at,
               pid = EXCLUDED.pid, host = EXCLUDED.host""",
        (now, os.getpid(), socket.gethostname()),
    )
