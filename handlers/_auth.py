"""Who is calling: client tokens for the webhooks, shared secrets for cron and admin routes.

A webhook names its workspace by a client token (:func:`token_from`): ``Authorization:
Bearer``, ``X-Leadhook-Token`` or ``?token=``. :func:`authenticate` resolves it to a
:class:`Caller` before the body is read; 401 when it is missing (:func:`missing_token`, which
says how to send one, or that an ``Authorization`` header lacks ``Bearer``), unknown, rotated or
disabled.

A rotated or disabled token gets no other answer than 401, at once: :class:`TokenCache` spares
the read for the stored path only, where the store re-checks the token's hash inside the write's
own transaction; every other answer to a cached caller (an ignored event, a 400, 403, 413, 429)
is given only after :func:`confirm` has read the token again.

The cron and admin routes compare a configured secret in constant time
(:func:`bearer_matches`); with no secret configured they never match, and their 401 names the
variable that enables them (:func:`require_secret`).
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import NoReturn

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException

import db
from db import Client

TOKEN_WAYS = "'Authorization: Bearer <token>', an X-Leadhook-Token header or ?token=<token>"
INVALID_TOKEN = (
    "Invalid client token: it is unknown, rotated or disabled; send the workspace's current "
    "token (the operator can issue one: leadhook clients rotate-token)"
)


@dataclass(frozen=True)
class Caller:
    """An authenticated webhook request: its workspace, the hash of the token it sent (the
    write re-checks that hash in its own transaction), and whether the client came from the
    cache (then :func:`confirm` reads it again before any answer that does not write)."""

    client: Client
    token_hash: str
    cached: bool = False


def token_from(connection: ASGIConnection) -> str | None:
    """The client token: ``Authorization: Bearer``, ``X-Leadhook-Token`` or ``?token=``.
    ``Authorization`` without ``Bearer`` is no token (:func:`missing_token` says why)."""
    # Read the raw ASGI headers: building Litestar's Headers costs more than the lookup.
    bearer = header = None
    for name, value in connection.scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            bearer = value[7:].strip().decode("latin-1")
        elif name == b"x-leadhook-token":
            header = value.strip().decode("latin-1")
    if bearer is not None:
        return bearer or None
    token = header or connection.query_params.get("token")
    return token.strip() if token else None


class TokenCache:
    """Tokens resolved in the last few seconds, by hash, to spare a database read per request.

    Only :func:`authenticate` uses it; every write re-checks the token inside its own transaction
    (``Store.ingest``, ``Store.unsubscribe``), so a rotated token never stores anything.
    """

    def __init__(self, ttl_seconds: float = 5.0, max_entries: int = 4096) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Client]] = {}

    def get(self, token_hash: str) -> Client | None:
        entry = self._entries.get(token_hash)
        if entry is None or time.monotonic() - entry[0] > self.ttl_seconds:
            return None
        return entry[1]

    def put(self, token_hash: str, client: Client) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[token_hash] = (time.monotonic(), client)

    def discard(self, token_hash: str) -> None:
        self._entries.pop(token_hash, None)


def missing_token(connection: ASGIConnection, *, also: str = "") -> NotAuthorizedException:
    """The 401 for a request without a client token: an ``Authorization`` header without
    ``Bearer`` says so; else how to send one (``also``: another way, e.g. SmartLead's)."""
    auth = connection.headers.get("authorization")
    if auth is not None and auth.strip() and auth[:7].lower() != "bearer ":
        return NotAuthorizedException("Authorization header must be 'Bearer <token>'")
    return NotAuthorizedException(f"Missing client token: send it as {TOKEN_WAYS}{also}")


async def authenticate(request: Request, token: str | None = None) -> Caller:
    """The caller of the request's client token (``token`` if given, else the headers or
    ``?token=``); 401 if missing or wrong. Call it first, before the body is read."""
    token = token if token is not None else token_from(request)
    if token is None:
        raise missing_token(request)
    state = request.app.state
    token_hash = db.hash_token(token)
    client = state.token_cache.get(token_hash)
    if client is not None:
        return Caller(client, token_hash, cached=True)
    client = await state.store.client_by_token_hash(token_hash)
    if client is None:
        raise NotAuthorizedException(INVALID_TOKEN)
    state.token_cache.put(token_hash, client)
    return Caller(client, token_hash)


async def confirm(request: Request, caller: Caller) -> None:
    """401 if the caller's token stopped working since the cache saw it (rotated, disabled).
    Call it before any answer that did not come from a write (which checks the token itself)."""
    if not caller.cached:
        return
    if await request.app.state.store.client_by_token_hash(caller.token_hash) is None:
        revoked(request, caller)


def revoked(request: Request, caller: Caller) -> NoReturn:
    """The token was rotated or disabled: forget it and answer 401."""
    request.app.state.token_cache.discard(caller.token_hash)
    raise NotAuthorizedException(INVALID_TOKEN)


def require_secret(
    connection: ASGIConnection, secret: str | None, variable: str, *, header: str | None = None
) -> None:
    """401 unless the request carries ``secret`` (:func:`bearer_matches`); with no secret set,
    the 401 names ``variable``, the setting that enables the route."""
    if not secret:
        raise NotAuthorizedException(
            f"This route is disabled: set {variable} and send 'Authorization: Bearer <{variable}>'"
        )
    if not bearer_matches(connection, secret, header=header):
        other = f" (or the secret in an {header} header)" if header else ""
        raise NotAuthorizedException(
            f"Unauthorized: send 'Authorization: Bearer <{variable}>'{other}"
        )


def bearer_matches(
    connection: ASGIConnection, secret: str | None, *, header: str | None = None
) -> bool:
    """True when the request carries ``secret`` as ``Authorization: Bearer`` (or in
    ``header``, if named); always False when no secret is configured. Constant time: every
    candidate is compared, with no early exit on the first match."""
    if not secret:
        return False
    given: list[str] = []
    auth = connection.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        given.append(auth[7:].strip())
    if header is not None:
        value = connection.headers.get(header)
        if value is not None:
            given.append(value.strip())
    wanted = secret.encode("utf-8")
    matches = [hmac.compare_digest(g.encode("utf-8"), wanted) for g in given]
    return any(matches)
