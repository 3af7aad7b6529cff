"""The retry policy: how one attempt of a job ends, decided by a pure function, and the counts.

:func:`decide` maps what a handler did (its return value or its exception) to a
:class:`Decision`: the :class:`db.JobResult` to write, the :class:`Outcome` to count once it
is written, and the log line that says why (one line; the traceback goes to DEBUG). It reads
no clock and writes nothing; ``now`` and ``rng`` (uniform in [0, 1), called only when a failure
is retried) are given.

- returned (``None``, :class:`Skipped` or :class:`FinishWith`) → SUCCEEDED (with the
  writes of a ``FinishWith`` in the same transaction); counted ``succeeded`` (``skipped``,
  whose line says why);
- :class:`RetryJobAt`, or :class:`ai.AIRateLimited` (429) → PENDING at that time (never
  before ``now``; a 429's ``Retry-After``, at least a second, or
  :data:`DEFAULT_RATE_LIMIT_SECONDS` when it had none), ``snoozes + 1``: not a failure;
  counted ``retried``. After :data:`MAX_SNOOZES` of them: FAILED ``gave up after 20
  rate-limit retries: <reason>``;
- :class:`ai.AIRequestError` (400, 401, 403, 404, 422, any other 4xx: a retry cannot fix it)
  → FAILED at once, the reason in ``last_error``;
- :class:`ai.AIResponseError` (an answer that does not fit the schema) → retried once: FAILED
  when the attempt before also ended with one (``last_error`` starts ``AIResponseError:``);
- :class:`ai.AIRetryableError` (timeouts, connection errors, 5xx), and any other exception →
  PENDING at now + :func:`backoff_seconds` (failures, jitter), at least the provider's
  ``Retry-After`` when it gave one, counted ``retried``; or FAILED ``<Type>: <message>``
  when the failures (``attempts - snoozes``) reach ``max_attempts``;
- :class:`UnknownJobType` (no handler for the type) → FAILED ``unknown job type <TYPE>``.

An AI error's ``last_error`` and log line name the call (feature, endpoint, HTTP status or
what happened instead): ``AIRequestError: HTTP 401: ... (AI call sentiment.classify to POST
https://api.openai.com/v1/chat/completions)``.

Two outcomes never come from :func:`decide`: ``lost`` (the fenced write found the claim taken
away, or the result could not be written) and ``released`` (shutdown cancelled the attempt; the
runner puts the job back to PENDING, not a failure).

:func:`write_retrying` is the runner's own retry policy for its writes: a few tries while the
database cannot take them, then :class:`db.DatabaseUnavailable` goes to the caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

import db
from ai import AIError, AIRateLimited, AIRequestError, AIResponseError
from db import JobResult
from db.vocab import FAILED, PENDING, SUCCEEDED
from scheduler._registry import FinishWith, RetryJobAt, Skipped

log = logging.getLogger("leadhook.jobs")

MAX_BACKOFF_SECONDS = 15 * 60
# The delay is shortened by up to this fraction of itself, at random: jobs that failed
# together (an outage) spread out instead of retrying in lockstep.
JITTER_FRACTION = 0.25
MAX_SNOOZES = 20
DEFAULT_RATE_LIMIT_SECONDS = 30.0  # a 429 that did not say when to come back
MIN_RATE_LIMIT_SECONDS = 1.0  # a 429 saying "now" must not make the job spin
UNUSABLE_ANSWER = "AIResponseError:"  # how last_error starts after an unusable answer
MAX_LOGGED_ERROR = 500
WRITE_TIMEOUT_SECONDS = 10.0
WRITE_RETRIES = 5


class Outcome(StrEnum):
    """How a claim ended, as counted in :class:`PassResult`."""

    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"  # SUCCEEDED without work (message vanished, outbound, ...)
    FAILED = "failed"
    RETRIED = "retried"  # PENDING again for a later attempt (backoff or a retry request)
    LOST = "lost"  # the claim was taken away before the result was written: nothing written
    RELEASED = "released"  # interrupted by shutdown, PENDING again


class UnknownJobType(Exception):
    """No handler is registered for the job's type (what :func:`decide` is told then)."""

    def __init__(self, job_type: str) -> None:
        super().__init__(f"unknown job type {job_type}")
        self.job_type = job_type


