"""Pacing of AI calls from the provider's rate-limit headers (DESIGN "AI calls").

An OpenAI-compatible provider announces on every answer what is left of the account's limits:
``x-ratelimit-limit-requests``, ``x-ratelimit-remaining-requests``,
``x-ratelimit-reset-requests`` (a duration like ``1s``, ``6m0s``, ``120ms``: until the budget
is whole again) and the same three for ``-tokens``; past a limit it answers 429 with
``Retry-After``. :class:`RateLimiter` turns those into when the next call may go, so a burst of
jobs drains as fast as the provider allows and not faster. Rules, for each budget (requests:
one per call; tokens: the call's estimate):

- **Never faster than the limit, spread evenly**: calls go at most ``limit`` per minute, one
  every ``60 s × units / limit`` (OpenAI's RPM and TPM, which OpenAI also enforces over shorter
  periods: a minute's budget spent at once gets 429s). A reset that shows the budget refilling
  clearly faster (a per-second limit: whole again after ``reset × limit / (limit - remaining)``
  under 30 s) sets that shorter window.
- **Spread over what is left**: with ``remaining`` R and the budget whole again in S seconds,
  the next call goes ``S × units / R`` later (one every S/R seconds for requests).
- **Nothing left**: R below what the call needs waits until the reset.
- **A reset that passed** with no answer since: the budget is whole again, as large as the
  largest ``remaining`` an answer reported plus its call (at most ``x-ratelimit-limit-*``).
- **Calls in flight**: an answer describes the budget when its request was taken in, so its
  reset counts from when that request was sent, and ``remaining`` is what it says less the
  calls sent after it and not yet answered. An answer to a call sent before the last one taken
  in says less, and only ends its call.
- **429**: every call waits until ``Retry-After`` (``retry-after-ms``), or without one until
  the exhausted budget's reset (else 1 s). The call that got it raises, as before.
- **Before the first answer**, at most :data:`FIRST_CALLS` calls go; the others wait for an
  answer. An answer (2xx) without any ``x-ratelimit-*`` header: the provider announces no
  limit and calls are not paced (until an answer carries the headers again).
- **A wait longer than** ``longest_wait`` (60 s; a daily limit spent) is not waited:
  :class:`~ai.errors.AIRateLimited` with that ``retry_after`` at once, so the job is snoozed
  and its slot freed.

The arithmetic is synchronous (:meth:`RateLimiter.reserve`, :meth:`RateLimiter.observe`,
:meth:`RateLimiter.release`) on a monotonic clock that tests replace; :meth:`RateLimiter.acquire`
sleeps until :meth:`~RateLimiter.reserve` admits the call, waiting calls taking their turns
first come, first served. Every admitted call must end with exactly one ``observe`` (an
answer, any status) or ``release`` (no answer). One limiter per provider; the process has one
provider (``app.state.ai``), so it paces every AI call of the process.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ai.errors import AIRateLimited

FIRST_CALLS = 4  # calls let through before any answer said what the limits are
ANSWER_WAIT = 0.05  # seconds between looks while only an answer can tell more
NO_RETRY_AFTER = 1.0  # a 429 that says nothing about when
LONGEST_WAIT = 60.0
LATE_TOLERANCE = 0.01  # a turn taken this much late is not counted against the next
LIMIT_WINDOW = 60.0  # x-ratelimit-limit-* is per minute (OpenAI's RPM and TPM)

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_reset(text: str | None) -> float | None:
    """Seconds of an ``x-ratelimit-reset-*`` value: Go-style durations (``1s``, ``6m0s``,
    ``120ms``, ``1h2m3.5s``) or a bare number of seconds; None when absent or unreadable."""
    if text is None:
        return None
    text = text.strip().lower()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pos, seconds = 0, 0.0
        for match in _DURATION.finditer(text):
            if match.start() != pos:
                return None
            seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            pos = match.end()
        if pos != len(text) or pos == 0:
            return None
    return seconds if 0 <= seconds < float("inf") else None


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if 0 <= value < float("inf") else None


@dataclass
class _Budget:
    """One of the provider's budgets (requests or tokens), as this process knows it."""

    name: str
    limit: float | None = None
    remaining: float | None = None  # as last announced, minus what was sent after
    reset_at: float | None = None  # when it is whole again (monotonic seconds)
    capacity: float | None = None  # how large it is when whole
    window: float = LIMIT_WINDOW  # what ``limit`` is per (seconds)

    def roll(self, now: float, after: float) -> None:
        """A reset that passed makes the budget whole again, less the ``after`` units sent
        since the last answer's request."""
        if self.reset_at is not None and now >= self.reset_at:
            self.reset_at = None
            if self.capacity is not None:
                self.remaining = self.capacity - after

    def announce(
        self, headers: Mapping[str, str], sent_at: float, units: float, after: float
    ) -> bool:
        """Take what the headers of the answer to a call sent at ``sent_at`` (taking ``units``)
        say, ``after`` units having been sent since; whether they said anything."""
        limit = _number(headers.get(f"x-ratelimit-limit-{self.name}"))
        remaining = _number(headers.get(f"x-ratelimit-remaining-{self.name}"))
        reset = parse_reset(headers.get(f"x-ratelimit-reset-{self.name}"))
        if limit is None and remaining is None and reset is None:
            return False
        if limit is not None:
            self.limit = limit
        if remaining is not None:
            whole = max(self.capacity or 0.0, remaining + units)
            self.capacity = min(whole, self.limit) if self.limit else whole
            self.remaining = remaining - after
            self.reset_at = sent_at + reset if reset else None
            if self.limit and reset and remaining < self.limit:
                # refilled at limit per window, a budget is whole again after (limit -
                # remaining) units' worth of the window: a clearly shorter window shows here
                implied = reset * self.limit / (self.limit - remaining)
                if implied < LIMIT_WINDOW / 2:
                    self.window = min(self.window, implied)
        elif reset is not None:
            self.reset_at = sent_at + reset
        return True


