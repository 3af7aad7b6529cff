"""The retry policy as a table: what the handler did → what is written and what is counted."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

import db
from ai import AIRetryableError
from db import JobResult
from scheduler import PassResult, RetryJobAt, Skipped
from scheduler._retry import (
    MAX_SNOOZES,
    Decision,
    Outcome,
    UnknownJobType,
    backoff_seconds,
    decide,
)

NOW = datetime(2026, 1, 18, 10, 0, 0, tzinfo=UTC)
JITTER = 0.25


def at(seconds: float) -> str:
    return db.iso(NOW + timedelta(seconds=seconds))


def claimed(attempts: int = 1, snoozes: int = 0, max_attempts: int = 5) -> dict:
    """A claimed row as the runner has it (``attempts`` already counts this attempt)."""
    return {
        "id": 7,
        "type": "TEST_TYPE",
        "attempts": attempts,
        "snoozes": snoozes,
        "max_attempts": max_attempts,
    }


GAVE_UP = f"gave up after {MAX_SNOOZES} rate-limit retries"
AT_SNOOZE_CAP = {"attempts": MAX_SNOOZES + 1, "snoozes": MAX_SNOOZES}

# (what the handler did, the claimed row's counts) → (the JobResult, the outcome)
TABLE = [
    pytest.param(None, {}, JobResult("SUCCEEDED"), Outcome.SUCCEEDED, id="returned"),
    pytest.param(Skipped("outbound"), {}, JobResult("SUCCEEDED"), Outcome.SKIPPED, id="skipped"),
    pytest.param(
        ValueError("boom"),
        {},
        JobResult("PENDING", "ValueError: boom", at(2 + JITTER)),
        Outcome.RETRIED,
        id="first-failure-backs-off-2s",
    ),
    pytest.param(
        ValueError("boom"),
        {"attempts": 3},
        JobResult("PENDING", "ValueError: boom", at(8 + JITTER)),
        Outcome.RETRIED,
        id="third-failure-backs-off-8s",
    ),
    pytest.param(
        ValueError("boom"),
        {"attempts": 15, "max_attempts": 20},
        JobResult("PENDING", "ValueError: boom", at(900)),
        Outcome.RETRIED,
        id="backoff-capped-at-15-min",
    ),
    pytest.param(
        RuntimeError("still broken"),
        {"attempts": 3, "max_attempts": 3},
        JobResult("FAILED", "RuntimeError: still broken"),
        Outcome.FAILED,
        id="last-allowed-failure",
    ),
    pytest.param(
        ValueError("broken"),
        {"attempts": 2, "snoozes": 1, "max_attempts": 2},
        JobResult("PENDING", "ValueError: broken", at(2 + JITTER)),
        Outcome.RETRIED,
        id="snoozes-are-not-failures",
    ),
    pytest.param(
        ValueError("broken"),
        {"attempts": 3, "snoozes": 1, "max_attempts": 2},
        JobResult("FAILED", "ValueError: broken"),
        Outcome.FAILED,
        id="failures-are-attempts-minus-snoozes",
    ),
    pytest.param(
        RetryJobAt(NOW + timedelta(seconds=90), "rate limited"),
        {"attempts": 5, "snoozes": 4, "max_attempts": 2},
        JobResult("PENDING", "rate limited", at(90), snooze=True),
        Outcome.RETRIED,
        id="retry-at-a-time-never-fails-on-attempts",
    ),
    pytest.param(
        RetryJobAt(30, "busy"),
        {},
        JobResult("PENDING", "busy", at(30), snooze=True),
        Outcome.RETRIED,
        id="retry-at-seconds-from-now",
    ),
    pytest.param(
        RetryJobAt(NOW.replace(tzinfo=None) + timedelta(seconds=60), "naive"),
        {},
        JobResult("PENDING", "naive", at(60), snooze=True),
        Outcome.RETRIED,
        id="retry-at-naive-means-utc",
    ),
    pytest.param(
        RetryJobAt(NOW - timedelta(hours=1), "late"),
        {},
        JobResult("PENDING", "late", at(0), snooze=True),
        Outcome.RETRIED,
        id="retry-at-in-the-past-means-now",
    ),
    pytest.param(
        RetryJobAt(60, "429 again"),
        AT_SNOOZE_CAP,
        JobResult("FAILED", f"{GAVE_UP}: 429 again"),
        Outcome.FAILED,
        id="retry-requests-capped",
    ),
    pytest.param(
        AIRetryableError("429 Too Many Requests", retry_after=30),
        {},
        JobResult("PENDING", "429 Too Many Requests", at(30), snooze=True),
        Outcome.RETRIED,
        id="ai-retry-after-is-a-retry-at",
    ),
    pytest.param(
        AIRetryableError("429 Too Many Requests", retry_after=30),
        AT_SNOOZE_CAP,
        JobResult("FAILED", f"{GAVE_UP}: 429 Too Many Requests"),
        Outcome.FAILED,
        id="ai-retry-after-capped",
    ),
    pytest.param(
        AIRetryableError("503 Service Unavailable"),
        {},
        JobResult("PENDING", "AIRetryableError: 503 Service Unavailable", at(2 + JITTER)),
        Outcome.RETRIED,
        id="ai-retryable-without-retry-after-is-a-failure",
    ),
    pytest.param(
        UnknownJobType("TEST_TYPE"),
        {},
        JobResult("FAILED", "unknown job type TEST_TYPE"),
        Outcome.FAILED,
        id="unknown-type",
    ),
]


@pytest.mark.parametrize(("ended", "counts", "written", "outcome"), TABLE)
def test_decide(ended, counts, written, outcome):
    jitters: list[float] = []

    def rng() -> float:
        jitters.append(JITTER)
        return JITTER

    decision = decide(claimed(**counts), ended, NOW, rng)
    assert (decision.result, decision.outcome) == (written, outcome)
    retried_failure = outcome is Outcome.RETRIED and not written.snooze
    assert len(jitters) == (1 if retried_failure else 0)  # jitter only for a backoff


def test_the_log_line_of_each_decision():
    exc = ValueError("boom")
    retried = decide(claimed(), exc, NOW, lambda: 0.0).note
    assert retried.level == logging.WARNING and retried.exc_info is exc
    assert retried.message % retried.args == (
        "job 7 TEST_TYPE attempt 1 failed, retrying in 2.0s: ValueError: boom"
    )
    final = decide(claimed(5), exc, NOW, lambda: 0.0).note
    assert final.level == logging.WARNING and final.exc_info is exc
    assert final.message % final.args == (
        "job 7 TEST_TYPE failed for good (attempt 5, 5 failures of 5): ValueError: boom"
    )
    snoozed = decide(claimed(), RetryJobAt(30, "busy"), NOW, lambda: 0.0).note
    assert (snoozed.level, snoozed.exc_info) == (logging.INFO, None)
    assert snoozed.message % snoozed.args == (
        f"job 7 TEST_TYPE attempt 1 asks to run again at {at(30)}: busy"
    )
    unknown = decide(claimed(), UnknownJobType("TEST_TYPE"), NOW, lambda: 0.0).note
    assert (unknown.level, unknown.exc_info) == (logging.ERROR, None)
    assert unknown.message % unknown.args == "job 7: unknown job type TEST_TYPE"
    assert decide(claimed(), None, NOW, lambda: 0.0) == Decision(
        JobResult("SUCCEEDED"), Outcome.SUCCEEDED
    )
    capped = decide(claimed(**AT_SNOOZE_CAP), RetryJobAt(1, "x"), NOW, lambda: 0.0)
    assert capped.note is None


def test_backoff_doubles_from_two_seconds_plus_jitter_up_to_fifteen_minutes():
    assert [backoff_seconds(n, 0.0) for n in (0, 1, 2, 3, 9, 10, 500)] == [
        2,
        2,
        4,
        8,
        512,
        900,
        900,
    ]
    assert backoff_seconds(4, 0.5) == 16.5


@pytest.mark.parametrize(
    ("outcome", "counted"),
    [
        (Outcome.SUCCEEDED, {"succeeded": 1}),
        (Outcome.SKIPPED, {"succeeded": 1, "skipped": 1}),
        (Outcome.FAILED, {"failed": 1}),
        (Outcome.RETRIED, {"retried": 1}),
        (Outcome.LOST, {"lost": 1}),
        (Outcome.RELEASED, {"released": 1}),
    ],
)
def test_a_pass_counts_each_outcome(outcome, counted):
    result = PassResult()
    result.record(outcome)
    assert {k: v for k, v in result.as_dict().items() if v} == counted


def test_the_cron_counts_are_camel_case_without_lost_and_released():
    result = PassResult(released_stale=1, processed=6, succeeded=4, lost=2, released=3)
    assert result.as_json() == {
        "releasedStale": 1,
        "processed": 6,
        "succeeded": 4,
        "failed": 0,
        "retried": 0,
        "skipped": 0,
        "remaining": 0,
    }
