"""A local OpenAI-compatible server for tests: ``POST /v1/chat/completions`` on 127.0.0.1.

The real ``openai`` client talks to it through ``base_url`` (``OPENAI_BASE_URL``)::

    with FakeOpenAI() as fake:
        fake.push_json({"tag": "Interested"}, usage=usage(100, 20, cached=40))
        fake.push_error(429, headers={"Retry-After": "7"})
        ... AsyncOpenAI(base_url=fake.base_url, api_key="sk-test") ...
        fake.requests  # the JSON bodies received, in order

Modes, by the request's number (1-based, counting every request), come before the queue:
:meth:`FakeOpenAI.fail_always` (e.g. always 401, or from the Nth call on),
:meth:`FakeOpenAI.fail_once` (e.g. 500 once, on the Nth call) and
:meth:`FakeOpenAI.answer_malformed` (a JSON object that fits no schema leadhook asks for).

Scripted responses are served first-in first-out; when the queue is empty the server
answers with :meth:`FakeOpenAI.default_answer`: for leadhook's prompts it recognises the JSON
shape the system prompt asks for (``"tag"``, ``"body"``, ``"fit"``) and answers a valid
object (``Interested``, a short draft, scores 3/3/3), else ``{}``. Every answer carries
``usage`` with ``prompt_tokens_details.cached_tokens`` and
``completion_tokens_details.reasoning_tokens``; ``model`` is :attr:`FakeOpenAI.model`
(``gpt-4o-mini-2024-07-18`` unless changed) or the scripted one.

Rate limits (off unless asked for): :meth:`FakeOpenAI.limit` makes the server a provider with
a requests-per-minute (and optionally tokens-per-minute) limit, :class:`RateLimit`: every
answer then carries OpenAI's ``x-ratelimit-limit/remaining/reset-requests`` and ``-tokens``
headers, and a request past the limit is answered 429 with ``Retry-After`` (whole seconds)
and the same headers, before any scripted answer (:attr:`FakeOpenAI.rate_limited` counts them).
The bench's asyncio server (``bench/_fake_ai.py``) uses the same :class:`RateLimit`.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fake_ratelimit import RateLimit

DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"


def usage(
    prompt: int = 120, completion: int = 30, *, cached: int = 0, reasoning: int = 0
) -> dict[str, Any]:
    """A Chat Completions ``usage`` object."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0},
    }


def system_prompt(request: dict[str, Any]) -> str:
    return " ".join(
        str(m.get("content", "")) for m in request.get("messages", []) if m["role"] == "system"
    )


def request_tokens(request: dict[str, Any]) -> int:
    """The prompt's tokens as a provider estimates them for its limit (four characters a
    token)."""
    chars = sum(len(str(m.get("content", ""))) for m in request.get("messages", []))
    return math.ceil(chars / 4)


