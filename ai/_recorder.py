"""The AI client's recorder: every ``ai_interactions`` row is kept until it is written.

A call's row is handed to the store without waiting (``Store.submit_interaction``: a few
microseconds on the call path). The AI has been paid by then, so a row the database cannot
take now (:class:`db.DatabaseUnavailable`: a full disk, a lost lock, a closed store) is not
dropped: :class:`InteractionRecorder` keeps it in memory and writes it again, oldest first, in
batches of :data:`RETRY_BATCH` (``Store.record_interactions``, one transaction), after 0.5 s,
then 1, 2, ... up to :data:`MAX_RETRY_SECONDS` between tries, until the database takes it. The
retries run as a task of the event loop the rows were recorded on, while the process runs;
:meth:`InteractionRecorder.flush` (at shutdown) writes what is still kept.

Bounded: at most :data:`MAX_PENDING` rows are kept (about 2 KB each); past that the oldest are
dropped and counted in ``failed``, with an ERROR line. A row the database refuses for a reason
a retry cannot fix (any other error) is logged and counted in ``failed`` too. One WARNING line
says when rows start being kept, one INFO line when they have all been written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from functools import partial
from typing import Any

import db

log = logging.getLogger("leadhook.ai")

MAX_PENDING = 10_000
RETRY_BATCH = 500
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0
MAX_ERROR_TEXT = 300


def _text(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"


class InteractionRecorder:
    """Writes ``ai_interactions`` rows through ``store``, keeping those not yet written."""

    def __init__(
        self,
        store: db.Store,
        *,
        max_pending: int = MAX_PENDING,
        first_retry_seconds: float = FIRST_RETRY_SECONDS,
        max_retry_seconds: float = MAX_RETRY_SECONDS,
    ) -> None:
        self.store = store
        self.max_pending = max(1, max_pending)
        self.first_retry_seconds = first_retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self.submitted = 0  # rows handed to the store
        self.rewritten = 0  # rows written by a retry
        self.failed = 0  # rows given up: refused for good, or dropped from a full queue
        self._pending: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._keeping = False  # rows are being kept (the WARNING was logged)

    @property
    def pending(self) -> int:
        """Rows kept in memory, not written yet."""
        with self._lock:
            return len(self._pending)

    def record(self, row: dict[str, Any]) -> None:
        """Hand ``row`` to the store without waiting; never raises."""
        with contextlib.suppress(RuntimeError):  # no running loop: retried at the next call
            self._loop = asyncio.get_running_loop()
        try:
            future = self.store.submit_interaction(row)
        except db.DatabaseUnavailable as exc:
            self._keep([row], exc)
            return
        except Exception as exc:
            self._give_up(1, exc)
            return
        self.submitted += 1
        future.add_done_callback(partial(self._written, row))

    def _written(self, row: dict[str, Any], future: Future) -> None:
        """The commit's outcome (on the writer's thread)."""
        exc = None if future.cancelled() else future.exception()
        if future.cancelled() or isinstance(exc, db.DatabaseUnavailable):
            self._keep([row], exc or db.DatabaseUnavailable("the write was cancelled"))
        elif exc is not None:
            self._give_up(1, exc)

    def _give_up(self, n: int, exc: BaseException) -> None:
        self.failed += n
        log.error("AI interaction row not stored (not retried): %s", _text(exc))

    def _keep(self, rows: list[dict[str, Any]], exc: BaseException, *, front: bool = False):
        with self._lock:
            if front:
                self._pending.extendleft(reversed(rows))
            else:
                self._pending.extend(rows)
            dropped = 0
            while len(self._pending) > self.max_pending:
                self._pending.popleft()
                dropped += 1
            kept = len(self._pending)
            first, self._keeping = not self._keeping, True
        if dropped:
            self.failed += dropped
            log.error(
                "%d AI interaction row(s) dropped: %d are waiting to be written (the most kept)",
                dropped,
                kept,
            )
        if first:
            log.warning(
                "AI interaction rows cannot be written now (%s); keeping %d in memory and "
                "retrying until the database takes them",
                _text(exc),
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
            self._task = asyncio.get_running_loop().create_task(
                self._retry_loop(), name="leadhook-ai-rows"
            )

    def _take(self) -> list[dict[str, Any]]:
        with self._lock:
            n = min(RETRY_BATCH, len(self._pending))
            return [self._pending.popleft() for _ in range(n)]

    async def _retry_loop(self) -> None:
        delay = self.first_retry_seconds
        while True:
            await asyncio.sleep(delay)
            written = await self._write_kept(timeout=None)
            if written is None:
                delay = min(delay * 2, self.max_retry_seconds)
                continue
            delay = self.first_retry_seconds
            if self.pending == 0:
                break

    async def _write_kept(self, *, timeout: float | None) -> int | None:
        """Write one batch of kept rows: how many, or None when the database refused."""
        batch = self._take()
        if not batch:
            self._all_written()
            return 0
        try:
            await self.store.record_interactions(batch, timeout=timeout)
        except db.DatabaseUnavailable as exc:
            self._keep(batch, exc, front=True)
            return None
        except Exception:  # one bad row must not hold the others back
            for row in batch:
                try:
                    await self.store.record_interactions([row], timeout=timeout)
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
            log.info("AI interaction rows written again: %d in all since the start", self.rewritten)

    async def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until every row recorded so far is committed, writing the kept ones now.

        Raises :class:`db.DatabaseUnavailable` when they could not all be written in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        await self.store.flush(timeout)  # the failures of rows in flight come back here
        while self.pending:
            left = None if deadline is None else max(0.1, deadline - time.monotonic())
            if await self._write_kept(timeout=left) is None:
                raise db.DatabaseUnavailable(
                    f"{self.pending} AI interaction row(s) could not be written yet"
                )

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
                self._pending.clear()
            self.failed += lost
            log.error("%d AI interaction row(s) could not be written and are lost", lost)
