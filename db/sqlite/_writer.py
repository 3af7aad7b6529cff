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

``db.deferred_rows`` (``{"INSERT INTO t (cols)": [params, ...]}``) collects rows a unit wants
inserted in its transaction but not one statement at a time: the writer inserts them after
the batch's last unit, before COMMIT, with one multi-row ``INSERT`` per
:data:`DEFERRED_CHUNK` rows (each statement hands the GIL back and forth between the writer
and the event loop: one per batch instead of one per request). Only in the first run of a
batch: with savepoints (after a failure) ``db.deferred_rows`` is None and units insert at
once, inside their own savepoint; a deferred insert that fails makes the batch run again that
way. A unit that defers rows gets no row ids back.

``db.rerun_on_failure`` is True in that first run (False with savepoints, and absent on a plain
connection): a unit may then skip a savepoint of its own and raise instead, since a failure
re-runs it inside one (the ingest operation does, for a message insert that loses a race).

Time bounds. A write given ``timeout`` seconds is answered within them: the writer starts it
no later than ``timeout - allowance`` (a quarter of it, at most a second, is left for its
commit), waits for another process's write lock only until the earliest such deadline of the
units waiting (never ``busy_timeout`` on top of it), and a watchdog on the caller's loop
answers by ``timeout`` even if the writer is wedged. Units without a timeout (``submit``) wait
for the lock at most ``busy_timeout_ms``. :attr:`Writer.health` counts writes that failed for
want of the database (locked, full, I/O) since the last one that committed: readiness reports
a writer that keeps failing.
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
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from db.errors import DatabaseUnavailable
from db.sqlite._connection import connect, is_busy, is_unavailable
from db.sqlite._health import WriterHealth
from db.sqlite._units import (
    LOCK_POLL_SECONDS,
    Unit,
    Watchdog,
    budget,
    deliver,
    is_refusal,
)

log = logging.getLogger("leadhook.db")

T = TypeVar("T")
MAX_BATCH = 512
DEFERRED_CHUNK = 256  # rows per multi-row INSERT (SQLite allows 32766 variables)