class Note(NamedTuple):
    """A decision's log line: ``log.log(level, message, *args)``; ``exc_info``: the exception
    whose traceback is logged at DEBUG only."""

    level: int
    message: str
    args: tuple = ()
    exc_info: BaseException | None = None


@dataclass(frozen=True)
class Decision:
    """What to write for one attempt and what to count once it is written."""

    result: JobResult
    outcome: Outcome
    note: Note | None = None


def backoff_seconds(failures: int, jitter: float) -> float:
    """Delay before retrying after the ``failures``-th failure: ``d = min(15 min, 2^n s)``,
    shortened by ``jitter`` (in [0, 1)) times a quarter of itself: between 0.75 d and d."""
    base = min(float(MAX_BACKOFF_SECONDS), 2.0 ** min(max(failures, 1), 20))
    return base * (1.0 - JITTER_FRACTION * jitter)


def error_text(exc: BaseException) -> str:
    """``<Type>: <message>``, and for an AI error the call it was: ``(AI call <feature> to
    <endpoint>)`` (what ``last_error`` says)."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, AIError) and _call_of(exc):
        text += f" ({_call_of(exc)})"
    return text


def _call_of(exc: AIError) -> str:
    """``AI call <feature> to <endpoint>``; empty for an error that names neither."""
    if not exc.feature_id and not exc.endpoint:
        return ""
    return f"AI call {exc.feature_id or 'unknown'} to {exc.endpoint or 'unknown endpoint'}"


def _why(exc: BaseException) -> str:
    """The log line's reason: one line, the call and its status first for an AI error."""
    if isinstance(exc, AIError):
        message, status = str(exc), exc.status_text
        if message.startswith(f"{status}: "):
            message = message[len(status) + 2 :]
        call = f"{_call_of(exc)}: " if _call_of(exc) else ""
        text = f"{call}{status}: {type(exc).__name__}: {message}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= MAX_LOGGED_ERROR else text[: MAX_LOGGED_ERROR - 1] + "…"


def decide(job: dict, exc_or_result: object, now: datetime, rng: Callable[[], float]) -> Decision:
    """The end of one attempt of ``job`` (a claimed row); see the module docstring."""
    ended = exc_or_result
    if isinstance(ended, UnknownJobType):
        note = Note(logging.ERROR, "job %s: unknown job type %s", (job["id"], job["type"]))
        return Decision(JobResult(FAILED, str(ended)), Outcome.FAILED, note)
    if isinstance(ended, RetryJobAt):
        return _snooze(job, ended.when, ended.reason, now)
    if isinstance(ended, AIRateLimited):
        wait = DEFAULT_RATE_LIMIT_SECONDS if ended.retry_after is None else ended.retry_after
        wait = max(MIN_RATE_LIMIT_SECONDS, float(wait))
        return _snooze(job, wait, f"rate limited: {error_text(ended)}", now)
    if isinstance(ended, AIRequestError):
        return _fail_now(job, ended, "the provider refused the request; a retry cannot fix it")
    if isinstance(ended, AIResponseError) and (job.get("last_error") or "").startswith(
        UNUSABLE_ANSWER
    ):
        return _fail_now(job, ended, "the answer did not fit what was asked, twice")
    if isinstance(ended, BaseException):
        return _failure(job, ended, now, rng)
    if isinstance(ended, Skipped):
        message = "job %s %s attempt %s skipped, nothing to do: %s"
        note = Note(logging.INFO, message, (job["id"], job["type"], job["attempts"], ended.reason))
        return Decision(JobResult(SUCCEEDED), Outcome.SKIPPED, note)
    if isinstance(ended, FinishWith):
        return Decision(JobResult(SUCCEEDED, writes=ended.writes), Outcome.SUCCEEDED)
    return Decision(JobResult(SUCCEEDED), Outcome.SUCCEEDED)


def _fail_now(job: dict, exc: BaseException, why: str) -> Decision:
    message = "job %s %s attempt %s failed for good (%s): %s"
    note = Note(
        logging.WARNING, message, (job["id"], job["type"], job["attempts"], why, _why(exc)), exc
    )
    return Decision(JobResult(FAILED, error_text(exc)), Outcome.FAILED, note)


