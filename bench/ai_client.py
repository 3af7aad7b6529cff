"""The CPU an AI call costs leadhook's process: the openai SDK over its default connection
pool (httpx2) against the same SDK over aiohttp (``openai.DefaultAioHttpClient``, what
``ai/_openai.py`` uses), alternately, at 64 calls in flight against ``bench/_fake_ai.py``
(0.05 s a call, no limit). Printed: calls/s and the client process's CPU per call, and the
ratio of the two.

    python -m bench.ai_client [--calls 3000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import uvloop

from bench.ai_drain import fake_ai

BODY = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Classify: yes I am interested"}],
    "response_format": {"type": "json_object"},
}
IN_FLIGHT = 64


async def _run(url: str, transport: str, calls: int) -> tuple[float, float]:
    """``(calls/s, CPU µs a call)`` over ``transport`` (``httpx2`` or ``aiohttp``)."""
    import httpx2
    import openai

    extra = {"http_client": openai.DefaultAioHttpClient()} if transport == "aiohttp" else {}
    client = openai.AsyncOpenAI(api_key="sk-bench", base_url=f"{url}/v1", max_retries=0, **extra)
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one() -> None:
        async with slots:
            await client.post("/chat/completions", cast_to=httpx2.Response, body=BODY)

    try:
        await asyncio.gather(*(one() for _ in range(200)))  # connections made, code warm
        cpu, started = time.process_time(), time.monotonic()
        await asyncio.gather(*(one() for _ in range(calls)))
        cpu, took = time.process_time() - cpu, time.monotonic() - started
    finally:
        await client.close()
    return calls / took, cpu / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"AI calls through the openai SDK, {IN_FLIGHT} in flight, fake server at 0.05 s")
    cpu: dict[str, list[float]] = {"httpx2": [], "aiohttp": []}
    with fake_ai(0.05, 1e9) as url:
        for _ in range(args.rounds):
            for transport in cpu:
                rate, us = uvloop.run(_run(url, transport, args.calls))
                cpu[transport].append(us)
                print(f"  {transport:8s} {rate:7.0f} calls/s  {us:6.0f} us of CPU a call")
    mean = {name: sum(values) / len(values) for name, values in cpu.items()}
    print(
        f"aiohttp: {mean['aiohttp']:.0f} us a call, {mean['aiohttp'] / mean['httpx2']:.2f}x "
        f"the default pool's {mean['httpx2']:.0f} us"
    )


if __name__ == "__main__":
    main()