class Writer:
    """Owns the SQLite file's write connection for one process, and its read connections."""

    def __init__(
        self, path: str | Path, *, busy_timeout_ms: int = 5000, max_batch: int = MAX_BATCH
    ) -> None:
        self.path = str(path)
        self.max_batch = max(1, max_batch)
        self.busy_timeout_ms = busy_timeout_ms
        self._queue: queue.SimpleQueue[Unit | None] = queue.SimpleQueue()
        self._local = threading.local()
        self._readers: list[Database] = []
        self._readers_lock = threading.Lock()
        self._writer_db = connect(self.path, busy_timeout_ms=busy_timeout_ms)
        self._thread = threading.Thread(target=self._run, name="leadhook-writer", daemon=True)
        self._closed = False
        self._stopping = False
        self._busy_ms = busy_timeout_ms  # the write connection's busy timeout now
        self.health = WriterHealth()
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
        start_by, _ = budget(timeout)
        self._queue.put(Unit(fn, args, future, contextvars.copy_context(), start_by))
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
        seconds (see the module docstring); a unit that times out while still queued is
        dropped, never run.
        """
        if self._closed:
            raise DatabaseUnavailable("the store is closed")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        start_by, answer_by = budget(timeout)
        self._queue.put(Unit(fn, args, future, contextvars.copy_context(), start_by, loop))
        if answer_by is not None:
            watchdog = self._watchdogs.get(loop)
            if watchdog is None:
                watchdog = self._watchdogs[loop] = Watchdog(loop)
            watchdog.watch(future, answer_by)
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
        while not self._stopping:
            unit = self._queue.get()
            if unit is None:
                break
            batch = [unit, *self._more(1)]
            try:
                self._run_batch(batch)
            except BaseException:  # never let the writer thread die
                log.exception("writer batch failed")
                self._fail(batch, DatabaseUnavailable("internal writer error"))

    def _more(self, have: int) -> list[Unit]:
        """The units queued now, up to a batch of ``max_batch`` (notes a stop request)."""
        more: list[Unit] = []
        while not self._stopping and have + len(more) < self.max_batch:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                self._stopping = True
            else:
                more.append(nxt)
        return more

    def _admit(self, units: list[Unit]) -> list[Unit]:
        """The units still wanted: a caller who gave up is skipped, one past its deadline
        answered."""
        now = time.monotonic()
        live: list[Unit] = []
        late: list[Unit] = []
        for unit in units:
            if not unit.start():
                continue
            (late if unit.deadline is not None and now > unit.deadline else live).append(unit)
        self._fail(late, DatabaseUnavailable("timed out waiting for the writer"))
        return live

    def _begin(self, conn: sqlite3.Connection, live: list[Unit]) -> list[Unit]:
        """``BEGIN IMMEDIATE`` for ``live``; the units to run in it (with those that arrived
        while it waited for the lock), or [] when none is left.

        Another process's write lock is waited for in slices of :data:`LOCK_POLL_SECONDS`,
        each no longer than the earliest deadline among the units: a unit whose deadline
        passes is answered then, the others wait on (units without a deadline wait
        ``busy_timeout_ms`` in all). Any other error fails every unit.
        """
        cap = time.monotonic() + self.busy_timeout_ms / 1000
        while live:
            now = time.monotonic()
            limit = min(cap if u.deadline is None else u.deadline for u in live)
            self._set_busy_timeout(max(0.0, min(LOCK_POLL_SECONDS, limit - now)))
            try:
                conn.execute("BEGIN IMMEDIATE")
                return live
            except sqlite3.Error as exc:
                if not is_busy(exc):
                    log.warning("database not writable: %s (%d writes refused)", exc, len(live))
                    self._fail(live, DatabaseUnavailable(str(exc)))
                    return []
                error = exc
            now = time.monotonic()
            waiting: list[Unit] = []
            expired: list[Unit] = []
            for unit in live:
                past = now >= (cap if unit.deadline is None else unit.deadline)
                (expired if past else waiting).append(unit)
            if expired:
                log.warning("database locked by another process: %d writes refused", len(expired))
                self._fail(
                    expired,
                    DatabaseUnavailable(f"{error}: another process holds the write lock"),
                )
            live = waiting + self._admit(self._more(len(waiting)))
        return []

    def _set_busy_timeout(self, seconds: float) -> None:
        ms = int(seconds * 1000)
        if ms != self._busy_ms:
            self._writer_db.conn.execute(f"PRAGMA busy_timeout = {ms}")
            self._busy_ms = ms

    def _run_batch(self, batch: list[Unit]) -> None:
        started = time.monotonic()
        live = self._admit(batch)
        if not live:
            return
        conn = self._writer_db.conn
        live = self._begin(conn, live)
        if not live:
            return
        outcomes = self._run_units(conn, live, savepoints=False)
        if outcomes is None:  # a unit failed: run the batch again, each unit on its own
            if not conn.in_transaction:
                return  # the transaction died with it: every unit was failed
            conn.execute("ROLLBACK")
            live = self._begin(conn, live)
            if not live:
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
        self._deliver(outcomes)

    def _run_units(
        self, conn: sqlite3.Connection, live: list[Unit], *, savepoints: bool
    ) -> list[tuple[Unit, Any, BaseException | None]] | None:
        """Run the units in the open transaction. Without savepoints, None at the first
        failure (the caller retries with them); with them, None if the transaction died
        (every unit was then failed)."""
        self._writer_db.batch_memo = {}
        self._writer_db.deferred_rows = None if savepoints else {}
        self._writer_db.rerun_on_failure = not savepoints
        outcomes: list[tuple[Unit, Any, BaseException | None]] = []
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
        if not savepoints:
            try:
                self._insert_deferred(conn)
            except BaseException as exc:  # run again with savepoints: each unit inserts its own
                if not conn.in_transaction:
                    log.warning("write transaction aborted: %s", exc)
                    self._fail(live, DatabaseUnavailable(str(exc)))
                return None
        return outcomes

    def _insert_deferred(self, conn: sqlite3.Connection) -> None:
        deferred, self._writer_db.deferred_rows = self._writer_db.deferred_rows, None
        for head, rows in (deferred or {}).items():
            marks = "(" + ", ".join("?" * len(rows[0])) + ")"
            for start in range(0, len(rows), DEFERRED_CHUNK):
                chunk = rows[start : start + DEFERRED_CHUNK]
                values = [value for row in chunk for value in row]
                conn.execute(f"{head} VALUES {', '.join([marks] * len(chunk))}", values)

    def _fail(self, units: list[Unit], exc: BaseException) -> None:
        self._deliver([(unit, None, exc) for unit in units])

    def _deliver(self, outcomes: list[tuple[Unit, Any, BaseException | None]]) -> None:
        """Note the outcomes in :attr:`health`, then hand them to the callers."""
        failed = [exc for unit, _, exc in outcomes if unit.counted and is_refusal(exc)]
        if failed:
            self.health.failed(len(failed), failed[-1])
        elif any(unit.counted and exc is None for unit, _, exc in outcomes):
            self.health.succeeded()
        deliver(outcomes)
