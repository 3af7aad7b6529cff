"""The store: one writer thread with group commit, and per-thread read connections.

Every in-process write is a *unit of work*: a function ``fn(db, *args)`` run on the writer
thread's connection. The writer takes all units waiting at that moment, runs each inside its
own SAVEPOINT within one ``BEGIN IMMEDIATE`` transaction, commits once (one fsync for the
batch) and only then resolves the callers' futures. A unit that raises is rolled back to its
savepoint and fails alone; the others still commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from db._connection import connect
from db._errors import DatabaseUnavailable

log = logging.getLogger("leadhook.db")

T = TypeVar("T")
MAX_BATCH = 512


@dataclass
class _Unit:
    fn: Callable[..., Any]
    args: tuple
    future: Future
    context: contextvars.Context
    deadline: float | None = None
    result: Any = field(default=None)


def _is_unavailable(exc: BaseException) -> bool:
    """Errors that mean "the database cannot take writes now", not "this unit is wrong"."""
    return isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) and not isinstance(
        exc, sqlite3.IntegrityError | sqlite3.ProgrammingError
    )


class Store:
    """Owns the SQLite file for one process: a group-committing writer and readers."""

    def __init__(
        self, path: str | Path, *, busy_timeout_ms: int = 5000, max_batch: int = MAX_BATCH
    ) -> None:
        self.path = str(path)
        self.max_batch = max(1, max_batch)
        self.busy_timeout_ms = busy_timeout_ms
        self._queue: queue.SimpleQueue[_Unit | None] = queue.SimpleQueue()
        self._local = threading.local()
        self._readers: list[Database] = []
        self._readers_lock = threading.Lock()
        self._writer_db = connect(self.path, busy_timeout_ms=busy_timeout_ms)
        self._thread = threading.Thread(target=self._run, name="leadhook-writer", daemon=True)
        self._closed = False
        self.batches = 0
        self.units = 0
        self._thread.start()

    # -- writes -----------------------------------------------------------------------------

    def submit(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> Future:
        """Queue ``fn(db, *args)`` for the writer; the future resolves after its commit."""
        if self._closed:
            raise DatabaseUnavailable("the store is closed")
        future: Future = Future()
        deadline = time.monotonic() + timeout if timeout is not None else None
        self._queue.put(_Unit(fn, args, future, contextvars.copy_context(), deadline))
        return future

    def write_sync(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """Blocking form of :meth:`write`, for threads (never the event loop)."""
        future = self.submit(fn, *args, timeout=timeout)
        try:
            return future.result(timeout=None if timeout is None else timeout + 1)
        except TimeoutError:
            future.cancel()
            raise DatabaseUnavailable("the write was not committed in time") from None

    async def write(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """Run ``fn(db, *args)`` on the writer and wait for the commit that contains it.

        Raises :class:`DatabaseUnavailable` when it is not committed within ``timeout``
        seconds; a unit that times out while still queued is dropped, never run.
        """
        future = self.submit(fn, *args, timeout=timeout)
        try:
            return await asyncio.wait_for(
                asyncio.wrap_future(future), None if timeout is None else timeout + 1
            )
        except TimeoutError:
            raise DatabaseUnavailable("the write was not committed in time") from None

    # -- reads ------------------------------------------------------------------------------

    def reader(self) -> Database:
        """This thread's read connection (WAL: readers never wait for the writer)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path, busy_timeout_ms=self.busy_timeout_ms)
            self._local.db = db
            with self._readers_lock:
                self._readers.append(db)
        return db

    def read_sync(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(self.reader(), *args)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(db, *args)`` on a worker thread (context variables are copied)."""
        return await asyncio.to_thread(self.read_sync, fn, *args)

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Commit what is queued, stop the writer, close every connection."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=30)
        self._writer_db.close()
        with self._readers_lock:
            for db in self._readers:
                with contextlib.suppress(sqlite3.ProgrammingError):
                    db.close()
            self._readers.clear()

    # -- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            unit = self._queue.get()
            if unit is None:
                break
            batch = [unit]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
            try:
                self._run_batch(batch)
            except BaseException:  # never let the writer thread die
                log.exception("writer batch failed")
                self._fail(batch, DatabaseUnavailable("internal writer error"))

    def _run_batch(self, batch: list[_Unit]) -> None:
        now = time.monotonic()
        live: list[_Unit] = []
        for unit in batch:
            if not unit.future.set_running_or_notify_cancel():
                continue
            if unit.deadline is not None and now > unit.deadline:
                unit.future.set_exception(DatabaseUnavailable("timed out waiting for the writer"))
                continue
            live.append(unit)
        if not live:
            return
        conn = self._writer_db.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            log.warning("database not writable: %s (%d writes refused)", exc, len(live))
            self._fail(live, DatabaseUnavailable(str(exc)))
            return
        # Waiting for the lock may have outlived some callers: they were answered already.
        now = time.monotonic()
        expired = [u for u in live if u.deadline is not None and now > u.deadline]
        if expired:
            self._fail(expired, DatabaseUnavailable("timed out waiting for the write lock"))
            live = [u for u in live if u not in expired]
        done: list[tuple[_Unit, BaseException | None]] = []
        for unit in live:
            conn.execute("SAVEPOINT unit")
            try:
                unit.result = unit.context.run(unit.fn, self._writer_db, *unit.args)
            except BaseException as exc:
                if not conn.in_transaction:  # the error destroyed the whole transaction
                    log.warning("write transaction aborted: %s", exc)
                    self._fail(live, DatabaseUnavailable(str(exc)))
                    return
                conn.execute("ROLLBACK TO unit")
                conn.execute("RELEASE unit")
                done.append((unit, DatabaseUnavailable(str(exc)) if _is_unavailable(exc) else exc))
            else:
                conn.execute("RELEASE unit")
                done.append((unit, None))
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.warning("commit failed: %s (%d writes refused)", exc, len(live))
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._fail(live, DatabaseUnavailable(str(exc)))
            return
        self.batches += 1
        self.units += len(live)
        for unit, exc in done:
            if exc is None:
                unit.future.set_result(unit.result)
            else:
                unit.future.set_exception(exc)

    @staticmethod
    def _fail(units: list[_Unit], exc: BaseException) -> None:
        for unit in units:
            if not unit.future.done():
                unit.future.set_exception(exc)
