"""Connection hygiene (DESIGN "Guarantees"): idle and slow connections are closed after a
timeout, the number of open connections is bounded, and at the bound a provider's delivery and
a health check are still answered. Every attack here is bounded in count and time and aimed at
127.0.0.1 only."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import count_rows, free_port, load_payload

GHL = "/api/webhooks/ghl/sms"
PARTIAL_HEADERS = b"POST /api/webhooks/ghl/sms HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and the seconds that took."""
    start = time.monotonic()
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received, time.monotonic() - start


def json_error(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower()
    return status, json.loads(body)


class Dripper:
    """Sends one more byte on each socket every ``interval`` seconds, from a thread, until
    stopped (a slowloris client); a socket the server closed is left alone."""

    def __init__(self, socks: list[socket.socket], interval: float = 0.2) -> None:
        self.socks, self.interval = list(socks), interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            for sock in list(self.socks):
                try:
                    sock.send(b"x")
                except OSError:
                    self.socks.remove(sock)

    def __enter__(self) -> Dripper:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def test_a_connection_that_sends_nothing_is_closed_after_the_read_timeout(serve):
    live = serve(http_read_timeout_seconds=1.0)
    with connect(live.port) as sock:
        received, seconds = read_until_closed(sock, timeout=10)
    assert received == b""  # nothing was asked, nothing is answered
    assert 0.8 < seconds < 3


def test_slowloris_headers_get_a_408_json_error_and_are_closed(serve):
    live = serve(http_read_timeout_seconds=1.0)
    with connect(live.port) as sock:
        sock.sendall(PARTIAL_HEADERS + b"X-Drip: ")
        with Dripper([sock]):  # a byte every 0.2 s never completes the headers
            received, seconds = read_until_closed(sock, timeout=10)
    status, body = json_error(received)
    assert status == 408
    assert body == {
        "success": False,
        "error": "The request was not received within 1 s: send its headers and body at once",
    }
    assert 0.8 < seconds < 3
    assert live.server.guard.tally.total["timeout"] == 1


def test_a_dripped_body_is_answered_408_and_nothing_is_stored(serve, workspace, database):
    live = serve(http_read_timeout_seconds=1.0)
    with connect(live.port) as sock:
        sock.sendall(
            PARTIAL_HEADERS
            + f"Authorization: Bearer {workspace.token}\r\n".encode()
            + b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"
        )
        with Dripper([sock]):
            received, seconds = read_until_closed(sock, timeout=10)
    status, _ = json_error(received)
    assert status == 408
    assert 0.8 < seconds < 3
    assert count_rows(database, "messages") == 0


def test_an_idle_kept_alive_connection_is_closed_after_the_keepalive(serve):
    live = serve(http_keepalive_seconds=1.0, http_read_timeout_seconds=5.0)
    with connect(live.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        time.sleep(0.2)
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        rest, seconds = read_until_closed(sock, timeout=10)
    assert rest == b""
    assert 0.6 < seconds < 2.5


def test_malformed_http_gets_a_400_json_error(serve):
    live = serve()
    with connect(live.port) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        received, _ = read_until_closed(sock, timeout=10)
    status, body = json_error(received)
    assert status == 400
    assert body["success"] is False
    assert body["error"].startswith("Malformed HTTP request")


def test_headers_larger_than_16_kb_get_a_400_json_error(serve):
    live = serve()
    with connect(live.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000)
        received, _ = read_until_closed(sock, timeout=10)
    status, body = json_error(received)
    assert status == 400
    assert "Malformed HTTP request" in body["error"]


def timed(call) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    response = call()
    return response, time.monotonic() - start


@pytest.mark.parametrize(
    ("idle", "slow", "limit"),
    [
        (1500, 500, 200),  # far past the bound: each new connection closes the oldest waiting
        (700, 200, 1000),  # below the bound: all held open, the event loop still answers
    ],
)
def test_at_the_connection_limit_a_delivery_and_health_checks_are_answered_at_once(
    serve, workspace, database, idle, slow, limit
):
    """Connections that send nothing or drip their headers, with a read timeout long enough
    not to help: the provider's delivery and /healthz are answered within a second, and no
    more than the bound are ever open."""
    live = serve(max_connections=limit, http_read_timeout_seconds=30.0)
    guard = live.server.guard
    held: list[socket.socket] = []
    most_open = 0
    try:
        for _ in range(idle):
            held.append(connect(live.port))
        slow_socks = [connect(live.port) for _ in range(slow)]
        held += slow_socks
        for sock in slow_socks:
            sock.sendall(PARTIAL_HEADERS + b"X-Drip: ")
        with Dripper(slow_socks):
            time.sleep(0.5)
            most_open = guard.open
            limits = httpx.Limits(max_keepalive_connections=0)
            with httpx.Client(base_url=live.url, timeout=10, limits=limits) as http:
                delivery, delivery_seconds = timed(
                    lambda: http.post(
                        GHL, json=load_payload("ghl_sms_workflow.json"), headers=workspace.auth
                    )
                )
                health, health_seconds = timed(lambda: http.get("/healthz"))
                ready, ready_seconds = timed(lambda: http.get("/readyz"))
            most_open = max(most_open, guard.open)
    finally:
        for sock in held:
            sock.close()
    print(
        f"\n{idle} idle + {slow} slow connections, bound {limit}: delivery "
        f"{delivery_seconds * 1000:.0f} ms, /healthz {health_seconds * 1000:.0f} ms, "
        f"/readyz {ready_seconds * 1000:.0f} ms; at most {most_open} open; "
        f"{guard.tally.total['evicted']} closed to make room"
    )
    assert delivery.status_code == 200, delivery.text
    assert delivery.json()["deduped"] is False
    assert health.status_code == 200
    assert ready.status_code == 200
    assert delivery_seconds < 1
    assert health_seconds < 1
    assert most_open <= limit
    assert guard.tally.total["evicted"] >= max(0, idle + slow - limit)
    assert count_rows(database, "messages") == 1


def test_when_every_connection_is_being_answered_new_ones_wait_their_turn(serve):
    """The bound holds even when nothing can be closed to make room: a new connection is not
    accepted (it waits in the kernel's queue) until the request being answered is done, and
    is then served."""
    live = serve(max_connections=1, http_read_timeout_seconds=5.0)
    guard = live.server.guard
    gate = threading.Event()
    store = live.app.state.store
    original = store.readiness  # what /readyz awaits

    async def slow_readiness():
        while not gate.is_set():
            await asyncio.sleep(0.01)
        return await original()

    store.readiness = slow_readiness
    try:
        with connect(live.port) as busy:
            busy.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")  # held in the app
            time.sleep(0.3)
            # Queued by the kernel: the server does not accept it while the slot is busy.
            with connect(live.port) as waiting:
                waiting.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                waiting.settimeout(0.5)
                with pytest.raises(TimeoutError):
                    waiting.recv(65536)  # not accepted: the only slot is being answered
                assert guard.open == 1
                assert guard.tally.total["full"] >= 1
                gate.set()
                busy.settimeout(5)
                assert busy.recv(65536).startswith(b"HTTP/1.1 200")
                # Answered, the busy connection is idle: closed to make room for the waiting one.
                waiting.settimeout(5)
                assert waiting.recv(65536).startswith(b"HTTP/1.1 200")
                assert guard.tally.total["evicted"] == 1
    finally:
        store.readiness = original
        gate.set()


def test_at_the_file_descriptor_limit_the_server_answers_and_does_not_flood_its_log(tmp_path):
    """A real ``leadhook serve`` limited to 256 file descriptors and hit by 600 connections:
    it bounds itself below the limit, keeps answering /healthz, and logs a few lines (the
    server without a bound logged ~2,000 tracebacks a second: "Too many open files")."""
    port = free_port()
    env = {
        **os.environ,
        "LEADHOOK_DB": str(tmp_path / "leadhook.db"),
        "LEADHOOK_MAX_CONNECTIONS": "100000",  # the descriptor limit lowers it
        "LEADHOOK_HTTP_READ_TIMEOUT_SECONDS": "30",
    }
    log_file = tmp_path / "serve.log"

    def limit_fds() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    leadhook = Path(sys.executable).parent / "leadhook"
    with log_file.open("wb") as log_out:
        proc = subprocess.Popen(
            [str(leadhook), "serve", "--port", str(port)],
            env=env,
            stdout=log_out,
            stderr=subprocess.STDOUT,
            preexec_fn=limit_fds,
        )
        held: list[socket.socket] = []
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log_file.read_text()
                time.sleep(0.1)
            for _ in range(600):
                held.append(connect(port))
            time.sleep(1.0)
            health, seconds = timed(lambda: httpx.get(url + "/healthz", timeout=5))
            time.sleep(1.0)
        finally:
            for sock in held:
                sock.close()
            proc.terminate()
            proc.wait(timeout=30)
    output = log_file.read_text()
    assert health.status_code == 200
    assert seconds < 1
    assert "Too many open files" not in output
    assert "Traceback" not in output
    assert len(output) < 5_000, output
    assert "closed to make room at the limit of" in output


def test_a_body_still_coming_after_its_answer_gets_no_second_answer(serve, workspace):
    """A 413 is answered before the whole body is read; the rest that keeps coming is cut
    off at the read timeout, without a 408 after the 413."""
    live = serve(max_body_bytes=1000, http_read_timeout_seconds=1.0)
    with connect(live.port) as sock:
        sock.sendall(
            PARTIAL_HEADERS
            + f"Authorization: Bearer {workspace.token}\r\n".encode()
            + b"Content-Length: 100000\r\n\r\n"
            + b"x" * 2000
        )
        with Dripper([sock]):
            received, seconds = read_until_closed(sock, timeout=10)
    assert received.startswith(b"HTTP/1.1 413 ")
    assert received.count(b"HTTP/1.1 ") == 1
    assert seconds < 3


def test_upgrade_requests_are_not_logged_one_by_one(serve, caplog):
    caplog.set_level(logging.INFO)
    live = serve()
    headers = {"Connection": "Upgrade", "Upgrade": "websocket"}
    with httpx.Client(base_url=live.url, timeout=10) as http:
        for _ in range(5):
            assert http.get("/healthz", headers=headers).status_code == 200
    lines = [r.getMessage() for r in caplog.records]
    assert not any("Unsupported upgrade" in line or "WebSocket" in line for line in lines)
    assert sum("upgrade the connection ignored" in line for line in lines) <= 1


def test_answers_on_a_kept_alive_connection_do_not_wait_for_delayed_acks(serve):
    """The accept loop sets TCP_NODELAY: without it each answer waited ~40 ms for the
    client's delayed ACK (Nagle), 20 requests taking 0.9 s instead of ~20 ms."""
    live = serve()
    with httpx.Client(base_url=live.url, timeout=10) as http:
        http.get("/healthz")
        start = time.monotonic()
        for _ in range(20):
            assert http.get("/healthz").status_code == 200
        seconds = time.monotonic() - start
    assert seconds < 0.4


@pytest.fixture
def application(settings):
    """An app not yet started (built before the test: Litestar configures logging then)."""
    import app as app_module

    return app_module.create_app(settings)


def test_a_taken_port_stops_the_start_before_the_app_starts(application, settings, caplog):
    """The socket is bound before the lifespan: no store is opened, no job runner started."""
    import app as app_module

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = app_module.server(application, settings, host="127.0.0.1", port=port)
        with pytest.raises(SystemExit) as exit_info:
            server.run()
    assert exit_info.value.code == 3
    assert not hasattr(application.state, "store")
    assert any(f"cannot listen on 127.0.0.1:{port}" in r.getMessage() for r in caplog.records)


def test_the_server_runs_on_uvloop_with_the_httptools_parser(serve):
    """The stack the benchmarks measure (handlers/_server.py STACK) is the one served."""
    import uvloop
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    live = serve()
    assert isinstance(live.server.servers[0].loop, uvloop.Loop)
    assert issubclass(live.server.config.http_protocol_class, HttpToolsProtocol)


def test_a_head_over_16_kb_sent_in_pieces_gets_a_400_json_error(serve):
    """httptools has no limit of its own: the protocol counts the head across chunks."""
    live = serve()
    with connect(live.port) as sock:
        sock.sendall(PARTIAL_HEADERS)
        for _ in range(20):  # 20 KB of one header, 1 KB at a time
            time.sleep(0.01)
            try:
                sock.sendall(b"X-Big-" + b"a" * 1018 + b": b\r\n")
            except OSError:  # closed after the limit
                break
        received, _ = read_until_closed(sock, timeout=10)
    status, body = json_error(received)
    assert status == 400
    assert "request head larger than 16384 bytes" in body["error"]
    assert live.server.guard.tally.total["malformed"] == 1


def test_a_large_body_sent_with_its_head_is_not_taken_for_a_large_head(serve, workspace):
    """The head limit counts the head only: 60 KB of body in the head's chunk is a body."""
    live = serve()
    payload = load_payload("ghl_sms_workflow.json")
    payload["customData"] = {"Note": "x" * 60_000}
    body = json.dumps(payload).encode()
    with connect(live.port) as sock:
        sock.sendall(
            PARTIAL_HEADERS
            + f"Authorization: Bearer {workspace.token}\r\n".encode()
            + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
            + b"Connection: close\r\n\r\n"
            + body
        )
        received, _ = read_until_closed(sock, timeout=10)
    assert received.startswith(b"HTTP/1.1 200 "), received[:300]


def test_a_serving_process_freezes_its_startup_heap(settings):
    """``leadhook serve`` (handlers._server.run) takes what is alive once the app has started
    out of the cyclic collector's sight: full collections no longer stall the server."""
    import gc

    import app as app_module
    from tests.conftest import LiveServer

    class FrozenServer(LiveServer):
        def __init__(self, application) -> None:
            super().__init__(application)
            self.server.freeze_heap = True

    before = gc.get_freeze_count()
    try:
        with FrozenServer(app_module.create_app(settings)) as live:
            assert httpx.get(live.url + "/healthz", timeout=10).status_code == 200
            assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()  # this test process keeps collecting everything


def test_pipelined_requests_in_one_chunk_are_not_taken_for_a_large_head(serve):
    """A chunk that holds a whole request and part of the next one's head: only the next
    chunks count towards the head limit (two 10 KB heads, one chunk of 18 KB)."""
    live = serve()
    pad = b"X-Pad: " + b"a" * 10_000 + b"\r\n"
    first = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + pad + b"\r\n"
    second = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + pad + b"\r\n"
    with connect(live.port) as sock:
        sock.sendall(first + second[:8_000])
        time.sleep(0.2)
        sock.sendall(second[8_000:])
        received, _ = read_until_closed(sock, timeout=10)
    assert received.count(b"HTTP/1.1 200 ") == 2, received[:300]
