"""A webhook's request body and its 200 answer, read and written on the ASGI messages directly.

Litestar's ``Request.body()`` builds the request's ``Headers`` to read ``Content-Length`` and
streams through a generator; its ``Response`` builds headers, cookies and an encoder per
answer. A webhook needs neither (issue 15: a fifth of the event loop's time per delivery went
there). The rules are Litestar's:

- :func:`read_body`: a ``Content-Length`` over the route's ``request_max_body_size``
  (``LEADHOOK_MAX_BODY_BYTES``) is refused before anything is read, and so is a body that
  grows past it (``RequestEntityTooLarge``, 413); a disconnect before the end raises
  ``InternalServerException`` (the caller answers 408); an unreadable ``Content-Length`` is
  a 400. The body is kept on the scope: a second call (SmartLead's token is in its body)
  returns the same bytes. Read a webhook's body only through it.
- :class:`JsonAnswer`: the ASGI app Litestar passes through as it is (a handler annotated
  with it): ``content-type: application/json`` and ``content-length``, as Litestar sends a
  dict.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import msgspec
from litestar.exceptions import ClientException, InternalServerException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

if TYPE_CHECKING:
    from litestar import Request

BODY_KEY = "leadhook.body"  # the scope's key for the body once read
_JSON = b"application/json"


def content_length(scope: Any) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                raise ClientException(
                    f"Invalid content-length: {value.decode('latin-1')!r}"
                ) from None
    return None


async def read_body(request: Request) -> bytes:
    """The whole body (see the module docstring for the limits and errors)."""
    scope = request.scope
    body = scope.get(BODY_KEY)  # type: ignore[call-overload]
    if body is not None:
        return body
    limit = request.route_handler.resolve_request_max_body_size() or math.inf
    announced = content_length(scope)
    if announced is not None and announced > limit:
        raise RequestEntityTooLarge
    chunks: list[bytes] = []
    total = 0
    receive = request.receive
    while True:
        event = await receive()
        kind = event["type"]
        if kind == "http.request":
            chunk = event.get("body", b"")
            if chunk:
                total += len(chunk)
                if total > limit:
                    raise RequestEntityTooLarge
                chunks.append(chunk)
            if not event.get("more_body", False):
                break
        elif kind == "http.disconnect":
            raise InternalServerException("client disconnected prematurely")
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    scope[BODY_KEY] = body  # type: ignore[literal-required]
    return body


class JsonAnswer:
    """A 200 answer of ``answer`` as JSON, as an ASGI app."""

    __slots__ = ("body",)

    def __init__(self, answer: dict[str, Any]) -> None:
        self.body = msgspec.json.encode(answer)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", _JSON), (b"content-length", str(len(self.body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})