@dataclass(frozen=True)
class Slot:
    """An admitted call: its place in the order calls were sent, when, and its tokens."""

    seq: int
    sent_at: float
    tokens: float


class RateLimiter:
    """When the next AI call may go, from the provider's headers (see the module doc)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        longest_wait: float = LONGEST_WAIT,
        first_calls: int = FIRST_CALLS,
    ) -> None:
        self.clock = clock
        self.longest_wait = longest_wait
        self.first_calls = first_calls
        self.requests = _Budget("requests")
        self.tokens = _Budget("tokens")
        self.blocked_until = 0.0  # after a 429: nobody goes before
        self.next_at = 0.0  # the spread: the next call not before
        self.paced: bool | None = None  # None: no answer yet; False: no headers announced
        self.waited = 0.0  # seconds calls spent waiting here, in total
        self._flying: dict[int, float] = {}  # seq → tokens of the calls sent, not answered
        self._seq = 0
        self._answered_seq = 0  # the latest-sent call whose answer was taken in
        self._lock = threading.Lock()
        self._queue: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    @property
    def in_flight(self) -> int:
        return len(self._flying)

    def _after(self, seq: int) -> tuple[float, float]:
        """Requests and tokens of the calls in flight sent after call ``seq``."""
        later = [tokens for s, tokens in self._flying.items() if s > seq]
        return float(len(later)), float(sum(later))

    def reserve(self, tokens: float = 0.0) -> Slot | float:
        """A :class:`Slot` when a call needing ``tokens`` may go now (it is then in flight),
        else the seconds to wait before asking again. :class:`AIRateLimited` when the wait
        is longer than ``longest_wait``."""
        with self._lock:
            now = self.clock()
            wait = self._wait(now, tokens)
            if wait > self.longest_wait:
                raise AIRateLimited(
                    f"rate limited: the provider's limits allow the next call in {wait:.0f}s",
                    retry_after=wait,
                )
            if wait > 0:
                return wait
            return self._admit(now, tokens)

    def _wait(self, now: float, tokens: float) -> float:
        if self.paced is False:
            return 0.0
        if self.paced is None:
            return 0.0 if len(self._flying) < self.first_calls else ANSWER_WAIT
        until = max(now, self.blocked_until, self.next_at)
        answer_due = False
        after = self._after(self._answered_seq)
        for budget, units, sent in (
            (self.requests, 1.0, after[0]),
            (self.tokens, tokens, after[1]),
        ):
            budget.roll(now, sent)
            if budget.remaining is None or budget.remaining >= units:
                continue
            if budget.reset_at is not None:
                until = max(until, budget.reset_at)
            elif sent > 0:
                answer_due = True  # the whole budget is in flight: its answers tell more
        wait = until - now
        return max(wait, ANSWER_WAIT) if answer_due else wait

    def _admit(self, now: float, tokens: float) -> Slot:
        gap = 0.0
        for budget, units in ((self.requests, 1.0), (self.tokens, tokens)):
            if budget.limit:
                gap = max(gap, units * budget.window / budget.limit)
            if budget.remaining is None:
                continue
            if budget.reset_at is not None and budget.remaining > 0 and units > 0:
                gap = max(gap, (budget.reset_at - now) * units / budget.remaining)
            budget.remaining -= units
        # on the grid of the spread: a turn taken a little late does not delay the next
        self.next_at = max(self.next_at, now - min(LATE_TOLERANCE, gap / 2)) + gap
        self._seq += 1
        self._flying[self._seq] = tokens
        return Slot(seq=self._seq, sent_at=now, tokens=tokens)

    def observe(
        self,
        slot: Slot,
        headers: Mapping[str, str] | None,
        status: int,
        retry_after: float | None = None,
    ) -> None:
        """An answer came back for ``slot`` with ``status`` and ``headers`` (lowercase-keyed
        or case-insensitive); ``retry_after``: the 429's, already read."""
        with self._lock:
            now = self.clock()
            self._flying.pop(slot.seq, None)
            if slot.seq > self._answered_seq:  # an older call's answer says less: skip it
                self._answered_seq = slot.seq
                requests, tokens = self._after(slot.seq)
                headers = headers or {}
                said = self.requests.announce(headers, slot.sent_at, 1.0, requests)
                said = self.tokens.announce(headers, slot.sent_at, slot.tokens, tokens) or said
                if said:
                    self.paced = True
                elif status < 400:
                    self.paced = False
            if status == 429:
                self.paced = True
                self._block(now, retry_after)

    def _block(self, now: float, retry_after: float | None) -> None:
        if retry_after is None:
            resets = [
                b.reset_at - now
                for b in (self.requests, self.tokens)
                if b.reset_at is not None and (b.remaining or 0) <= 0
            ]
            retry_after = max(resets) if resets else NO_RETRY_AFTER
        self.blocked_until = max(self.blocked_until, now + retry_after)

    def release(self, slot: Slot) -> None:
        """The call of ``slot`` got no answer (a timeout, a connection error, cancelled)."""
        with self._lock:
            self._flying.pop(slot.seq, None)

    async def acquire(self, tokens: float = 0.0) -> Slot:
        """Wait until a call needing ``tokens`` may go; it is then in flight (see the module
        doc for how it must end). Raises :class:`AIRateLimited` as :meth:`reserve`. Calls
        waiting take their turns first come, first served (only the first one looks)."""
        turn = self._turn()
        if not turn.locked():  # nobody waiting: maybe at once
            slot = self.reserve(tokens)
            if isinstance(slot, Slot):
                return slot
        started = self.clock()
        async with turn:
            while not isinstance(slot := self.reserve(tokens), Slot):
                await asyncio.sleep(slot)
        self.waited += self.clock() - started
        return slot

    def _turn(self) -> asyncio.Lock:
        """The queue of waiting calls, of the running event loop (a lock belongs to one)."""
        loop = asyncio.get_running_loop()
        if self._queue is None or self._queue[0] is not loop:
            self._queue = (loop, asyncio.Lock())
        return self._queue[1]