def _failure(job: dict, exc: BaseException, now: datetime, rng: Callable[[], float]) -> Decision:
    failures = job["attempts"] - job.get("snoozes", 0)
    error = error_text(exc)
    ids = (job["id"], job["type"], job["attempts"])
    if failures >= job["max_attempts"]:
        message = "job %s %s failed for good (attempt %s, %d failures of %d): %s"
        note = Note(logging.WARNING, message, (*ids, failures, job["max_attempts"], _why(exc)), exc)
        return Decision(JobResult(FAILED, error), Outcome.FAILED, note)
    delay = backoff_seconds(failures, rng())
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float) and retry_after > delay:
        delay = float(retry_after)  # the provider said when it can answer again
    message = "job %s %s attempt %s failed, retrying in %.1fs (failure %d of %d): %s"
    args = (*ids, delay, failures, job["max_attempts"], _why(exc))
    note = Note(logging.WARNING, message, args, exc)
    run_at = db.iso(now + timedelta(seconds=delay))
    return Decision(JobResult(PENDING, error, run_at), Outcome.RETRIED, note)


def _snooze(job: dict, when: datetime | float, reason: str, now: datetime) -> Decision:
    if job.get("snoozes", 0) >= MAX_SNOOZES:
        error = f"gave up after {MAX_SNOOZES} rate-limit retries: {reason}"
        return Decision(JobResult(FAILED, error), Outcome.FAILED)
    run_at = now + timedelta(seconds=when) if isinstance(when, int | float) else when
    run_at = max(run_at, now)
    message = "job %s %s attempt %s asks to run again at %s: %s"
    args = (job["id"], job["type"], job["attempts"], db.iso(run_at), " ".join(reason.split()))
    note = Note(logging.INFO, message, args)
    return Decision(JobResult(PENDING, reason, db.iso(run_at), snooze=True), Outcome.RETRIED, note)


@dataclass
class PassResult:
    """What a runner pass did (the cron route's counts)."""

    released_stale: int = 0  # RUNNING jobs of dead runners taken back (or failed)
    processed: int = 0  # jobs claimed and run
    succeeded: int = 0  # SUCCEEDED, including skipped
    failed: int = 0  # FAILED: attempts used up, unknown type, too many retry requests
    retried: int = 0  # back to PENDING for a later attempt (backoff or a retry request)
    skipped: int = 0  # SUCCEEDED without work (message vanished, outbound, ...)
    lost: int = 0  # claim lost before the result was written: nothing written
    released: int = 0  # interrupted by shutdown, PENDING again
    remaining: int = 0  # due PENDING jobs after the pass

    def record(self, outcome: Outcome) -> None:
        """Count one claim's outcome (a skipped job counts as succeeded too)."""
        match outcome:
            case Outcome.SUCCEEDED:
                self.succeeded += 1
            case Outcome.SKIPPED:
                self.skipped += 1
                self.succeeded += 1
            case Outcome.FAILED:
                self.failed += 1
            case Outcome.RETRIED:
                self.retried += 1
            case Outcome.LOST:
                self.lost += 1
            case Outcome.RELEASED:
                self.released += 1

    def as_json(self) -> dict[str, int]:
        """The cron route's counts, camelCase."""
        return {
            "releasedStale": self.released_stale,
            "processed": self.processed,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "retried": self.retried,
            "skipped": self.skipped,
            "remaining": self.remaining,
        }

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


async def write_retrying(operation: Callable[..., Any]) -> Any:
    """A runner write (``operation(timeout=...)``, a store method): retried a few times
    while the database cannot take it."""
    for attempt in range(WRITE_RETRIES):
        try:
            return await operation(timeout=WRITE_TIMEOUT_SECONDS)
        except db.DatabaseUnavailable as exc:
            if attempt == WRITE_RETRIES - 1:
                raise
            log.warning("job write refused (%s), retrying", exc)
            await asyncio.sleep(min(2**attempt, 10) * 0.5)
    raise AssertionError("unreachable")
