"""A provider's rate limit, as the fake OpenAI servers enforce and announce it.

:class:`RateLimit` is a requests-per-minute (and optionally tokens-per-minute) limit: each a
budget whole at its per-minute limit and refilled continuously, announced as OpenAI does on
every answer (``x-ratelimit-limit-*``, ``x-ratelimit-remaining-*``, ``x-ratelimit-reset-*``:
until the budget is whole again, written like ``120ms``, ``1s``, ``6m0s``), and, like OpenAI,
also enforced over shorter periods (``burst_seconds``). A request it refuses gets
``Retry-After`` in whole seconds. Used by ``tests/fake_openai.py`` (threads) and
``bench/_fake_ai.py`` (asyncio).
"""

from __future__ import annotations

import math
import threading
import time


def format_reset(seconds: float) -> str:
    """A duration as OpenAI writes ``x-ratelimit-reset-*``: ``120ms``, ``1s``, ``6m0s``,
    ``1.5s`` (Go's ``time.Duration``, to the millisecond)."""
    ms = max(0, round(seconds * 1000))
    if ms < 1000:
        return f"{ms}ms"
    minutes, rest = divmod(ms, 60_000)
    text = f"{rest / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    if minutes >= 60:
        return f"{minutes // 60}h{minutes % 60}m{text}"
    return f"{minutes}m{text}" if minutes else text


class _Bucket:
    """``capacity`` units, refilled continuously at ``per_minute`` a minute."""

    def __init__(self, per_minute: float, capacity: float, now: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = capacity
        self.level = capacity
        self.at = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.at) * self.rate)
        self.at = now

    def wait_for(self, units: float) -> float:
        return max(0.0, (min(units, self.capacity) - self.level) / self.rate)


class RateLimit:
    """A provider's limit: ``requests_per_minute`` (and ``tokens_per_minute``), each a budget
    whole at its per-minute limit and refilled continuously, as OpenAI announces it (reset =
    until whole again). Like OpenAI, it is also enforced over shorter periods: at most
    ``burst_seconds`` worth of the limit at once (60: the whole minute's budget may burst)."""

    def __init__(
        self,
        requests_per_minute: float,
        tokens_per_minute: float | None = None,
        *,
        burst_seconds: float = 60.0,
        clock=time.monotonic,
    ) -> None:
        self.clock = clock
        now = clock()
        self._budgets: list[tuple[str, _Bucket, _Bucket]] = []
        for name, limit in (("requests", requests_per_minute), ("tokens", tokens_per_minute)):
            if limit:
                burst = max(1.0, limit * min(burst_seconds, 60.0) / 60.0)
                self._budgets.append((name, _Bucket(limit, limit, now), _Bucket(limit, burst, now)))
        self._lock = threading.Lock()

    def take(self, tokens: float = 0.0) -> tuple[bool, dict[str, str], int | None]:
        """Admit a request of ``tokens``: ``(admitted, headers, retry_after)``."""
        with self._lock:
            now = self.clock()
            need = {"requests": 1.0, "tokens": float(tokens)}
            wait = 0.0
            for name, minute, burst in self._budgets:
                for bucket in (minute, burst):
                    bucket.refill(now)
                    wait = max(wait, bucket.wait_for(need[name]))
            admitted = wait == 0.0
            headers: dict[str, str] = {}
            for name, minute, burst in self._budgets:
                if admitted:
                    minute.level -= need[name]
                    burst.level -= need[name]
                headers[f"x-ratelimit-limit-{name}"] = str(round(minute.capacity))
                headers[f"x-ratelimit-remaining-{name}"] = str(max(0, math.floor(minute.level)))
                headers[f"x-ratelimit-reset-{name}"] = format_reset(
                    (minute.capacity - minute.level) / minute.rate
                )
            if admitted:
                return True, headers, None
            retry_after = max(1, math.ceil(wait))
            headers["retry-after"] = str(retry_after)
            return False, headers, retry_after
