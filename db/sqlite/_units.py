"""The writer's units of work, their time budget, and how their callers get the results.

See :mod:`db.sqlite._writer` for the writer itself and the time bounds of a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from db.errors import DatabaseUnavailable

# Of a write's timeout, what is left for its commit: the writer starts no unit later than
# timeout - min(ALLOWANCE_SECONDS, timeout / 4).
ALLOWANCE_SECONDS = 1.0
# How often the watchdog looks at waiting writes, and how long one attempt at another
# process's write lock may wait (so that writes arriving meanwhile join the wait).
SWEEP_SECONDS = 0.25
LOCK_POLL_SECONDS = 0.25


def budget(timeout: float | None) -> tuple[float | None, float | None]:
    """``(start_by, answer_by)`` on the monotonic clock for a write given ``timeout`` seconds
    from now: the writer starts it by the first, the watchdog answers by the second."""
    if timeout is None:
        return None, None
    now = time.monotonic()
    start_by = now + timeout - min(ALLOWANCE_SECONDS, timeout / 4)
    return start_by, max(start_by, now + timeout - SWEEP_SECONDS)


@dataclass
class Unit:
    fn: Callable[..., Any]
    args: tuple
    # A concurrent.futures.Future (threads), or an asyncio future of ``loop`` (coroutines).
    future: Any
    context: contextvars.Context
    deadline: float | None = None  # start_by: the unit is never started later
    loop: asyncio.AbstractEventLoop | None = None

    @property
    def counted(self) -> bool:
        """Whether its outcome tells about the writer's health (the readiness probe's does
        not: it has its own check)."""
        return not getattr(self.fn, "readiness_probe", False)

    def start(self) -> bool:
        """False if the caller gave up before the unit ran (it is then skipped)."""
        if self.loop is None:
            return self.future.set_running_or_notify_cancel()
        return not self.future.done()


def settle(outcomes: list[tuple[Any, Any, BaseException | None]]) -> None:
    """Resolve asyncio futures (on their loop's thread)."""
    for future, result, exc in outcomes:
        if future.done():
            continue
        if exc is None:
            future.set_result(result)
        else:
            future.set_exception(exc)


def deliver(outcomes: list[tuple[Unit, Any, BaseException | None]]) -> None:
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
            loop.call_soon_threadsafe(settle, items)


class Watchdog:
    """Fails the waiting writes of one event loop that outlive their ``answer_by`` time.

    The writer enforces deadlines itself; this only guards against a wedged writer (a disk
    that never answers), with one timer per loop every :data:`SWEEP_SECONDS` instead of one
    per request.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: dict[asyncio.Future, float] = {}
        self.armed = False

    def watch(self, future: asyncio.Future, answer_by: float) -> None:
        self.waiting[future] = answer_by
        future.add_done_callback(self._forget)
        if not self.armed:
            self.armed = True
            self.loop.call_later(SWEEP_SECONDS, self.sweep)

    def _forget(self, future: asyncio.Future) -> None:
        self.waiting.pop(future, None)

    def sweep(self) -> None:
        now = time.monotonic()
        for future, limit in list(self.waiting.items()):
            if now >= limit and not future.done():
                future.set_exception(DatabaseUnavailable("the write was not committed in time"))
        self.armed = bool(self.waiting)
        if self.armed:
            self.loop.call_later(SWEEP_SECONDS, self.sweep)


def is_refusal(exc: BaseException | None) -> bool:
    """The database refused the write (locked, full, I/O): not the unit's own error."""
    return isinstance(exc, DatabaseUnavailable)
