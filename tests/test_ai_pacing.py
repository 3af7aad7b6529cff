"""AI calls paced from the provider's rate-limit headers (ai/_ratelimit.py), and jobs that run
their AI calls many at once."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

import ai
import db
from ai import AIClient, OpenAIProvider, Prompt
from ai._ratelimit import ANSWER_WAIT, FIRST_CALLS, RateLimiter, Slot, parse_reset
from config import Settings
from tests.ai_jobs import SMS_JOB, Jobs
from tests.conftest import rows
from tests.fake_openai import FakeOpenAI
from tests.fake_ratelimit import RateLimit, format_reset

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
PROMPT = Prompt(
    feature_id="sentiment.classify",
    prompt_key="sentiment.classify.v1",
    system='Answer with only a JSON object: {"tag": "..."}',
    user="Reply: yes please",
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def headers(remaining=None, reset=None, limit=None, kind="requests", **extra) -> dict:
    found = {f"x-ratelimit-{k}-{kind}": str(v) for k, v in (("limit", limit),
             ("remaining", remaining), ("reset", reset)) if v is not None}  # fmt: skip
    return {**found, **extra}


def answered(limiter: RateLimiter, found: dict, status: int = 200, tokens: float = 0.0) -> None:
    """One call admitted now and answered with ``found`` headers."""
    slot = limiter.reserve(tokens)
    assert isinstance(slot, Slot)
    limiter.observe(slot, found, status)


# -- the arithmetic ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("120ms", 0.12),
        ("1m30.5s", 90.5),
        ("1h2m3s", 3723.0),
        ("0s", 0.0),
        ("17.2s", 17.2),
        ("250us", 0.00025),
        ("2.5", 2.5),
        ("", None),
        ("soon", None),
        ("5x", None),
        ("1s2", None),
        (None, None),
    ],
)
def test_reset_durations_are_read_as_openai_writes_them(text, seconds):
    found = parse_reset(text)
    assert found == pytest.approx(seconds) if seconds is not None else found is None


@pytest.mark.parametrize("seconds", [0.12, 1.0, 59.9, 360.0, 3723.5])
def test_the_fake_writes_resets_that_the_limiter_reads_back(seconds):
    assert parse_reset(format_reset(seconds)) == pytest.approx(seconds, abs=0.001)
    assert format_reset(0.12) == "120ms" and format_reset(360) == "6m0s"


def test_before_any_answer_a_few_calls_go_and_the_rest_wait_for_one():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    slots = [limiter.reserve() for _ in range(FIRST_CALLS)]
    assert all(isinstance(s, Slot) for s in slots)
    assert limiter.reserve() == ANSWER_WAIT
    limiter.observe(slots[0], headers(remaining=100, reset="1s", limit=6000), 200)
    assert isinstance(limiter.reserve(), Slot)


def test_remaining_zero_waits_until_the_reset_then_the_budget_is_whole_again():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    answered(limiter, headers(remaining=0, reset="2s", limit=100000))
    assert limiter.reserve() == pytest.approx(2.0)
    clock.now += 1.5
    assert limiter.reserve() == pytest.approx(0.5)
    clock.now += 0.5
    assert isinstance(limiter.reserve(), Slot)


def test_calls_are_spread_over_the_reset_window():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    answered(limiter, headers(remaining=4, reset="1s", limit=100000))
    assert isinstance(limiter.reserve(), Slot)  # the first goes at once...
    assert limiter.reserve() == pytest.approx(0.25)  # ...the next a quarter of the window later
    clock.now += 0.25
    assert isinstance(limiter.reserve(), Slot)
    assert limiter.reserve() == pytest.approx(0.75 / 3)  # 3 left for the 0.75 s that remain


def test_never_faster_than_the_per_minute_limit_even_with_the_budget_whole():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    answered(limiter, headers(remaining=59, reset="1s", limit=60))  # 60 a minute
    assert isinstance(limiter.reserve(), Slot)
    assert limiter.reserve() == pytest.approx(1.0)


def test_a_per_second_limit_shows_in_its_reset_and_is_not_taken_as_per_minute():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    answered(limiter, headers(remaining=9, reset="100ms", limit=10))  # whole in 0.1 s: 10/s
    assert isinstance(limiter.reserve(), Slot)
    assert limiter.reserve() == pytest.approx(0.1)


def test_tokens_pace_by_the_call_s_tokens():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    found = {
        **headers(remaining=10000, reset="1ms", limit=1_000_000),
        **headers(remaining=1000, reset="10s", limit=10_000_000, kind="tokens"),
    }
    answered(limiter, found, tokens=100)
    assert isinstance(limiter.reserve(500), Slot)
    assert limiter.reserve(100) == pytest.approx(5.0)  # 500 of the 1000 left: half the window
    clock.now += 5
    assert limiter.reserve(600) == pytest.approx(5.0)  # 500 left: 600 wait for the reset


def test_calls_in_flight_are_not_counted_twice_nor_forgotten():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    answered(limiter, headers(remaining=100))
    first, *later = [limiter.reserve() for _ in range(4)]
    assert all(isinstance(s, Slot) for s in [first, *later])
    # the answer to `first` does not count the three sent after it
    limiter.observe(first, headers(remaining=3, reset="10s"), 200)
    assert limiter.requests.remaining == 0
    assert limiter.reserve() == pytest.approx(10.0)
    # the answer to later[1] counts later[0] and itself, not later[2] (still in flight)
    limiter.observe(later[1], headers(remaining=50), 200)
    assert limiter.requests.remaining == 49
    # an answer to a call sent before the one already taken in says less: skipped
    limiter.observe(later[0], headers(remaining=0, reset="10s"), 200)
    assert limiter.requests.remaining == 49
    limiter.release(later[2])
    assert limiter.in_flight == 0


def test_after_a_429_everyone_waits_until_retry_after():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    answered(limiter, headers(remaining=500))
    slot = limiter.reserve()
    limiter.observe(slot, headers(remaining=499), 429, 3.0)
    assert limiter.reserve() == pytest.approx(3.0)
    clock.now += 3
    assert isinstance(limiter.reserve(), Slot)


def test_a_429_without_retry_after_waits_for_the_spent_budget_s_reset():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    answered(limiter, headers(remaining=500))
    slot = limiter.reserve()
    limiter.observe(slot, headers(remaining=0, reset="4s"), 429)
    assert limiter.reserve() == pytest.approx(4.0)


def test_a_provider_without_rate_limit_headers_is_not_paced():
    limiter = RateLimiter(clock=Clock())
    answered(limiter, {"content-type": "application/json"})
    assert all(isinstance(limiter.reserve(), Slot) for _ in range(100))


def test_a_wait_longer_than_a_minute_is_a_rate_limit_at_once():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    answered(limiter, headers(remaining=0, reset="3h0m0s", limit=1000))
    with pytest.raises(ai.AIRateLimited) as raised:
        limiter.reserve()
    assert raised.value.retry_after == pytest.approx(3 * 3600)


# -- against the fake server ------------------------------------------------------------------


async def burst(client_or_provider, calls: int, tasks: int) -> int:
    """``calls`` calls from ``tasks`` tasks at once; how many were answered 429."""
    limited = 0
    queue = iter(range(calls))

    async def worker() -> None:
        nonlocal limited
        for _ in queue:
            try:
                await client_or_provider(PROMPT)
            except ai.AIRateLimited:
                limited += 1

    await asyncio.gather(*(worker() for _ in range(tasks)))
    return limited


async def test_a_burst_that_honours_the_headers_gets_no_429(store):
    # 3000 requests a minute, enforced over 1 s like OpenAI: 50 a second. 80 calls from 80
    # tasks at once: without pacing 30 of them are refused (the control below).
    with FakeOpenAI() as fake:
        fake.limit(3000, burst_seconds=1.0)
        provider = OpenAIProvider(model="gpt-4o-mini", api_key="sk-test", base_url=fake.base_url)
        client = AIClient(store, provider)
        started = time.monotonic()
        limited = await burst(lambda p: client.complete_json(p, source="test:pacing"), 80, 80)
        elapsed = time.monotonic() - started
        await client.flush()
        await client.close()
        assert (limited, fake.rate_limited, len(fake.requests)) == (0, 0, 80)
        assert elapsed < 10  # paced at the limit (about 1.6 s), not slower
        assert provider.limiter.paced and provider.limiter.requests.limit == 3000
        stored = await store.list_interactions()
        assert len(stored) == 80 and {r["status"] for r in stored} == {"success"}

    with FakeOpenAI() as fake:  # the control: the same burst, not paced
        fake.limit(3000, burst_seconds=1.0)
        bare = ai._openai._sdk().AsyncOpenAI(
            api_key="sk-test", base_url=fake.base_url, max_retries=0
        )

        async def unpaced(prompt: Prompt) -> None:
            try:
                await bare.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": prompt.user}]
                )
            except ai._openai._sdk().RateLimitError as exc:
                raise ai.AIRateLimited(str(exc)) from exc

        assert await burst(unpaced, 80, 80) == fake.rate_limited > 0
        await bare.close()


async def test_every_answer_carries_the_limit_headers_and_a_429_retry_after():
    limit = RateLimit(120, 1000, burst_seconds=60)
    admitted, found, _ = limit.take(10)
    assert admitted and found["x-ratelimit-limit-requests"] == "120"
    assert found["x-ratelimit-remaining-requests"] == "119"
    assert found["x-ratelimit-reset-requests"] == "500ms"
    assert found["x-ratelimit-remaining-tokens"] == "990"
    admitted, found, retry_after = limit.take(5000)  # more tokens than are left
    assert not admitted and retry_after == int(found["retry-after"]) >= 1
    assert found["x-ratelimit-remaining-requests"] == "119"  # a refused request takes nothing


async def test_the_wait_for_a_turn_is_not_the_call_s_latency(store, fake_openai):
    provider = OpenAIProvider(model="gpt-4o-mini", api_key="sk-test", base_url=fake_openai.base_url)
    client = AIClient(store, provider)
    answered(provider.limiter, headers(remaining=100, reset="1ms", limit=1_000_000))
    provider.limiter.blocked_until = provider.limiter.clock() + 0.4
    before = db.utcnow()
    result = await client.complete_json(PROMPT, source="test:pacing")
    await client.close()
    assert result.interaction["latency_ms"] < 300
    waited = db.parse_iso(result.interaction["created_at"]) - before
    assert waited.total_seconds() >= 0.35  # created when the request went


def test_the_offline_provider_is_not_paced():
    assert not hasattr(ai.OfflineProvider(), "limiter")


# -- jobs run their calls many at once ---------------------------------------------------------


def test_more_than_four_jobs_call_the_model_at_once(serve, database, workspace, fake_openai):
    fake_openai.answer_delay = 0.2
    jobs = Jobs(serve, database, fake_openai, "runner")  # the default LEADHOOK_JOB_CONCURRENCY
    try:
        started = time.monotonic()
        for i in range(20):
            jobs.deliver(workspace, body=f"Sounds good, tell me more about it ({i})")

        def all_done() -> bool:
            found = rows(database, "SELECT status FROM background_jobs WHERE type = ?", (SMS_JOB,))
            return len(found) == 20 and all(r["status"] == "SUCCEEDED" for r in found)

        jobs.wait_for(all_done, "20 inbound jobs", timeout=30)
        elapsed = time.monotonic() - started
    finally:
        jobs.close()
    calls = len(fake_openai.requests)
    assert calls >= 40  # sentiment and draft of each reply (and some scores)
    assert fake_openai.most_in_flight > 4
    # 4 at once could not have made these calls in less than calls × 0.2 s / 4
    assert elapsed < calls * 0.2 / 4


def test_the_documented_default_concurrency_is_config_s():
    default = Settings().job_concurrency
    assert default > 4
    for doc in ("docs/reference.md", "README.md"):
        text = (ROOT / doc).read_text()
        found = re.search(r"\| `LEADHOOK_JOB_CONCURRENCY` \| `(\d+)` \|", text)
        assert found, f"{doc} has no LEADHOOK_JOB_CONCURRENCY row"
        assert int(found.group(1)) == default, doc
