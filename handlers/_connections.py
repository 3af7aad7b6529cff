"""The connection rules of every leadhook server (see :mod:`handlers._server` for the server).

:class:`GuardedProtocol` holds the rules, once, for both of uvicorn's HTTP/1.1 protocols:
:class:`HttpToolsGuarded` (httptools, the parser leadhook serves with) and :class:`H11Guarded`
(h11, kept for :func:`protocol_class` ``http="h11"``). The rules: a **read timeout** (a
request's headers and body must arrive within ``read_timeout`` of its first byte, or of the
connection opening: else ``408`` JSON and closed; a connection that sent nothing is closed
silently) and a part in the **connection bound**: :class:`ConnectionGuard` counts the open
connections and keeps those not being answered (idle, or still sending a request) oldest first,
the ones closed to make room at the bound. A connection whose whole request is in is being
answered: it is never closed to make room and has no read timeout. Malformed HTTP gets ``400``
JSON, and so does a request head (request line and headers) over :data:`MAX_HEAD_BYTES`
(h11 has this limit built in; httptools has none, so :class:`HttpToolsGuarded` counts).
Idle kept-alive connections are closed by uvicorn's ``timeout_keep_alive``.

Nothing here logs per connection: :class:`Tally` reports each kind of event in one WARNING line a
minute at most, with its count.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
import msgspec
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("leadhook.http")
INVALID_HTTP_LOG = "Invalid HTTP request received."
UPGRADE_LOGS = ("Unsupported upgrade request.", "No supported WebSocket library detected.")
# The largest request head (request line and headers) accepted: h11's default limit, which
# the h11 protocol applies itself.
MAX_HEAD_BYTES = 16 * 1024


class Tally:
    """Counts events by kind and logs each kind at most once per ``interval`` seconds, with the
    count since its last line: one line per minute however hard the server is hit."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self.total: Counter[str] = Counter()
        self._unreported: Counter[str] = Counter()
        self._last: dict[str, float] = {}

    def note(self, kind: str, what: str) -> None:
        self.total[kind] += 1
        self._unreported[kind] += 1
        now = time.monotonic()
        if now - self._last.get(kind, -self.interval) >= self.interval:
            count, self._unreported[kind] = self._unreported[kind], 0
            self._last[kind] = now
            log.warning("%s (%d since the last report)", what, count)


def error_bytes(status: int, reason: str, error: str) -> bytes:
    """A complete ``Connection: close`` HTTP/1.1 response with leadhook's JSON error body."""
    body = msgspec.json.encode({"success": False, "error": error})
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


@dataclass
class Limits:
    max_connections: int
    read_timeout: float
    keepalive: float