def default_answer(request: dict[str, Any]) -> Any:
    """A valid answer to leadhook's prompts, by the JSON shape the system prompt asks for."""
    system = system_prompt(request)
    if '"tag"' in system:
        return {"tag": "Interested", "reason": "fake server default"}
    if '"body"' in system:
        return {"body": "Hi there, thanks for your reply! Does a short call this week work?"}
    if '"fit"' in system:
        return {"fit": 3, "intent": 3, "overall": 3, "reasoning": "fake server default"}
    return {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # a burst of connections at once is queued, not reset

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a timeout test) is not an error of the fake."""


@dataclass
class Scripted:
    status: int = 200
    content: str | None = None  # the assistant message content (status 200)
    usage: dict[str, Any] | None = field(default_factory=usage)
    model: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # the raw JSON body of an error answer
    delay: float = 0.0  # seconds to wait before answering


class FakeOpenAI:
    """The server; use as a context manager (binds 127.0.0.1 on a free port)."""

    def __init__(self, model: str = DEFAULT_MODEL) -> None:
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []  # request headers, names lowercased
        self.default_usage: dict[str, Any] = usage()
        self.answer_delay = 0.0  # seconds every answer waits (on top of a scripted delay)
        self._queue: deque[Scripted] = deque()
        self._once: dict[int, Scripted] = {}  # request number → its answer
        self._from: tuple[int, Scripted] | None = None  # every request from this number on
        self._malformed: str | None = None  # answer prompts containing this malformed
        self.rate_limit: RateLimit | None = None
        self.rate_limited = 0  # requests answered 429 by the rate limit
        self.in_flight = 0  # requests being answered now
        self.most_in_flight = 0  # the most requests being answered at once
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    # -- scripting --------------------------------------------------------------------------

    def push(self, scripted: Scripted) -> None:
        with self._lock:
            self._queue.append(scripted)

    def push_json(
        self,
        content: Any,
        *,
        usage: dict[str, Any] | str | None = "default",
        model: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer 200 with ``content`` (JSON-encoded unless already a string)."""
        text = content if isinstance(content, str) else json.dumps(content)
        self.push(
            Scripted(
                content=text,
                usage=self.default_usage if usage == "default" else usage,  # type: ignore[arg-type]
                model=model,
                delay=delay,
            )
        )

    def push_error(
        self,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        message: str = "scripted error",
        delay: float = 0.0,
    ) -> None:
        """Answer ``status`` with an OpenAI-style error body."""
        body = {"error": {"message": message, "type": "fake_error", "code": str(status)}}
        self.push(Scripted(status=status, headers=headers or {}, body=body, delay=delay))

    @staticmethod
    def _error(status: int, headers: dict[str, str] | None, message: str) -> Scripted:
        body = {"error": {"message": message, "type": "fake_error", "code": str(status)}}
        return Scripted(status=status, headers=headers or {}, body=body)

    def fail_always(
        self,
        status: int,
        *,
        from_call: int = 1,
        headers: dict[str, str] | None = None,
        message: str = "scripted error",
    ) -> None:
        """Answer ``status`` to every request from the ``from_call``-th on (1 = all)."""
        with self._lock:
            self._from = (from_call, self._error(status, headers, message))

    def fail_once(
        self,
        status: int,
        *,
        call: int,
        headers: dict[str, str] | None = None,
        message: str = "scripted error",
    ) -> None:
        """Answer ``status`` to the ``call``-th request only."""
        with self._lock:
            self._once[call] = self._error(status, headers, message)

    def answer_malformed(self, prompt_contains: str = "") -> None:
        """Answer every request whose system prompt contains ``prompt_contains`` (all, when
        empty) with a JSON object that fits none of the schemas asked for, and usage."""
        with self._lock:
            self._malformed = prompt_contains

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def default_answer(self, request: dict[str, Any]) -> Any:
        return default_answer(request)

    def limit(
        self,
        requests_per_minute: float,
        tokens_per_minute: float | None = None,
        *,
        burst_seconds: float = 60.0,
    ) -> RateLimit:
        """Enforce a :class:`RateLimit` from now on (see the module doc)."""
        self.rate_limit = RateLimit(
            requests_per_minute, tokens_per_minute, burst_seconds=burst_seconds
        )
        return self.rate_limit

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- serving ----------------------------------------------------------------------------

    def _next(self, request: dict[str, Any], number: int) -> Scripted:
        system = system_prompt(request)
        with self._lock:
            if number in self._once:
                return self._once.pop(number)
            if self._from is not None and number >= self._from[0]:
                return self._from[1]
            if self._malformed is not None and self._malformed in system:
                content = json.dumps({"answer": "something else than what was asked"})
                return Scripted(content=content, usage=self.default_usage)
            if self._queue:
                return self._queue.popleft()
        return Scripted(content=json.dumps(self.default_answer(request)), usage=self.default_usage)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle's algorithm and the
            # client's delayed ACK add 40 ms to every keep-alive request.
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}}, {})
                    return
                try:
                    request = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    self._send(400, {"error": {"message": "request is not JSON"}}, {})
                    return
                with fake._lock:
                    fake.requests.append(request)
                    fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                    number = len(fake.requests)
                limit_headers: dict[str, str] = {}
                if fake.rate_limit is not None:
                    tokens = request_tokens(request) + fake.default_usage["completion_tokens"]
                    admitted, limit_headers, _ = fake.rate_limit.take(tokens)
                    if not admitted:
                        with fake._lock:
                            fake.rate_limited += 1
                        body = {"error": {"message": "Rate limit reached", "code": "rate_limit"}}
                        self._send(429, body, limit_headers)
                        return
                scripted = fake._next(request, number)
                scripted = replace(scripted, headers={**limit_headers, **scripted.headers})
                with fake._lock:
                    fake.in_flight += 1
                    fake.most_in_flight = max(fake.most_in_flight, fake.in_flight)
                try:
                    if scripted.delay or fake.answer_delay:
                        time.sleep(scripted.delay + fake.answer_delay)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1
                if scripted.status != 200:
                    self._send(scripted.status, scripted.body, scripted.headers)
                    return
                body: dict[str, Any] = {
                    "id": f"chatcmpl-fake-{len(fake.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": scripted.model or fake.model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": scripted.content},
                            "finish_reason": "stop",
                            "logprobs": None,
                        }
                    ],
                }
                if scripted.usage is not None:
                    body["usage"] = scripted.usage
                self._send(200, body, scripted.headers)

        return Handler
