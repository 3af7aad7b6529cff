"""The error shape of every route, and the HTTP errors Litestar has no class for.

:func:`error_response` is the app's handler for every exception: ``{"success": false,
"error": ...}`` with the exception's status (and headers, e.g. ``Retry-After``); anything
that is not an :class:`HTTPException` is a 500 that says nothing internal and is logged with
its traceback. Errors say what is wrong and what to do; a value from the request is quoted
through :func:`clip` (at most 64 characters), in the answer and in the log alike.
"""

from __future__ import annotations

import logging

from litestar import Request, Response
from litestar.exceptions import HTTPException

log = logging.getLogger("leadhook.webhooks")


class TooManyRequests(HTTPException):
    status_code = 429


class PayloadTooLarge(HTTPException):
    status_code = 413


class RequestTimeout(HTTPException):
    status_code = 408


CLIP = 64
LOGGED_PATH = 200
# Litestar's own errors, said with what to do.
LITESTAR_DETAILS = {
    (404, "Not Found"): "No such route: leadhook's routes are listed at /schema",
    (405, "Method Not Allowed"): "Method not allowed on this route: see /schema for its methods",
}


def clip(value: object, limit: int = CLIP) -> str:
    """``repr(value)`` cut to ``limit`` characters of the value and an ellipsis: a request's own
    values are quoted in errors, never echoed whole (a workspace id may be 256 KB)."""
    text = str(value)
    if len(text) > limit:
        return repr(text[:limit]) + "…"
    return repr(text)


def describe(exc: BaseException) -> tuple[int, str, dict | None]:
    """The status, error text and headers ``exc`` is answered with (the ledger records the
    same): an :class:`HTTPException`'s own, Litestar's said with what to do; anything else a
    500 that says nothing internal."""
    if not isinstance(exc, HTTPException):
        return 500, "Internal server error", None
    status, detail, headers = exc.status_code, exc.detail, exc.headers
    extra = getattr(exc, "extra", None)
    if detail.startswith("Validation failed for "):  # Litestar's: it quotes the whole URL
        detail = "Invalid request parameters"
    if isinstance(extra, list) and extra and isinstance(extra[0], dict):
        where = extra[0].get("key")
        message = extra[0].get("message", "")
        detail = f"{detail}: {where + ': ' if where else ''}{message}".rstrip(": ")
    return status, LITESTAR_DETAILS.get((status, detail), detail), headers


def error_response(request: Request, exc: Exception) -> Response:
    """Every error as ``{"success": false, "error": ...}``; 500s say nothing internal.

    A rejected request is logged at INFO with its path (never the query string: it may carry
    ``?token=``) so that an operator sees a misconfigured provider; a webhook delivery's
    rejection is its delivery line (:class:`handlers.metrics.DeliveryMeter`), so DEBUG here.
    """
    status, detail, headers = describe(exc)
    if not isinstance(exc, HTTPException):
        log.exception("unhandled error", exc_info=exc)
    elif status != 429:  # 429s are logged where they arise, with the cause
        path = request.scope["path"]
        if len(path) > LOGGED_PATH:
            path = path[:LOGGED_PATH] + "…"
        # A webhook delivery has its own line already (handlers/metrics.py): DEBUG here.
        handler = request.scope.get("route_handler")
        webhook = handler is not None and "payload" in handler.opt
        level = logging.DEBUG if webhook else logging.INFO
        log.log(level, "rejected %s %s: %d %s", request.method, path, status, detail)
    return Response({"success": False, "error": detail}, status_code=status, headers=headers)
