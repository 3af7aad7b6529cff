"""The group-commit writer: one thread owns the write connection.

Every in-process write is a *unit of work*: a function ``fn(db, *args)`` run on the writer
thread's connection. The writer takes all units waiting at that moment, runs them in one
``BEGIN IMMEDIATE`` transaction, commits once (one fsync for the batch) and only then resolves
the callers' futures.

A unit that raises fails alone: the batch is rolled back and run again with a SAVEPOINT per
unit, so the failing unit's writes are undone and the others commit. (The first run has no
savepoints: they cost two statements per unit and failures are rare.) So a unit may run twice
before it commits, and must touch nothing but the database.

``db.batch_memo`` is a dict that lives for one transaction, for facts a unit may reuse within
it (the write lock is held, so they cannot change): the ingest operation checks a token once
per batch with it.
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
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from db.errors import DatabaseUnavailable
from db.sqlite._connection import connect, is_unavailable

log = logging.getLogger("leadhook.db")

T = TypeVar("T")
MAX_BATCH = 512


@dataclass
class _Unit:
    fn: Callable[..., Any]
    args: tuple
    # A concurrent.futures.Future (threads), or an asyncio future of ``loop`` (coroutines).
    future: Any
    context: contextvars.Context
    deadline: float | None = None
    loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> bool:
        """False if the caller gave up before the unit ran (it is then skipped)."""
        if self.loop is None:
            return self.future.set_running_or_notify_cancel()
        return not self.future.done()


def _settle(outcomes: list[tuple[Any, Any, BaseException | None]]) -> None:
    """Resolve asyncio futures (on their loop's thread)."""
    for future, result, exc in outcomes:
        if future.done():
            continue
        if exc is None:
            future.set_result(result)
        else:
            future.set_exception(exc)


def _deliver(outcomes: list[tuple[_Unit, Any, BaseException | None]]) -> None:
    """Hand results to the callers: one wake-up per event loop for the whole batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list] = {}
    for unit, result, exc in outcomes:
        if unit.loop is not None:
            by_loop.setdefault(unit.loop, []).append((unit.future, result, exc))
        elif not unit.future.done():
            if exc is None:
                unit.future.set_result(result)
            else:
                unit.future.set_exception(exc)
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
            loop.call_soon_threadsafe(_settle, items)


class _Watchdog:
    """Fails the waiting writes of one event loop that outlive their deadline by far.

    The writer enforces deadlines itself; this only guards against a wedged writer (a disk
    that never answers), with one timer per loop and second instead of one per request.
    """

    GRACE_SECONDS = 5.0

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: dict[asyncio.Future, float] = {}
        self.armed = False

    def watch(self, future: asyncio.Future, deadline: float) -> None:
        self.waiting[future] = deadline + self.GRACE_SECONDS
        if not self.armed:
            self.armed = True
            self.loop.call_later(1.0, self.sweep)

    def sweep(self) -> None:
        now = time.monotonic()
        for future, limit in list(self.waiting.items()):
            if future.done():
                del self.waiting[future]
            elif now > limit:
                del self.waiting[future]
                future.set_exception(DatabaseUnavailable("the write was not committed in time"))
        self.armed = bool(self.waiting)
        if self.armed:
            self.loop.call_later(1.0, self.sweep)


class Writer:
    """Owns the SQLite file's write connection for one process, and its read connections."""

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
        self._watchdogs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        # Counters for benchmarks and operators: committed batches and units, and the seconds
        # the writer spent in batches and in COMMIT (the fsync).
        self.batches = 0
        self.batch_seconds = 0.0
        self.commit_seconds = 0.0
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
        if self._closed:
            raise DatabaseUnavailable("the store is closed")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        deadline = time.monotonic() + timeout if timeout is not None else None
        self._queue.put(_Unit(fn, args, future, contextvars.copy_context(), deadline, loop))
        if deadline is not None:
            watchdog = self._watchdogs.get(loop)
            if watchdog is None:
                watchdog = self._watchdogs[loop] = _Watchdog(loop)
            watchdog.watch(future, deadline)
        return await future

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
        now = started = time.monotonic()
        live: list[_Unit] = []
        late: list[_Unit] = []
        for unit in batch:
            if not unit.start():
                continue
            (late if unit.deadline is not None and now > unit.deadline else live).append(unit)
        self._fail(late, DatabaseUnavailable("timed out waiting for the writer"))
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
        outcomes = self._run_units(conn, live, savepoints=False)
        if outcomes is None:  # a unit failed: run the batch again, each unit on its own
            if not conn.in_transaction:
                return  # the transaction died with it: every unit was failed
            conn.execute("ROLLBACK")
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self._fail(live, DatabaseUnavailable(str(exc)))
                return
            outcomes = self._run_units(conn, live, savepoints=True)
            if outcomes is None:
                return
        committing = time.monotonic()
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.warning("commit failed: %s (%d writes refused)", exc, len(live))
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._fail(live, DatabaseUnavailable(str(exc)))
            return
        done_at = time.monotonic()
        self.batches += 1
        self.units += len(live)
        self.commit_seconds += done_at - committing
        self.batch_seconds += done_at - started
        _deliver(outcomes)

    def _run_units(
        self, conn: sqlite3.Connection, live: list[_Unit], *, savepoints: bool
    ) -> list[tuple[_Unit, Any, BaseException | None]] | None:
        """Run the units in the open transaction. Without savepoints, None at the first
        failure (the caller retries with them); with them, None if the transaction died
        (every unit was then failed)."""
        self._writer_db.batch_memo = {}
        outcomes: list[tuple[_Unit, Any, BaseException | None]] = []
        for unit in live:
            if savepoints:
                conn.execute("SAVEPOINT unit")
            try:
                result = unit.context.run(unit.fn, self._writer_db, *unit.args)
            except BaseException as exc:
                if not savepoints and conn.in_transaction:
                    return None
                if not conn.in_transaction:  # the error destroyed the whole transaction
                    log.warning("write transaction aborted: %s", exc)
                    self._fail(live, DatabaseUnavailable(str(exc)))
                    return None
                conn.execute("ROLLBACK TO unit")
                conn.execute("RELEASE unit")
                error = DatabaseUnavailable(str(exc)) if is_unavailable(exc) else exc
                outcomes.append((unit, None, error))
            else:
                if savepoints:
                    conn.execute("RELEASE unit")
                outcomes.append((unit, result, None))
        return outcomes

    @staticmethod
    def _fail(units: list[_Unit], exc: BaseException) -> None:
        _deliver([(unit, None, exc) for unit in units])
