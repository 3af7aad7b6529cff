"""Rejected requests' ledger rows: handed to the writer without waiting, kept until written.

:meth:`KeptRows.submit` queues a row for the group-commit writer (``Store.submit_delivery``:
it joins the batch of whatever commits next; nobody waits for it). A row the database cannot
take now (:class:`db.DatabaseUnavailable`: a full disk, a lock held by another process, the
very condition a ``429`` answers) is kept in memory and written again, oldest first, in
batches of :data:`RETRY_BATCH` (``Store.record_deliveries``), after 0.5 s, then 1, 2, ... up
to :data:`MAX_RETRY_SECONDS` between tries, until it is taken.

Bounded: at most :data:`MAX_KEPT` rows, and their bodies at most :data:`MAX_KEPT_BODY_BYTES`
in all (past that a kept row loses its body, not its facts); past :data:`MAX_KEPT` the
oldest rows are dropped and counted in :attr:`KeptRows.dropped`. A row refused for a reason
a retry cannot fix is logged and counted there too. One WARNING line says when rows start
being kept, one INFO line when they are all written.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from functools import partial

import db
from db import NewDelivery

log = logging.getLogger("leadhook.webhooks")

MAX_KEPT = 10_000
MAX_KEPT_BODY_BYTES = 32 * 1024 * 1024
RETRY_BATCH = 500
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0


class KeptRows:
    """Writes rejected requests' rows through ``store``, keeping those not yet written."""

    def __init__(
        self,
        store: db.Store,
        *,
        max_kept: int = MAX_KEPT,
        max_body_bytes: int = MAX_KEPT_BODY_BYTES,
        first_retry_seconds: float = FIRST_RETRY_SECONDS,
    ) -> None:
        self.store = store
        self.max_kept = max(1, max_kept)
        self.max_body_bytes = max_body_bytes
        self.first_retry_seconds = first_retry_seconds
        self.submitted = 0  # rows handed to the writer
        self.rewritten = 0  # rows written by a retry
        self.dropped = 0  # rows given up
        self._rows: deque[NewDelivery] = deque()
        self._body_bytes = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._keeping = False

    @property
    def pending(self) -> int:
        """Rows kept in memory, not written yet."""
        with self._lock:
            return len(self._rows)

    def submit(self, row: NewDelivery) -> None:
        """Hand ``row`` to the writer without waiting; never raises."""
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
        try:
            future = self.store.submit_delivery(row)
        except db.DatabaseUnavailable as exc:
            self._keep([row], exc)
            return
        self.submitted += 1
        future.add_done_callback(partial(self._written, row))

    def _written(self, row: NewDelivery, future: Future) -> None:
        """The commit's outcome (on the writer's thread)."""
        exc = None if future.cancelled() else future.exception()
        if future.cancelled() or isinstance(exc, db.DatabaseUnavailable):
            self._keep([row], exc or db.DatabaseUnavailable("the write was cancelled"))
        elif exc is not None:
            self._give_up(1, exc)

    def _give_up(self, n: int, exc: BaseException) -> None:
        self.dropped += n
        log.error("ledger row of a rejected request not stored (not retried): %s", exc)

    def _keep(self, rows: list[NewDelivery], exc: BaseException, *, front: bool = False) -> None:
        with self._lock:
            for row in rows:
                size = len(row.body or "")
                if size and self._body_bytes + size > self.max_body_bytes:
                    row = dataclasses.replace(row, body=None)
                    size = 0
                self._body_bytes += size
                if front:
                    self._rows.appendleft(row)
                else:
                    self._rows.append(row)
            dropped = 0
            while len(self._rows) > self.max_kept:
                gone = self._rows.popleft()
                self._body_bytes -= len(gone.body or "")
                dropped += 1
            kept = len(self._rows)
            first, self._keeping = not self._keeping, True
        if dropped:
            self.dropped += dropped
            log.error("%d ledger row(s) dropped: %d are waiting (the most kept)", dropped, kept)
        if first:
            log.warning(
                "ledger rows cannot be written now (%s); keeping %d in memory until the "
                "database takes them",
                exc,
                kept,
            )
        self._schedule()

    def _take(self) -> list[NewDelivery]:
        with self._lock:
            batch = [self._rows.popleft() for _ in range(min(RETRY_BATCH, len(self._rows)))]
            self._body_bytes -= sum(len(row.body or "") for row in batch)
            return batch

    def _schedule(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._start_retrying)

    def _start_retrying(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._retry_loop(), name="leadhook-ledger-rows"
            )

    async def _retry_loop(self) -> None:
        delay = self.first_retry_seconds
        while True:
            await asyncio.sleep(delay)
            if await self._write_kept(timeout=None) is None:
                delay = min(delay * 2, MAX_RETRY_SECONDS)
                continue
            delay = self.first_retry_seconds
            if self.pending == 0:
                return

    async def _write_kept(self, *, timeout: float | None) -> int | None:
        """Write one batch of kept rows: how many, or None when the database refused."""
        batch = self._take()
        if not batch:
            self._all_written()
            return 0
        try:
            await self.store.record_deliveries(batch, timeout=timeout)
        except db.DatabaseUnavailable as exc:
            self._keep(batch, exc, front=True)
            return None
        except Exception:  # one bad row must not hold the others back
            for row in batch:
                try:
                    await self.store.record_deliveries([row], timeout=timeout)
                except db.DatabaseUnavailable as exc:
                    self._keep([row], exc)
                except Exception as exc:
                    self._give_up(1, exc)
                else:
                    self.rewritten += 1
            return len(batch)
        self.rewritten += len(batch)
        if self.pending == 0:
            self._all_written()
        return len(batch)

    def _all_written(self) -> None:
        with self._lock:
            was, self._keeping = self._keeping, False
        if was:
            log.info("ledger rows written again: %d since the start", self.rewritten)

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait for what was submitted, then write what is kept (within ``timeout``)."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(db.DatabaseUnavailable):
            await self.store.flush(timeout)
        while self.pending and time.monotonic() < deadline:
            left = max(0.1, deadline - time.monotonic())
            if await self._write_kept(timeout=left) is None:
                return

    async def close(self) -> None:
        """Stop retrying; rows still kept are lost (an ERROR line says how many)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        lost = self.pending
        if lost:
            with self._lock:
                self._rows.clear()
                self._body_bytes = 0
            self.dropped += lost
            log.error("%d ledger row(s) could not be written and are lost", lost)
