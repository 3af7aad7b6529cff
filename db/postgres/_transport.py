"""How the Postgres backend runs an operation: a pooled connection on a worker thread, one
transaction, driver errors mapped at this boundary.

Why threads and a sync pool (``psycopg_pool.ConnectionPool``), not ``AsyncConnectionPool``:
the operations are plain functions ``fn(conn, *args)`` like the SQLite backend's units of
work, and a store is used from several event loops (uvicorn's, the ``store.sync`` facade's
own loop thread, a test's) and from threads without a loop (``submit_interaction``). An
async pool belongs to the loop that opened it; a thread pool serves any of them. The cost is
one thread hop per operation (tens of microseconds, small beside a commit's fsync); the
context variables of the caller are copied into the worker, as SQLite's writer does.

A write is ``BEGIN``; ``SET LOCAL statement_timeout`` (what is left of its timeout); the
operation; ``COMMIT``, on a connection in autocommit mode (one round trip for the first
two; the statements the operation deferred, a ledger row, go in a pipeline with the
``COMMIT``: one round trip for those too). Its result is handed back only after the
commit; a commit that made a job due then calls :attr:`Transport.on_jobs_due` (the
process's :class:`db.postgres._notify.JobNotifier`). A write that cannot finish within its
timeout is rolled back and raises :class:`DatabaseUnavailable`: nothing of it is kept. A
deadlock or serialization failure is retried (at most :data:`RETRIES` times, within the
timeout): an operation touches nothing but the database, so running it again is safe. So is
one whose pooled connection the server had closed (a restart, a failover), found before the
operation started (a read: whenever it is found); it runs again on another connection. Reads run in
autocommit mode (each statement its own snapshot, as SQLite's WAL readers do without a
transaction).

Error map: connection refused or lost, server shutting down, too many connections, a pool
with no free connection in time, statement or lock timeout, deadlock, serialization failure,
disk full, a read-only server (a standby) → :class:`DatabaseUnavailable`; every other driver
error → :class:`DatabaseError`. No driver exception leaves :mod:`db`.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg_pool
from psycopg.rows import dict_row

from db.errors import DatabaseError, DatabaseUnavailable
from db.postgres._sql import register_loaders, start_deferring, take_deferred, take_jobs_due

log = logging.getLogger("leadhook.db")
RETRIES = 3
CONNECT_TIMEOUT = 10.0
# SQLSTATE classes and codes that mean "the database cannot take this now".
_UNAVAILABLE_CLASSES = ("08", "53", "57", "58")  # connection, resources, operator, system
_UNAVAILABLE_CODES = {"40001", "40P01", "55P03", "25006"}  # serialization, deadlock, lock, RO
_RETRYABLE_CODES = {"40001", "40P01"}


def redact(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, psycopg_pool.PoolTimeout | psycopg.OperationalError | TimeoutError):
        return True
    code = getattr(exc, "sqlstate", None) or ""
    return code in _UNAVAILABLE_CODES or code[:2] in _UNAVAILABLE_CLASSES


def mapped(exc: BaseException) -> DatabaseError:
    """The :mod:`db.errors` error for a driver error."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if is_unavailable(exc):
        return DatabaseUnavailable(f"postgres: {text}")
    return DatabaseError(f"{type(exc).__name__}: {text}")


def configure(conn: psycopg.Connection) -> None:
    """Every connection: autocommit (transactions are explicit), UTC, the value loaders."""
    conn.autocommit = True
    conn.execute("SET TIME ZONE 'UTC'")
    register_loaders(conn)


def connect(url: str, **kwargs: Any) -> psycopg.Connection:
    """A connection outside the pool (migrations, LISTEN, copy), configured like pooled ones."""
    try:
        conn = psycopg.connect(url, connect_timeout=int(CONNECT_TIMEOUT), row_factory=dict_row,
                               **kwargs)  # fmt: skip
    except psycopg.Error as exc:
        raise mapped(exc) from None
    configure(conn)
    return conn


def _commit(conn: psycopg.Connection, deferred: list[tuple[str, Any]]) -> None:
    """``COMMIT``, after the statements the operation deferred (:func:`db.postgres._sql.defer`)
    in the same pipeline: one round trip. A deferred statement that fails aborts the
    transaction, and the server skips the ``COMMIT`` queued after it."""
    if not deferred:
        conn.execute("COMMIT")
        return
    with conn.pipeline():
        for sql, params in deferred:
            conn.execute(sql, params)
        conn.execute("COMMIT")


def _in_transaction(conn: psycopg.Connection) -> bool:
    if conn.closed or conn.broken:
        return False
    status = conn.info.transaction_status
    return status in (psycopg.pq.TransactionStatus.INTRANS, psycopg.pq.TransactionStatus.INERROR)


class _Stale(Exception):
    """A pooled connection the server closed (a restart, a failover, an idle timeout), found
    before anything ran on it: safe to try again on another one."""


