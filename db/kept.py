"""Rows written behind the caller's back and kept until the database takes them.

Some rows must not be lost though nobody waits for them: an AI call's ``ai_interactions`` row
(the AI has been paid), a rejected request's ``deliveries`` row. :class:`KeptWrites` hands
each to the store without waiting (``submit``: the store's ``submit_*`` operation, a future).
A row the database cannot take now (:class:`db.DatabaseUnavailable`: a full disk, a lock held
by another process, a closed store) is kept in memory and written again, oldest first, in
batches of :data:`RETRY_BATCH` (``write_many``: one transaction), after 0.5 s, then 1, 2, ...
up to :data:`MAX_RETRY_SECONDS` between tries, until it is taken. The retries run as a task of
the event loop the rows were submitted on; :meth:`KeptWrites.flush` (at shutdown) writes what
is still kept.

Bounded: at most ``max_kept`` rows (past that the oldest are dropped, counted in ``failed``,
with an ERROR line); a subclass may bound their size too (:meth:`KeptWrites.shrink`). A row
the database refuses for a reason a retry cannot fix (any other error) is logged and counted
in ``failed``. One WARNING line says when rows start being kept, one INFO line when they have
all been written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from functools import partial
from typing import Generic, TypeVar

from db.errors import DatabaseUnavailable

R = TypeVar("R")
MAX_KEPT = 10_000
RETRY_BATCH = 500
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0
MAX_ERROR_TEXT = 300


def error_text(exc: BaseException) -> str:
    """``exc`` on one line, at most :data:`MAX_ERROR_TEXT` characters."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"


class KeptWrites(Generic[R]):
    """Rows of one kind (``what``: "AI interaction row", for the log lines) written through
    ``submit`` (one row, a future of its commit) and ``write_many`` (a batch, awaited)."""

    def __init__(
        self,
        submit: Callable[[R], Future],
        write_many: Callable[..., Awaitable[object]],
        *,
        what: str,
        log: logging.Logger,
        max_kept: int = MAX_KEPT,
        first_retry_seconds: float = FIRST_RETRY_SECONDS,
        max_retry_seconds: float = MAX_RETRY_SECONDS,
    ) -> None:
        self._submit_one, self._write_many = submit, write_many
        self.what, self.log = what, log
        self.max_kept = max(1, max_kept)
        self.first_retry_seconds = first_retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self.submitted = 0  # rows handed to the store
        self.rewritten = 0  # rows written by a retry
        self.failed = 0  # rows given up: refused for good, or dropped past max_kept
        self._rows: deque[R] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._keeping = False  # rows are being kept (the WARNING was logged)

    @property
    def pending(self) -> int:
        """Rows kept in memory, not written yet."""
        with self._lock:
            return len(self._rows)

    def submit(self, row: R) -> None:
        """Hand ``row`` to the store without waiting; never raises."""
        with contextlib.suppress(RuntimeError):  # no running loop: retried at the next row
            self._loop = asyncio.get_running_loop()
        try:
            future = self._submit_one(row)
        except DatabaseUnavailable as exc:
            self._keep([row], exc)
            return
        except Exception as exc:
            self._give_up(1, exc)
            return
        self.submitted += 1
        future.add_done_callback(partial(self._written, row))

    # -- what a subclass may change ------------------------------------------------------------

    def shrink(self, row: R) -> R:
        """The row as kept in memory (under the lock)."""
        return row

    def forget(self, row: R) -> None:
        """``row`` leaves memory (written again or dropped; under the lock)."""

    # -- the machinery -------------------------------------------------------------------------

    def _written(self, row: R, future: Future) -> None:
        """The commit's outcome (on the writer's thread)."""
        exc = None if future.cancelled() else future.exception()
        if future.cancelled() or isinstance(exc, DatabaseUnavailable):
            self._keep([row], exc or DatabaseUnavailable("the write was cancelled"))
        elif exc is not None:
            self._give_up(1, exc)

    def _give_up(self, n: int, exc: BaseException) -> None:
        self.failed += n
        self.log.error("%s not stored (not retried): %s", self.what, error_text(exc))

    def _keep(self, rows: list[R], exc: BaseException, *, front: bool = False) -> None:
        with self._lock:
            shrunk = [self.shrink(row) for row in rows]
            if front:
                self._rows.extendleft(reversed(shrunk))
            else:
                self._rows.extend(shrunk)
            dropped = 0
            while len(self._rows) > self.max_kept:
                self.forget(self._rows.popleft())
                dropped += 1
            kept = len(self._rows)
            first, self._keeping = not self._keeping, True
        if dropped:
            self.failed += dropped
            self.log.error(
                "%d %s(s) dropped: %d are waiting to be written (the most kept)",
                dropped,
                self.what,
                kept,
            )
        if first:
            self.log.warning(
                "%ss cannot be written now (%s); keeping %d in memory and retrying until the "
                "database takes them",
                self.what,
                error_text(exc),
                kept,
            )
        self._schedule()

    def _schedule(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._start_retrying)

    def _start_retrying(self) -> None:
        if self._task is None or self._task.done():
            name = f"leadhook-kept-{self.what.replace(' ', '-')}s"
            self._task = asyncio.get_running_loop().create_task(self._retry_loop(), name=name)

    def _take(self) -> list[R]:
        with self._lock:
            batch = [self._rows.popleft() for _ in range(min(RETRY_BATCH, len(self._rows)))]
            for row in batch:
                self.forget(row)
            return batch

    async def _retry_loop(self) -> None:
        delay = self.first_retry_seconds
        while True:
            await asyncio.sleep(delay)
            if await self._write_kept(timeout=None) is None:
                delay = min(delay * 2, self.max_retry_seconds)
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
            await self._write_many(batch, timeout=timeout)
        except DatabaseUnavailable as exc:
            self._keep(batch, exc, front=True)
            return None
        except Exception:  # one bad row must not hold the others back
            for row in batch:
                try:
                    await self._write_many([row], timeout=timeout)
                except DatabaseUnavailable as exc:
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
            self.log.info("%ss written again: %d in all since the start", self.what, self.rewritten)

    async def flush(self, timeout: float | None = 30.0, *, store_flush=None) -> None:
        """Wait until every row submitted so far is committed (``store_flush``: the store's
        ``flush``), writing the kept ones now. Raises :class:`DatabaseUnavailable` when they
        could not all be written in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if store_flush is not None:
            await store_flush(timeout)  # the failures of rows in flight come back here
        while self.pending:
            left = None if deadline is None else max(0.1, deadline - time.monotonic())
            if deadline is not None and time.monotonic() >= deadline:
                break
            if await self._write_kept(timeout=left) is None:
                break
        if self.pending:
            raise DatabaseUnavailable(f"{self.pending} {self.what}(s) could not be written yet")

    async def close(self) -> None:
        """Stop retrying; rows still kept are lost (an ERROR line says how many)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with self._lock:
            lost = len(self._rows)
            for row in self._rows:
                self.forget(row)
            self._rows.clear()
        if lost:
            self.failed += lost
            self.log.error("%d %s(s) could not be written and are lost", lost, self.what)
