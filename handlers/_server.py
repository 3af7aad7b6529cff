"""How leadhook is served: the one place that chooses the HTTP server and its limits.

:func:`server` builds the server that ``leadhook serve`` runs (:func:`run`) and that the tests
start on 127.0.0.1, so both run the same stack with the same settings (:data:`STACK`: uvicorn
on the uvloop event loop with the httptools parser, the fastest stack measured,
docs/performance.md) with the connection rules of :mod:`handlers._connections` and its own
accept loop (:class:`Acceptor`). Together they make DESIGN "Guarantees" hold:

- **read timeout** (``LEADHOOK_HTTP_READ_TIMEOUT_SECONDS``, 10): a request's headers *and* body
  must arrive within this time of its first byte (of the connection opening, for the first
  request). A slow request (slowloris headers, a dripped body) gets ``408`` JSON and is closed; a
  connection that sent nothing is closed silently.
- **idle timeout** (``LEADHOOK_HTTP_KEEPALIVE_SECONDS``, 5): a kept-alive connection with no new
  request is closed.
- **bound** (``LEADHOOK_MAX_CONNECTIONS``, 1000, lowered to what the file-descriptor limit leaves
  room for, :func:`connection_limit`): a connection past the bound closes the oldest one that is
  *not being answered* (idle, or still sending its request), as nginx reuses its keep-alive
  connections; when every connection is being answered, new ones wait in the kernel's accept
  queue until one is done. Idle and slow clients can never keep a provider or a health check
  out, and accept() never meets "Too many open files" (asyncio's own accept loop would then log
  a traceback per queued connection: 2,048 a second with uvicorn's backlog, 2.6 MB/s).
- **malformed HTTP** gets ``400`` JSON, like every other error.
- **quiet logs under attack**: evictions, waits, timeouts and malformed requests are counted and
  reported in one WARNING line a minute at most.

``leadhook serve`` (:func:`run`) also moves everything alive once the app has started (modules,
the app, its settings) out of the cyclic garbage collector's sight (``gc.freeze()``): a full
collection otherwise walks that heap every few thousand requests, stalling the event loop and
the writer (one GIL) for 50-90 ms, the p99 of ingest (issue 15; docs/performance.md). Objects
made later are collected as usual.

The rules are written once for both of uvicorn's HTTP/1.1 parsers (h11 stays selectable,
``http="h11"``); tests/test_connections.py checks them on the stack served. There are no
WebSocket routes: upgrade requests are answered as plain HTTP (``ws="none"``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import resource
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from handlers._connections import (
    QUIET_INVALID_REQUESTS,
    ConnectionGuard,
    GuardedProtocol,
    Limits,
    protocol_class,
)

if TYPE_CHECKING:
    from config import Settings

log = logging.getLogger("leadhook.http")

# The server stack: uvicorn's event loop and HTTP parser settings (the benchmarks' bare
# baseline runs on the same, bench/_servers.py).
LOOP, HTTP = "uvloop", "httptools"
STACK = f"uvicorn {uvicorn.__version__}, loop={LOOP}, http={HTTP}"

# File descriptors kept for everything but client connections (the listening socket, SQLite's
# database, WAL and shm files per connection, the AI client's pool, the event loop): 64, plus
# one in twenty of the limit.
FD_RESERVE, FD_RESERVE_SHARE = 64, 20
# Connections accepted per readiness of the listening socket (the ones closed to make room
# for them free their descriptors on the next loop iteration: this many are kept spare), and
# the pause after the system refused one (out of descriptors or memory).
ACCEPT_BATCH, ACCEPT_RETRY_SECONDS = 64, 0.5


def connection_limit(wanted: int) -> int:
    """``wanted``, lowered to what the process's file-descriptor limit leaves for clients."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    spare = FD_RESERVE + ACCEPT_BATCH + soft // FD_RESERVE_SHARE
    return max(1, min(wanted, soft - spare))


