"""Who is calling: client tokens for the webhooks, shared secrets for cron and admin routes.

A webhook names its workspace by a client token (:func:`token_from`): ``Authorization:
Bearer``, ``X-Leadhook-Token`` or ``?token=``. :func:`authenticate` resolves it to a
:class:`Caller` (401 ``Missing client token`` / ``Invalid client token``) before the body is
read; the store re-checks the token's hash inside every write, so a token rotated meanwhile
stores nothing (:class:`TokenCache` only spares a read).

The cron and admin routes compare a configured secret in constant time
(:func:`bearer_matches`); with no secret configured they never match.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException

import db
from db import Client


@dataclass(frozen=True)
class Caller:
    """An authenticated webhook request: its workspace and the hash of the token it sent
    (the write re-checks that hash in its own transaction)."""

    client: Client
    token_hash: str


def token_from(connection: ASGIConnection) -> str | None:
    """The client token: ``Authorization: Bearer``, ``X-Leadhook-Token`` or ``?token=``."""
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


async def authenticate(request: Request, token: str | None = None) -> Caller:
    """The caller of the request's client token (``token`` if given, else the headers or
    ``?token=``); 401 if missing or wrong. Call it first, before the body is read."""
    token = token if token is not None else token_from(request)
    if token is None:
        raise NotAuthorizedException("Missing client token")
    state = request.app.state
    token_hash = db.hash_token(token)
    client = state.token_cache.get(token_hash)
    if client is None:
        client = await state.store.client_by_token_hash(token_hash)
        if client is None:
            raise NotAuthorizedException("Invalid client token")
        state.token_cache.put(token_hash, client)
    return Caller(client, token_hash)


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
