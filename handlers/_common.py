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

import db
from db import Client, LeadFields, NewMessage

log = logging.getLogger("leadhook.webhooks")
T = TypeVar("T")


class TooManyRequests(HTTPException):
    status_code = 429


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


_AUTH_KEY = "leadhook.auth"


async def authenticate(request: Request, token: str | None = None) -> Client:
    """The workspace of the request's client token (``token`` if given, else the headers or
    ``?token=``); 401 if missing or wrong. Call it first, before the body is read.

    Remembers the client and the token's hash for :func:`write`: the store re-checks the token
    in the write's own transaction.
    """
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
    request.scope[_AUTH_KEY] = (client, token_hash)  # type: ignore[literal-required]
    return client


async def read_json_object(request: Request, struct: type[T]) -> T:
    """Read the body (413 past the limit) and decode it into ``struct`` (400 if it isn't one)."""
    raw = await request.body()
    try:
        return msgspec.json.decode(raw, type=struct, strict=False)
    except msgspec.ValidationError as exc:
        if str(exc).startswith("Expected `object`, got") and " - at `" not in str(exc):
            raise ClientException("Body must be a JSON object") from None
        raise ClientException(f"Invalid payload: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ClientException(f"Body is not valid JSON: {exc}") from None


def require_workspace(expected: str | None, given: str, what: str) -> None:
    """The payload's workspace id must be the token's workspace (403 otherwise)."""
    if expected is None or str(expected) != str(given):
        raise PermissionDeniedException(f"{what} {given!r} does not belong to this client token")


async def write(request: Request, operation: str, *args: Any) -> Any:
    """Run the store's ``operation(client_id, token_hash, *args)`` (``ingest`` or
    ``unsubscribe``: each re-checks the request's token in its own transaction); 401 if the
    token was revoked meanwhile, 429 if the database cannot take the write in time."""
    state = request.app.state
    client, token_hash = request.scope[_AUTH_KEY]  # type: ignore[literal-required]
    method = getattr(state.store, operation)
    try:
        return await method(
            client.id, token_hash, *args, timeout=state.settings.write_timeout_seconds
        )
    except db.TokenRevoked:
        raise NotAuthorizedException("Invalid client token") from None
    except db.DatabaseUnavailable as exc:
        log.warning("write refused, answering 429: %s", exc)
        raise TooManyRequests("Database busy, retry later", headers={"Retry-After": "30"}) from None


class Conflict(HTTPException):
    status_code = 409


async def ingest(
    request: Request, route: str, event: str, message: NewMessage, lead: LeadFields
) -> dict[str, Any]:
    """Store ``message`` exactly once with its job (one commit), wake the runner for a new
    job, and answer ``{"success", "deduped", "messageId", "leadId", "jobEnqueued"}``."""
    try:
        result = await write(request, "ingest", message, lead)
    except db.DedupeConflict as exc:
        log.warning("%s %s: %s", route, event, exc)
        raise Conflict("This message id is already stored for another client") from None
    if result.job_enqueued:
        wake_runner(request)
    log.debug(  # one line per delivery: LEADHOOK_LOG_LEVEL=DEBUG shows them
        "%s event=%s client=%s %s message=%s lead=%s deduped=%s job_enqueued=%s",
        route,
        event,
        message.client_id,
        message.direction,
        result.message_id,
        result.lead_id,
        result.deduped,
        result.job_enqueued,
    )
    return {
        "success": True,
        "deduped": result.deduped,
        "messageId": result.message_id,
        "leadId": result.lead_id,
        "jobEnqueued": result.job_enqueued,
    }


def wake_runner(request: Request) -> None:
    wake = getattr(request.app.state, "wake_runner", None)
    if wake is not None:
        wake()


def error_response(request: Request, exc: Exception) -> Response:
    """Every error as ``{"success": false, "error": ...}``; 500s say nothing internal.

    A rejected request is logged at INFO with its path (never the query string: it may carry
    ``?token=``) so that an operator sees a misconfigured provider.
    """
    if isinstance(exc, HTTPException):
        status, detail, headers = exc.status_code, exc.detail, exc.headers
        extra = getattr(exc, "extra", None)
        if isinstance(extra, list) and extra and isinstance(extra[0], dict):
            detail = f"{detail}: {extra[0].get('message', '')}".rstrip(": ")
        if status != 429:  # 429s are logged where they arise, with the cause
            log.info("rejected %s %s: %d %s", request.method, request.url.path, status, detail)
    else:
        log.exception("unhandled error", exc_info=exc)
        status, detail, headers = 500, "Internal server error", None
    return Response({"success": False, "error": detail}, status_code=status, headers=headers)