class ConnectionGuard:
    """One server's connections: how many are open, and those not being answered (idle, or still
    sending a request), oldest first: the ones closed to make room at the bound."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open = 0  # accepted and not yet closed (each holds a file descriptor)
        self.waiting: OrderedDict[GuardedProtocol, None] = OrderedDict()
        self.on_room: Callable[[], None] | None = None  # set by the accept loop
        self.tally = Tally()
        self.timeout_answer = error_bytes(
            408,
            "Request Timeout",
            f"The request was not received within {limits.read_timeout:g} s: "
            "send its headers and body at once",
        )

    def has_room(self) -> bool:
        """True if a new connection may be accepted: below the bound, or with a waiting
        connection to close for it; False when every open connection is being answered."""
        if self.open < self.limits.max_connections or self.waiting:
            return True
        self.tally.note(
            "full",
            f"new connections wait: all {self.limits.max_connections} connection slots are "
            "taken by requests being answered or just accepted (LEADHOOK_MAX_CONNECTIONS)",
        )
        return False

    def take_slot(self) -> None:
        """Count a connection just accepted, closing the oldest waiting one at the bound."""
        self.open += 1
        if self.open <= self.limits.max_connections or not self.waiting:
            return
        victim, _ = self.waiting.popitem(last=False)
        victim.drop()
        self.tally.note(
            "evicted",
            f"idle or slow connections closed to make room at the limit of "
            f"{self.limits.max_connections} open connections (LEADHOOK_MAX_CONNECTIONS)",
        )

    def release(self) -> None:
        """A slot is free again (a connection closed)."""
        self.open -= 1
        self.room()

    def room(self) -> None:
        """A slot is free or closable again (the accept loop resumes if it had stopped)."""
        if self.on_room is not None:
            self.on_room()


class GuardedProtocol:
    """The rules of the module docstring, mixed into one of uvicorn's HTTP protocols (the
    classes below: each says only what its parser knows, :meth:`_answers_timeout`).
    ``guard`` is set on the subclass :func:`protocol_class` makes."""

    # What uvicorn's protocols have (for the type checker).
    cycle: Any
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    guard: ClassVar[ConnectionGuard]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._counted = False
        self._read_timer: asyncio.TimerHandle | None = None
        self._request_bytes = False  # a byte of the current request has arrived

    # -- the protocol interface ------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._counted = True  # the slot the accept loop took for it
        self._wait_for_request()
        self._start_read_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._between_requests() and self._read_timer is None:
            self._start_read_timer()  # the first byte of a request after an idle spell
        self._request_bytes = True
        super().data_received(data)
        self._check_request_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self._between_requests():
            self._wait_for_request()
        else:
            self._check_request_complete()  # a pipelined request was read meanwhile

    def send_400_response(self, msg: str) -> None:
        self.guard.tally.note("malformed", "malformed HTTP requests answered 400")
        error = f"Malformed HTTP request ({msg.rstrip('.')}): send a valid HTTP/1.1 request"
        self.transport.write(error_bytes(400, "Bad Request", error))
        self.transport.close()

    # -- states ----------------------------------------------------------------------------
    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _wait_for_request(self) -> None:
        """Idle, or reading the next request: closable to make room, from now on."""
        self._cancel_read_timer()
        self._request_bytes = False
        self.guard.waiting.pop(self, None)
        self.guard.waiting[self] = None
        self.guard.room()

    def _check_request_complete(self) -> None:
        """Once the whole request is in, the connection is being answered: never closed to
        make room, no read timeout."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and not cycle.more_body:
            self.guard.waiting.pop(self, None)
            self._cancel_read_timer()

    def _start_read_timer(self) -> None:
        self._cancel_read_timer()
        self._read_timer = self.loop.call_later(
            self.guard.limits.read_timeout, self._read_timed_out
        )

    def _cancel_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:  # the body is still coming
            answer = not cycle.response_started
            cycle.disconnected = True  # the app's receive() sees a disconnect, its send is dropped
            cycle.message_event.set()
        else:  # part of a new request's headers (not the rest of a body already answered)
            answer = self._request_bytes and self._new_request_started()
        if answer:
            self.guard.tally.note("timeout", "slow requests answered 408 and closed")
            self.transport.write(self.guard.timeout_answer)
        self.transport.close()

    def _new_request_started(self) -> bool:
        """Between answers: whether the bytes that came belong to a new request (whose head
        is incomplete), not to the rest of a body already answered (a 413)."""
        raise NotImplementedError

    def drop(self) -> None:
        """Close at once to make room for a new connection (uncounted at once)."""
        self._forget()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.abort()

    def _forget(self) -> None:
        self._cancel_read_timer()
        self.guard.waiting.pop(self, None)
        if self._counted:
            self._counted = False
            self.guard.release()


class H11Guarded(GuardedProtocol, H11Protocol):
    """uvicorn's h11 protocol with the rules (h11 limits the head to 16 KiB itself)."""

    def _new_request_started(self) -> bool:
        return self.conn.their_state is h11.IDLE


class HttpToolsGuarded(GuardedProtocol, HttpToolsProtocol):
    """uvicorn's httptools protocol with the rules, and the head limit httptools lacks: a
    head over :data:`MAX_HEAD_BYTES` gets 400 JSON (httptools would buffer a header without
    end until the read timeout). A chunk counts whole when it holds nothing but the head still
    incomplete after it (it began in that head, or between requests and began it); a chunk
    that also ends an earlier request (pipelining) does not count (its split is unknown), the
    chunks after it do."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False  # a request's head has begun and is not complete
        self._in_body = False  # its head is complete, its body is not
        self._begun = 0  # requests begun on this connection
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        in_head, in_body, begun = self._in_head, self._in_body, self._begun
        super().data_received(data)
        only_head = not in_body and self._begun == begun + (0 if in_head else 1)
        if self._in_head and only_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self.send_400_response(f"request head larger than {MAX_HEAD_BYTES} bytes")

    def on_message_begin(self) -> None:
        self._in_head, self._head_bytes = True, 0
        self._begun += 1
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head, self._in_body = False, True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False
        super().on_message_complete()

    def _new_request_started(self) -> bool:
        return not self._in_body


PROTOCOLS: dict[str, type[GuardedProtocol]] = {"httptools": HttpToolsGuarded, "h11": H11Guarded}


def protocol_class(guard: ConnectionGuard, http: str = "httptools") -> type[GuardedProtocol]:
    """The protocol class of one server (uvicorn takes a class; the guard is per server);
    ``http``: the parser, a key of :data:`PROTOCOLS`."""
    base = PROTOCOLS[http]
    return type(f"Leadhook{base.__name__}", (base,), {"guard": guard})


class _QuietInvalidRequests(logging.Filter):
    """uvicorn logs every malformed request (:meth:`GuardedProtocol.send_400_response` counts
    them instead) and every ``Upgrade`` request it cannot serve, in two lines: counted here, in
    one line a minute."""

    def __init__(self) -> None:
        super().__init__()
        self.tally = Tally()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message == INVALID_HTTP_LOG:
            return False
        if message.startswith(UPGRADE_LOGS):
            if message.startswith(UPGRADE_LOGS[0]):
                self.tally.note("upgrade", "requests to upgrade the connection ignored")
            return False
        return True


QUIET_INVALID_REQUESTS = _QuietInvalidRequests()
