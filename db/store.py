"""The storage interface: named operations, each one transaction.

Callers never see a connection, a cursor, SQL or a driver's exception. They call a method of
:class:`Store` (``await store.ingest(...)``, ``await store.finish_job(...)``) and get records
or rows back, or one of the errors of :mod:`db.errors`.

A backend is a subclass that provides the transport and an ``ops`` namespace:

- ``ops.<name>(conn, *args)``: the operation, run inside a transaction the backend opened
  (it never begins or commits itself), one function per method below;
- ``_write(fn, *args, timeout)``: run ``fn`` in a write transaction and wait for its commit;
  ``DatabaseUnavailable`` when it is not committed within ``timeout`` seconds (nothing of it
  is kept);
- ``_read(fn, *args)``: run ``fn`` on a read connection, off the event loop;
- ``_submit(fn, *args)``: queue a write without waiting (a ``concurrent.futures.Future``);
- ``flush``, ``readiness``, ``close``;
- for backends that many processes share: ``listen_for_jobs`` (wake this process's runner
  when another commits a due job) and ``maintenance_turn`` (whose turn the daily
  maintenance is); the defaults are those of a database one process owns.

``db/sqlite/`` is the embedded backend, ``db/postgres/`` the shared one. Every backend passes
``tests/test_db_contract*.py``.

Timestamps in and out are ISO-8601 UTC strings (``2026-01-18T10:00:00.123Z``). Every method
is a coroutine (except :meth:`submit_interaction`, :meth:`submit_delivery` and
:meth:`close`); :attr:`sync` runs them from code without an event loop (the CLI).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from db._api_clients import ClientOperations
from db._api_console import ConsoleOperations
from db._api_deliveries import DeliveryOperations
from db._api_ingest import IngestOperations
from db._api_jobs import JobOperations
from db._api_leads import LeadOperations
from db._api_maintenance import MaintenanceOperations
from db._api_metrics import MetricsOperations
from db._api_telemetry import TelemetryOperations
from db.errors import DatabaseUnavailable

DEFAULT_WRITE_TIMEOUT = 8.0


class Store(
    ClientOperations,
    IngestOperations,
    JobOperations,
    LeadOperations,
    TelemetryOperations,
    MaintenanceOperations,
    ConsoleOperations,
    DeliveryOperations,
    MetricsOperations,
):
    """One process's access to the database. See the module docstring; the operations are
    grouped by area in ``db/_api_*.py``."""

    backend = "abstract"
    ops: Any = None

    def __init__(self, *, write_timeout: float = DEFAULT_WRITE_TIMEOUT) -> None:
        self.write_timeout = write_timeout
        self.applied_migrations: list[str] = []  # by this open, oldest first
        self._sync: _SyncStore | None = None

    # -- transport (the backend's) --------------------------------------------------------

    async def _write(self, fn: Callable[..., Any], *args: Any, timeout: float | None) -> Any:
        raise NotImplementedError

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        raise NotImplementedError

    def _submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        raise NotImplementedError

    async def write_op(self, name: str, *args: Any, timeout: float | None = None) -> Any:
        return await self._write(getattr(self.ops, name), *args, timeout=self._t(timeout))

    async def read_op(self, name: str, *args: Any) -> Any:
        return await self._read(getattr(self.ops, name), *args)

    def _t(self, timeout: float | None) -> float:
        return self.write_timeout if timeout is None else timeout

    # -- lifecycle --------------------------------------------------------------------------

    async def readiness(self) -> dict[str, str]:
        """The backend's readiness checks by name, each ``"ok"`` or what is wrong: at least
        ``database`` (a real write commits now: not locked by another process, not read-only,
        no I/O error), ``disk`` (room to grow) and ``writer`` (writes are not failing one
        after another); ``lock`` when this process holds the server lock of the file."""
        raise NotImplementedError

    async def ready(self) -> None:
        """Raise :class:`DatabaseUnavailable` naming the failing checks of :meth:`readiness`
        unless every one is ``"ok"``."""
        checks = await self.readiness()
        failing = [f"{name}: {verdict}" for name, verdict in checks.items() if verdict != "ok"]
        if failing:
            raise DatabaseUnavailable("; ".join(failing))

    async def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until every write submitted so far (:meth:`submit_interaction`) is committed."""
        raise NotImplementedError

    def listen_for_jobs(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (from any thread) when another process commits a job that is
        due, so its runner starts it at once; returns the function that stops listening.
        A backend one process owns (SQLite) has nobody else to hear: a no-op."""
        return _nothing

    def close(self) -> None:
        """Commit what is queued and release every connection."""
        if self._sync is not None:
            self._sync.close()

    @property
    def sync(self) -> Any:
        """The same operations as blocking calls: ``store.sync.list_clients()``."""
        if self._sync is None:
            self._sync = _SyncStore(self)
        return self._sync


def _nothing() -> None:
    return None


class _SyncStore:
    """Blocking calls of a store's coroutine methods, run on a private event loop thread."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._store, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            coro = method(*args, **kwargs)
            return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

        return call

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
