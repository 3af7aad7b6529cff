"""The error shape of every route, and the two HTTP errors Litestar has no class for.

:func:`error_response` is the app's handler for every exception: ``{"success": false,
"error": ...}`` with the exception's status (and headers, e.g. ``Retry-After``); anything
that is not an :class:`HTTPException` is a 500 that says nothing internal and is logged with
its traceback.
"""

from __future__ import annotations

import logging

from litestar import Request, Response
from litestar.exceptions import HTTPException

log = logging.getLogger("leadhook.webhooks")


class TooManyRequests(HTTPException):
    status_code = 429


class Conflict(HTTPException):
    status_code = 409


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