class WriteHealth:
    """Writes refused for want of the database since the last one that committed."""

    def __init__(self) -> None:
        self.failed_in_a_row = 0
        self.last_error = ""
        self.last_failure = 0.0

    def failed(self, error: BaseException) -> None:
        self.failed_in_a_row += 1
        self.last_error = str(error)
        self.last_failure = time.monotonic()

    def succeeded(self) -> None:
        self.failed_in_a_row = 0

    def problem(self) -> str | None:
        if self.failed_in_a_row < 3 or time.monotonic() - self.last_failure > 30:
            return None
        return f"failing: the last {self.failed_in_a_row} writes were refused: {self.last_error}"


class Transport:
    """A connection pool and the worker threads that run operations on it."""

    def __init__(self, url: str, *, pool_size: int) -> None:
        self.url = url
        self.health = WriteHealth()
        self.pool = psycopg_pool.ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"row_factory": dict_row, "connect_timeout": int(CONNECT_TIMEOUT)},
            configure=configure,
            open=False,
            name="leadhook",
        )
        try:
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except psycopg_pool.PoolTimeout:
            self.pool.close()
            raise DatabaseUnavailable(
                f"cannot connect to {redact(url)} within {CONNECT_TIMEOUT:g} s"
            ) from None
        self.executor = ThreadPoolExecutor(pool_size, thread_name_prefix="leadhook-pg")
        self._pending: set[Future] = set()
        self._pending_lock = threading.Lock()
        self.closed = False
        # Called after a commit that made a job due (the store's notifier); None: nobody.
        self.on_jobs_due: Callable[[], None] | None = None

    # -- running operations -------------------------------------------------------------------

    def run(self, fn: Callable[..., Any], args: tuple, timeout: float | None, write: bool) -> Any:
        """Run ``fn(conn, *args)`` (on the calling thread): a transaction for a write."""
        deadline = None if timeout is None else time.monotonic() + timeout
        attempt = stale = 0
        while True:
            attempt += 1
            try:
                result = self._once(fn, args, deadline, write)
            except _Stale as exc:
                stale += 1
                if stale <= self.pool.max_size:  # the pool drops it: the next one is fresh
                    attempt -= 1
                    continue
                error = mapped(exc.__cause__ or exc)
                self.health.failed(error)
                raise error from None
            except psycopg.Error as exc:
                code = getattr(exc, "sqlstate", None)
                left = None if deadline is None else deadline - time.monotonic()
                if code in _RETRYABLE_CODES and attempt < RETRIES and (left is None or left > 0):
                    time.sleep(0.005 * attempt)
                    continue
                error = mapped(exc)
                if write and isinstance(error, DatabaseUnavailable):
                    self.health.failed(error)
                raise error from None
            except psycopg_pool.PoolTimeout as exc:
                error = DatabaseUnavailable(f"postgres: no free connection in time ({exc})")
                if write:
                    self.health.failed(error)
                raise error from None
            if write:
                self.health.succeeded()
            return result

    def _once(
        self, fn: Callable[..., Any], args: tuple, deadline: float | None, write: bool
    ) -> Any:
        wait = CONNECT_TIMEOUT if deadline is None else max(0.001, deadline - time.monotonic())
        with self.pool.connection(timeout=wait) as conn:
            if not write:
                try:
                    return fn(conn, *args)
                except psycopg.OperationalError as exc:
                    if conn.broken or conn.closed:  # a read may run again anywhere
                        raise _Stale() from exc
                    raise
            left_ms = None if deadline is None else int((deadline - time.monotonic()) * 1000)
            if left_ms is not None and left_ms <= 0:
                raise DatabaseUnavailable("the write was not started in time")
            take_jobs_due()  # nothing left over from another transaction of this thread
            begin = (
                "BEGIN"
                if left_ms is None
                else f"BEGIN; SET LOCAL statement_timeout = {max(1, left_ms)}"
            )
            try:
                conn.execute(begin)
            except psycopg.OperationalError as exc:
                if conn.broken or conn.closed:  # nothing of the operation ran yet
                    raise _Stale() from exc
                raise
            start_deferring()
            try:
                result = fn(conn, *args)
                if deadline is not None and time.monotonic() > deadline:
                    raise DatabaseUnavailable("the write was not committed in time")
            except BaseException:
                take_jobs_due()
                take_deferred()
                if not conn.closed and not conn.broken:
                    conn.execute("ROLLBACK")
                raise
            try:
                _commit(conn, take_deferred())
            except BaseException:
                take_jobs_due()
                if _in_transaction(conn):  # a deferred statement failed: nothing committed
                    conn.execute("ROLLBACK")
                raise
            if take_jobs_due() and self.on_jobs_due is not None:
                self.on_jobs_due()
            return result

    def call(
        self, fn: Callable[..., Any], args: tuple, timeout: float | None, write: bool
    ) -> Future:
        """Queue the operation on a worker thread; the future resolves after its commit."""
        if self.closed:
            raise DatabaseUnavailable("the store is closed")
        context = contextvars.copy_context()
        future = self.executor.submit(context.run, self.run, fn, args, timeout, write)
        with self._pending_lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future) -> None:
        with self._pending_lock:
            self._pending.discard(future)

    def pending(self) -> list[Future]:
        with self._pending_lock:
            return list(self._pending)

    def close(self) -> None:
        self.closed = True
        self.executor.shutdown(wait=True)
        self.pool.close()
