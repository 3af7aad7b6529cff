"""The retry policy as a table: what the handler did → what is written and what is counted."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

import db
from ai import AIRateLimited, AIRequestError, AIResponseError, AIRetryableError
from db import JobResult
from scheduler import PassResult, RetryJobAt, Skipped
from scheduler._retry import (
    DEFAULT_RATE_LIMIT_SECONDS,
    MAX_SNOOZES,
    Decision,
    Outcome,
    UnknownJobType,
    backoff_seconds,
    decide,
)

NOW = datetime(2026, 1, 18, 10, 0, 0, tzinfo=UTC)
JITTER = 0.5  # the delay is shortened by JITTER * 25 %: 12.5 %
ENDPOINT = "POST https://api.example.test/v1/chat/completions"
CALL = f"AI call sentiment.classify to {ENDPOINT}"


def at(seconds: float) -> str:
    return db.iso(NOW + timedelta(seconds=seconds))


def claimed(
    attempts: int = 1, snoozes: int = 0, max_attempts: int = 5, last_error: str | None = None
) -> dict:
    """A claimed row as the runner has it (``attempts`` already counts this attempt)."""
    return {
        "id": 7,
        "type": "TEST_TYPE",
        "attempts": attempts,
        "snoozes": snoozes,
        "max_attempts": max_attempts,
        "last_error": last_error,
    }


def ai_error(cls, message: str, **kwargs):
    """An AI error as the client raises it: naming the endpoint and the feature."""
    exc = cls(message, endpoint=ENDPOINT, **kwargs)
    exc.feature_id = "sentiment.classify"
    return exc


GAVE_UP = f"gave up after {MAX_SNOOZES} rate-limit retries"
AT_SNOOZE_CAP = {"attempts": MAX_SNOOZES + 1, "snoozes": MAX_SNOOZES}
RATE_LIMITED = ai_error(AIRateLimited, "HTTP 429: slow down", status_code=429, retry_after=30)
RATE_LIMITED_TEXT = f"rate limited: AIRateLimited: HTTP 429: slow down ({CALL})"
UNUSABLE = ai_error(AIResponseError, "unknown sentiment tag 'Maybe'")
UNUSABLE_TEXT = f"AIResponseError: unknown sentiment tag 'Maybe' ({CALL})"


def refused(status: int):
    return ai_error(AIRequestError, f"HTTP {status}: no", status_code=status)


# (what the handler did, the claimed row's counts) → (the JobResult, the outcome)
TABLE = [
    pytest.param(None, {}, JobResult("SUCCEEDED"), Outcome.SUCCEEDED, id="returned"),
    pytest.param(Skipped("outbound"), {}, JobResult("SUCCEEDED"), Outcome.SKIPPED, id="skipped"),
    pytest.param(
        ValueError("boom"),
        {},
        JobResult("PENDING", "ValueError: boom", at(2 * 0.875)),
        Outcome.RETRIED,
        id="first-failure-backs-off-2s-less-proportional-jitter",
    ),
    pytest.param(
        ValueError("boom"),
        {"attempts": 3},
        JobResult("PENDING", "ValueError: boom", at(8 * 0.875)),
        Outcome.RETRIED,
        id="third-failure-backs-off-8s-less-proportional-jitter",
    ),
    pytest.param(
        ValueError("boom"),
        {"attempts": 15, "max_attempts": 20},
        JobResult("PENDING", "ValueError: boom", at(900 * 0.875)),
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
        JobResult("PENDING", "ValueError: broken", at(2 * 0.875)),
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
        RATE_LIMITED,
        {"attempts": 9, "snoozes": 3, "max_attempts": 2},
        JobResult("PENDING", RATE_LIMITED_TEXT, at(30), snooze=True),
        Outcome.RETRIED,
        id="429-snoozes-until-retry-after-not-a-failure",
    ),
    pytest.param(
        ai_error(AIRateLimited, "HTTP 429: slow down", status_code=429),
        {},
        JobResult("PENDING", RATE_LIMITED_TEXT, at(DEFAULT_RATE_LIMIT_SECONDS), snooze=True),
        Outcome.RETRIED,
        id="429-without-retry-after-snoozes-the-default-delay",
    ),
    pytest.param(
        ai_error(AIRateLimited, "HTTP 429: slow down", status_code=429, retry_after=0),
        {},
        JobResult("PENDING", RATE_LIMITED_TEXT, at(1), snooze=True),
        Outcome.RETRIED,
        id="429-saying-now-waits-a-second",
    ),
    pytest.param(
        RATE_LIMITED,
        AT_SNOOZE_CAP,
        JobResult("FAILED", f"{GAVE_UP}: {RATE_LIMITED_TEXT}"),
        Outcome.FAILED,
        id="429-snoozes-capped",
    ),
    pytest.param(
        ai_error(AIRetryableError, "HTTP 503: down", status_code=503),
        {},
        JobResult("PENDING", f"AIRetryableError: HTTP 503: down ({CALL})", at(2 * 0.875)),
        Outcome.RETRIED,
        id="5xx-backs-off-as-a-failure",
    ),
    pytest.param(
        ai_error(AIRetryableError, "HTTP 503: down", status_code=503, retry_after=60),
        {},
        JobResult("PENDING", f"AIRetryableError: HTTP 503: down ({CALL})", at(60)),
        Outcome.RETRIED,
        id="5xx-waits-at-least-its-retry-after",
    ),
    pytest.param(
        ai_error(AIRetryableError, "timeout: Request timed out.", kind="timeout"),
        {"attempts": 2},
        JobResult("PENDING", f"AIRetryableError: timeout: Request timed out. ({CALL})", at(3.5)),
        Outcome.RETRIED,
        id="timeout-backs-off",
    ),
    pytest.param(
        ai_error(AIRetryableError, "HTTP 500: oops", status_code=500),
        {"attempts": 5},
        JobResult("FAILED", f"AIRetryableError: HTTP 500: oops ({CALL})"),
        Outcome.FAILED,
        id="5xx-until-attempts-are-used-up",
    ),
    *(
        pytest.param(
            refused(status),
            {},
            JobResult("FAILED", f"AIRequestError: HTTP {status}: no ({CALL})"),
            Outcome.FAILED,
            id=f"{status}-fails-at-once",
        )
        for status in (400, 401, 403, 404, 422)
    ),
    pytest.param(
        UNUSABLE,
        {},
        JobResult("PENDING", UNUSABLE_TEXT, at(2 * 0.875)),
        Outcome.RETRIED,
        id="unusable-answer-is-retried-once",
    ),
    pytest.param(
        UNUSABLE,
        {"attempts": 2, "last_error": UNUSABLE_TEXT},
        JobResult("FAILED", UNUSABLE_TEXT),
        Outcome.FAILED,
        id="unusable-answer-twice-fails",
    ),
    pytest.param(
        UNUSABLE,
        {"attempts": 2, "last_error": f"AIRetryableError: HTTP 500: oops ({CALL})"},
        JobResult("PENDING", UNUSABLE_TEXT, at(4 * 0.875)),
        Outcome.RETRIED,
        id="unusable-answer-after-an-outage-is-retried",
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
    assert retried.level == logging.WARNING and retried.exc_info is exc  # traceback: DEBUG
    assert retried.message % retried.args == (
        "job 7 TEST_TYPE attempt 1 failed, retrying in 2.0s (failure 1 of 5): ValueError: boom"
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
    capped = decide(claimed(**AT_SNOOZE_CAP), RetryJobAt(1, "x"), NOW, lambda: 0.0).note
    assert capped is None


def test_an_ai_failure_is_one_line_naming_the_call_status_attempt_and_job():
    outage = ai_error(AIRetryableError, "HTTP 502: Bad\n gateway", status_code=502)
    note = decide(claimed(2), outage, NOW, lambda: 0.0).note
    assert note.message % note.args == (
        "job 7 TEST_TYPE attempt 2 failed, retrying in 4.0s (failure 2 of 5): "
        f"{CALL}: HTTP 502: AIRetryableError: Bad gateway"
    )
    gone = decide(claimed(), refused(401), NOW, lambda: 0.0).note
    assert gone.message % gone.args == (
        "job 7 TEST_TYPE attempt 1 failed for good (the provider refused the request; a retry "
        f"cannot fix it): {CALL}: HTTP 401: AIRequestError: no"
    )
    timeout = ai_error(AIRetryableError, "timeout: Request timed out.", kind="timeout")
    line = decide(claimed(), timeout, NOW, lambda: 0.0).note
    assert (line.message % line.args).endswith(
        f"{CALL}: timeout: AIRetryableError: Request timed out."
    )
    unusable = decide(claimed(), UNUSABLE, NOW, lambda: 0.0).note
    assert (unusable.message % unusable.args).endswith(
        f"{CALL}: unusable answer: AIResponseError: unknown sentiment tag 'Maybe'"
    )


def test_backoff_doubles_from_two_seconds_up_to_fifteen_minutes_less_its_jitter():
    assert [backoff_seconds(n, 0.0) for n in (0, 1, 2, 3, 9, 10, 500)] == [
        2,
        2,
        4,
        8,
        512,
        900,
        900,
    ]
    # The jitter is proportional: at most a quarter of the delay, whatever the delay.
    assert backoff_seconds(4, 0.5) == 16 * 0.875
    assert backoff_seconds(10, 0.999) == pytest.approx(900 * 0.75, abs=0.5)


def test_jobs_failing_together_do_not_retry_in_lockstep():
    import random

    rng = random.Random(7)
    for failures in (1, 4, 10):
        delays = sorted(backoff_seconds(failures, rng.random()) for _ in range(200))
        base = backoff_seconds(failures, 0.0)
        assert delays[0] >= 0.75 * base and delays[-1] <= base
        assert delays[-1] - delays[0] > 0.2 * base  # spread over a fifth of the delay or more


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
