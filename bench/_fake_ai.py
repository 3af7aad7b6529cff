"""An OpenAI-compatible server for the benchmarks: asyncio, 127.0.0.1 only, bounded lifetime.

``POST /v1/chat/completions`` answers every request after ``--latency`` seconds with a valid
answer to leadhook's prompts (``tests.fake_openai.default_answer``) and a usage of four
characters a token, under a rate limit (``tests.fake_ratelimit.RateLimit``: ``--rpm``,
``--tpm``, enforced over ``--burst-seconds`` like OpenAI): every answer carries the
``x-ratelimit-*`` headers; past the limit the answer is 429 at once, with ``Retry-After``.
``GET /stats`` gives the counts (requests, answered, rate_limited, most_in_flight).

One asyncio task per connection (hundreds of concurrent requests; the client keeps them
alive). The process exits after ``--max-seconds`` whatever happens.

    python -m bench._fake_ai --port 8123 --latency 0.3 --rpm 300 [--tpm N] [--burst-seconds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from typing import Any

from tests.fake_openai import DEFAULT_MODEL, default_answer, request_tokens
from tests.fake_ratelimit import RateLimit

REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests"}


class Server:
    def __init__(self, latency: float, limit: RateLimit) -> None:
        self.latency = latency
        self.limit = limit
        self.stats = {"requests": 0, "answered": 0, "rate_limited": 0, "most_in_flight": 0}
        self.in_flight = 0
        self.started = time.monotonic()

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                body = await reader.readexactly(length) if length else b""
                status, answer, extra = await self.answer(method, path, body)
                raw = json.dumps(answer).encode()
                out = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}"]
                out += ["content-type: application/json", f"content-length: {len(raw)}"]
                out += [f"{name}: {value}" for name, value in extra.items()]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + raw)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def answer(self, method: str, path: str, body: bytes) -> tuple[int, Any, dict]:
        if method == "GET" and path == "/stats":
            return 200, {**self.stats, "seconds": time.monotonic() - self.started}, {}
        if method != "POST" or path.rstrip("/") != "/v1/chat/completions":
            return 404, {"error": {"message": f"no route {method} {path}"}}, {}
        try:
            request = json.loads(body or b"{}")
        except json.JSONDecodeError:
            return 400, {"error": {"message": "request is not JSON"}}, {}
        self.stats["requests"] += 1
        content = json.dumps(default_answer(request))
        prompt_tokens = request_tokens(request)
        completion_tokens = math.ceil(len(content) / 4)
        admitted, headers, _ = self.limit.take(prompt_tokens + completion_tokens)
        if not admitted:
            self.stats["rate_limited"] += 1
            message = "Rate limit reached for requests"
            return 429, {"error": {"message": message, "code": "rate_limit_exceeded"}}, headers
        self.in_flight += 1
        self.stats["most_in_flight"] = max(self.stats["most_in_flight"], self.in_flight)
        try:
            await asyncio.sleep(self.latency)
        finally:
            self.in_flight -= 1
        self.stats["answered"] += 1
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }
        answer = {
            "id": f"chatcmpl-bench-{self.stats['requests']}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": DEFAULT_MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
        return 200, answer, headers


async def serve(args: argparse.Namespace) -> None:
    limit = RateLimit(args.rpm, args.tpm, burst_seconds=args.burst_seconds)
    server = Server(args.latency, limit)
    listener = await asyncio.start_server(
        server.connection, "127.0.0.1", args.port, backlog=1024, limit=1 << 20
    )
    async with listener:
        await asyncio.sleep(args.max_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per answer")
    parser.add_argument("--rpm", type=float, default=30_000, help="requests a minute")
    parser.add_argument("--tpm", type=float, default=150_000_000, help="tokens a minute")
    parser.add_argument(
        "--burst-seconds",
        type=float,
        default=1.0,
        help="the limit is also enforced over this many seconds (60: the minute may burst)",
    )
    parser.add_argument("--max-seconds", type=float, default=3600, help="exit after this")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