def raise_fd_limit() -> int:
    """Raise the soft file-descriptor limit to the hard one (as Go's runtime does); the new
    soft limit. Many systems start services at 1,024 with a far higher hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # pragma: no cover - a platform that refuses
            pass
    return soft


class Acceptor:
    """The accept loop: takes a connection off the listening socket only when the guard has a
    slot for it (closing the oldest waiting connection if need be), so no file descriptor is
    ever taken past the bound; with no slot to be had it stops reading the socket (new clients
    wait in the kernel's queue) until one frees. asyncio's own loop accepts up to the backlog
    (2,048) in a burst and logs each failure with a traceback. Stands in for the
    ``asyncio.Server`` uvicorn keeps in ``servers`` (``close``, ``wait_closed``)."""

    def __init__(self, sock: socket.socket, factory: Callable[[], GuardedProtocol]) -> None:
        self.loop = asyncio.get_running_loop()
        self.sock = sock
        self.factory = factory
        self.guard: ConnectionGuard = factory.guard  # type: ignore[attr-defined]
        self.guard.on_room = self._room
        self.reading = False
        self.closed = False
        self.resume()

    def resume(self) -> None:
        if not self.reading and not self.closed:
            self.reading = True
            self.loop.add_reader(self.sock.fileno(), self._ready)

    def _room(self) -> None:
        if not self.reading and not self.closed:
            self.loop.call_soon(self.resume)

    def pause(self) -> None:
        if self.reading:
            self.reading = False
            self.loop.remove_reader(self.sock.fileno())

    def _ready(self) -> None:
        for _ in range(ACCEPT_BATCH):
            if not self.guard.has_room():
                self.pause()  # resumed by the guard when a connection closes or turns idle
                return
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:  # out of descriptors (something else holds them) or memory
                self.guard.tally.note("accept", f"connections not accepted: {exc}")
                self.pause()
                self.loop.call_later(ACCEPT_RETRY_SECONDS, self.resume)
                return
            conn.setblocking(False)
            # asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP, which those
            # of socket.create_server() are not: without it every answer waits ~40 ms for
            # the client's delayed ACK.
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.guard.take_slot()  # the slot is the new connection's from now on
            self.loop.create_task(self._connect(conn))

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self.loop.connect_accepted_socket(self.factory, conn)
        except OSError:  # the client left before the transport was made
            conn.close()
            self.guard.release()

    def close(self) -> None:
        self.pause()
        self.closed = True
        self.sock.close()

    async def wait_closed(self) -> None:
        return None


class Server(uvicorn.Server):
    """uvicorn's server, listening through :class:`Acceptor`. The socket is bound before the
    app starts, so a port that is taken stops the start before the scheduler runs."""

    def __init__(
        self, config: uvicorn.Config, guard: ConnectionGuard, *, freeze_heap: bool = False
    ) -> None:
        super().__init__(config)
        self.guard = guard
        self.freeze_heap = freeze_heap

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if sockets is not None:
            raise ValueError("leadhook's server binds its own socket")
        config = self.config
        family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        try:
            sock = socket.create_server((config.host, config.port), family=family)
        except OSError as exc:
            log.error("cannot listen on %s:%d: %s", config.host, config.port, exc)
            sys.exit(STARTUP_FAILURE)
        sock.listen(config.backlog)
        sock.setblocking(False)
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sock.close()
            sys.exit(STARTUP_FAILURE)
        if self.freeze_heap:
            gc.collect()  # what is garbage already is freed, not frozen
            gc.freeze()

        def create_protocol() -> GuardedProtocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )

        create_protocol.guard = self.guard  # type: ignore[attr-defined]
        self.servers = [Acceptor(sock, create_protocol)]  # type: ignore[list-item]
        limits = self.guard.limits
        log.info(
            "listening on http://%s:%d: at most %d connections, read timeout %g s, "
            "idle timeout %g s",
            config.host,
            sock.getsockname()[1],
            limits.max_connections,
            limits.read_timeout,
            limits.keepalive,
        )
        self.started = True


def limits(settings: Settings) -> Limits:
    return Limits(
        max_connections=connection_limit(settings.max_connections),
        read_timeout=settings.http_read_timeout_seconds,
        keepalive=settings.http_keepalive_seconds,
    )


def server(
    asgi_app: Any,
    settings: Settings,
    host: str,
    port: int,
    *,
    http: str = HTTP,
    freeze_heap: bool = False,
    **options: Any,
) -> Server:
    """The server for ``asgi_app`` on ``host:port`` with the settings' limits; ``http``: the
    parser (``httptools``, or ``h11``); ``freeze_heap``: ``gc.freeze()`` once started (see
    the module docstring; a process that serves, not a test's); ``options`` are more
    uvicorn settings (the tests pass ``log_level``)."""
    guard = ConnectionGuard(limits(settings))
    config = uvicorn.Config(
        asgi_app,
        host=host,
        port=port,
        loop=LOOP,
        http=protocol_class(guard, http),
        ws="none",  # no WebSocket routes: an upgrade request is answered as plain HTTP
        timeout_keep_alive=guard.limits.keepalive,  # type: ignore[arg-type]
        access_log=False,  # its request lines would carry ?token= query strings
        **{"log_level": settings.log_level.lower(), **options},
    )
    logging.getLogger("uvicorn.error").addFilter(QUIET_INVALID_REQUESTS)  # added once
    return Server(config, guard, freeze_heap=freeze_heap)


def run(asgi_app: Any, settings: Settings, host: str, port: int, **options: Any) -> None:
    """Serve until SIGINT/SIGTERM (``leadhook serve``); ``options`` as for :func:`server`."""
    raise_fd_limit()
    server(asgi_app, settings, host, port, freeze_heap=True, **options).run()
