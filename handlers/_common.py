"""What every webhook route shares: token auth, the error shape, body decoding, the write."""

from __future__ import annotations

import logging
import time
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
)
from litestar.handlers import BaseRouteHandler

import db
from db.clients import Client

log = logging.getLogger("leadhook.webhooks")
T = TypeVar("T")


class TooManyRequests(HTTPException):
    status_code = 429


def token_from(connection: ASGIConnection) -> str | None:
    """The client token: ``Authorization: Bearer``, ``X-Leadhook-Token`` or ``?token=``."""
    auth = connection.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    token = connection.headers.get("x-leadhook-token") or connection.query_params.get("token")
    return token.strip() if token else None


class TokenCache:
    """Tokens resolved in the last few seconds, by hash, to spare a database read per request.

    Only the guard uses it; every write re-checks the token inside its own transaction
    (:func:`write`), so a rotated token is never used to store anything.
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


class TokenRevoked(Exception):
    """The token stopped being the client's between the guard and the write."""


async def client_token_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Resolve the client token to its workspace before anything is parsed; 401 otherwise."""
    token = token_from(connection)
    if token is None:
        raise NotAuthorizedException("Missing client token")
    await authenticate(connection, token)


async def authenticate(connection: ASGIConnection, token: str) -> Client:
    """Resolve ``token`` to its client (401 if none) and remember both on the request."""
    state = connection.app.state
    token_hash = db.clients.hash_token(token)
    client = state.token_cache.get(token_hash)
    if client is None:
        client = await state.store.read(db.clients.find_client_by_token_hash, token_hash)
        if client is None:
            raise NotAuthorizedException("Invalid client token")
        state.token_cache.put(token_hash, client)
    connection.state.client = client
    connection.state.token_hash = token_hash
    return client


def current_client(request: Request) -> Client:
    return request.state.client


async def read_json_object(request: Request, struct: type[T]) -> T:
    """Read the body (413 past the limit) and decode it into ``struct`` (400 if it isn't one)."""
    raw = await request.body()
    try:
        decoded = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise ClientException(f"Body is not valid JSON: {exc}") from None
    if not isinstance(decoded, dict):
        raise ClientException("Body must be a JSON object")
    try:
        return msgspec.convert(decoded, struct, strict=False)
    except msgspec.ValidationError as exc:
        raise ClientException(f"Invalid payload: {exc}") from None


def require_workspace(expected: str | None, given: str, what: str) -> None:
    """The payload's workspace id must be the token's workspace (403 otherwise)."""
    if expected is None or str(expected) != str(given):
        raise PermissionDeniedException(f"{what} {given!r} does not belong to this client token")


def _as_client(database: Any, client_id: int, token_hash: str, fn: Any, *args: Any) -> Any:
    if not db.clients.token_is_current(database, client_id, token_hash):
        raise TokenRevoked
    return fn(database, *args)


async def write(request: Request, fn: Any, *args: Any) -> Any:
    """Commit ``fn(db, *args)`` through the group-committing writer; 429 if it cannot.

    The unit first re-checks the request's token in the same transaction.
    """
    state = request.app.state
    client, token_hash = request.state.client, request.state.token_hash
    timeout = state.settings.write_timeout_seconds
    try:
        return await state.store.write(
            _as_client, client.id, token_hash, fn, *args, timeout=timeout
        )
    except TokenRevoked:
        raise NotAuthorizedException("Invalid client token") from None
    except db.DatabaseUnavailable as exc:
        log.warning("write refused, answering 429: %s", exc)
        raise TooManyRequests("Database busy, retry later", headers={"Retry-After": "30"}) from None


def wake_runner(request: Request) -> None:
    wake = getattr(request.app.state, "wake_runner", None)
    if wake is not None:
        wake()


def error_response(_: Request, exc: Exception) -> Response:
    """Every error as ``{"success": false, "error": ...}``; 500s say nothing internal."""
    if isinstance(exc, HTTPException):
        status, detail, headers = exc.status_code, exc.detail, exc.headers
        extra = getattr(exc, "extra", None)
        if isinstance(extra, list) and extra and isinstance(extra[0], dict):
            detail = f"{detail}: {extra[0].get('message', '')}".rstrip(": ")
    else:
        log.exception("unhandled error", exc_info=exc)
        status, detail, headers = 500, "Internal server error", None
    return Response({"success": False, "error": detail}, status_code=status, headers=headers)
