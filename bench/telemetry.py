"""AI telemetry overhead: a recorded call against the bare ``openai`` call, same fake server.

Both talk to a local OpenAI-compatible server (tests/fake_openai.py) on 127.0.0.1 through the
same real ``openai.AsyncOpenAI`` client. Calls alternate (bare, recorded, bare, ...) so drift
hits both alike. The recorded call is leadhook's ``AIClient.complete_json``: the call, JSON
parsing, the ``ai_interactions`` row built and handed to the group-committing writer (not
awaited).
Also timed alone: building and submitting the row (the telemetry proper).

    python -m bench.telemetry [--calls 500]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import ai
import db
from ai.client import AIClient, OpenAIProvider, Prompt
from tests.fake_openai import FakeOpenAI

PROMPT = Prompt("sentiment.classify", "sentiment.classify.v1", "Answer JSON {tag}.", "Yes please")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def measure(calls: int) -> dict[str, list[float]]:
    with FakeOpenAI() as fake, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "telemetry.db"
        store = db.open_store(path)
        provider = OpenAIProvider(model="gpt-4o-mini", api_key="sk-bench", base_url=fake.base_url)
        client = AIClient(store, provider)
        bare = provider._client  # the same openai.AsyncOpenAI: only leadhook's wrapper differs
        record = client._record
        spent: list[float] = []

        def timed_record(*args, **kwargs):
            started = time.perf_counter()
            try:
                return record(*args, **kwargs)
            finally:
                spent.append((time.perf_counter() - started) * 1000)

        client._record = timed_record
        times: dict[str, list[float]] = {"bare": [], "recorded": []}
        job = ai.JobContext(job_id=1, job_type="SMS_INBOUND_POST_PROCESS", attempt=1)
        with ai.ai_telemetry_source("background_job:SMS_INBOUND_POST_PROCESS"), ai.job_context(job):
            for i in range(calls * 2 + 20):
                started = time.perf_counter()
                if i % 2 == 0:
                    await bare.chat.completions.create(
                        model="gpt-4o-mini",
                        messages=[
                            {"role": "system", "content": PROMPT.system},
                            {"role": "user", "content": PROMPT.user},
                        ],
                        response_format={"type": "json_object"},
                    )
                    kind = "bare"
                else:
                    await client.complete_json(PROMPT)
                    kind = "recorded"
                if i >= 20:  # warm-up done
                    times[kind].append((time.perf_counter() - started) * 1000)
        await client.flush()
        stored = len(await store.list_interactions())
        await client.close()
        store.close()
    times["telemetry"] = spent[10:]
    times["stored"] = [stored]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    t = asyncio.run(measure(args.calls))
    bare, rec, tel = t["bare"], t["recorded"], t["telemetry"]
    print(f"AI call through the real openai client to a local fake server ({len(bare)} each)")
    print(f"{'call':<28} {'mean ms':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for label, values in (("bare openai call", bare), ("leadhook recorded call", rec)):
        print(
            f"{label:<28} {statistics.mean(values):>8.3f} {statistics.median(values):>8.3f} "
            f"{_pct(values, 0.99):>8.3f}"
        )
    print(
        f"{'telemetry alone':<28} {statistics.mean(tel):>8.3f} {statistics.median(tel):>8.3f} "
        f"{_pct(tel, 0.99):>8.3f}"
    )
    overhead = statistics.median(rec) - statistics.median(bare)
    print(
        f"overhead per call: {overhead:.3f} ms by median difference, "
        f"{statistics.mean(tel):.3f} ms measured alone (target <= 1 ms); "
        f"ratio recorded/bare {statistics.median(rec) / statistics.median(bare):.2f}; "
        f"rows stored {t['stored'][0]}"
    )


if __name__ == "__main__":
    main()
