"""Who may use the console: the admin token, exchanged for a session cookie; CSRF.

- ``POST /console/login`` compares the submitted token with ``LEADHOOK_ADMIN_TOKEN`` in
  constant time and sets the cookie ``leadhook_console``: ``<payload>.<signature>``, the
  payload (issued and expiry times, a random session id) signed with HMAC-SHA256 under a
  key derived from the admin token, so changing the token ends every session. HttpOnly,
  SameSite=Strict, ``Path=/console``, Secure when the request came over HTTPS (directly or
  ``X-Forwarded-Proto: https`` from a proxy); valid for :data:`SESSION_SECONDS`.
- Every page but the login page needs a valid cookie (:func:`console_guard`): a browser is
  sent to the login page, an htmx request gets 401 with ``HX-Redirect``.
- Every POST (the login form too) must come from the console's own origin (``Origin`` must
  name the request's ``Host`` or ``X-Forwarded-Host``; without ``Origin``,
  ``Sec-Fetch-Site`` must not say another site) and, once logged in, carry the
  session's CSRF token (form field ``_csrf`` or header ``X-CSRF-Token``; an HMAC of the
  session id). Anything else is 403 and changes nothing.
- ``POST /console/logout`` ends the session: the cookie is cleared and its id is refused
  until it would have expired (in this process).

With no admin token configured the console is disabled: every page says so (503). The token
is never logged, stored or echoed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler

COOKIE = "leadhook_console"
SESSION_SECONDS = 12 * 3600
CSRF_FIELD = "_csrf"
CSRF_HEADER = "x-csrf-token"


class ConsoleDisabled(HTTPException):
    status_code = 503
    detail = "The console is disabled: set LEADHOOK_ADMIN_TOKEN and restart leadhook."


class LoginRequired(NotAuthorizedException):
    detail = "Log in with the admin token."


class CrossSiteRefused(PermissionDeniedException):
    detail = (
        "Refused: this action did not come from a console page (cross-site request or a "
        "missing or stale CSRF token). Reload the page and try again."
    )


@dataclass(frozen=True)
class Session:
    sid: str
    expires: int
    csrf: str


def _key(admin_token: str) -> bytes:
    return hmac.new(admin_token.encode(), b"leadhook console session v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _csrf(key: bytes, sid: str) -> str:
    return hmac.new(key, b"csrf:" + sid.encode(), hashlib.sha256).hexdigest()


def token_matches(given: str, admin_token: str | None) -> bool:
    """Constant-time comparison of a submitted token with the configured one."""
    if not admin_token:
        return False
    return hmac.compare_digest(given.strip().encode(), admin_token.encode())


def new_session_cookie(admin_token: str, now: float | None = None) -> tuple[str, Session]:
    now = time.time() if now is None else now
    sid = secrets.token_urlsafe(18)
    expires = int(now) + SESSION_SECONDS
    payload = _b64(json.dumps({"sid": sid, "iat": int(now), "exp": expires}).encode())
    key = _key(admin_token)
    signature = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}", Session(sid, expires, _csrf(key, sid))


def read_session(value: str | None, admin_token: str, revoked: dict[str, int]) -> Session | None:
    """The session of a cookie value, or None if it is missing, forged, expired or ended."""
    if not value or value.count(".") != 1:
        return None
    payload, signature = value.split(".")
    key = _key(admin_token)
    wanted = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(signature.encode(), wanted.encode()):
        return None
    try:
        data = json.loads(_unb64(payload))
        sid, expires = str(data["sid"]), int(data["exp"])
    except (ValueError, KeyError, TypeError):
        return None
    if expires <= time.time() or sid in revoked:
        return None
    return Session(sid, expires, _csrf(key, sid))


def revoke(revoked: dict[str, int], session: Session) -> None:
    now = time.time()
    for sid in [s for s, exp in revoked.items() if exp <= now]:
        del revoked[sid]
    revoked[session.sid] = session.expires


def is_https(connection: ASGIConnection) -> bool:
    forwarded = connection.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return connection.url.scheme == "https" or forwarded == "https"


def same_origin(connection: ASGIConnection) -> bool:
    """False when the browser says the request comes from another origin or site."""
    origin = connection.headers.get("origin")
    if origin is not None and origin != "null":
        # Behind a reverse proxy the browser's host may arrive as X-Forwarded-Host.
        hosts = {connection.headers.get("host", "")}
        forwarded = connection.headers.get("x-forwarded-host")
        if forwarded:
            hosts.add(forwarded.split(",")[0].strip())
        return urlsplit(origin).netloc in hosts
    if origin == "null":
        return False
    site = connection.headers.get("sec-fetch-site")
    return site in (None, "same-origin", "none")


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a console path, never another site."""
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console"


def login_url(connection: ASGIConnection) -> str:
    path = connection.url.path
    if connection.url.query:
        path += "?" + connection.url.query
    return "/console/login?next=" + quote(path, safe="")


async def console_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The console's access rule (see the module docstring)."""
    state = connection.app.state
    admin_token = state.settings.admin_token
    if not admin_token:
        raise ConsoleDisabled()
    method = connection.scope.get("method", "GET")
    if method == "POST" and not same_origin(connection):
        raise CrossSiteRefused()
    if handler.opt.get("public"):
        return
    session = read_session(connection.cookies.get(COOKIE), admin_token, revoked_sessions(state))
    if session is None:
        raise LoginRequired()
    connection.state.console_session = session
    if method == "POST":
        given = connection.headers.get(CSRF_HEADER)
        if given is None and isinstance(connection, Request):
            form = await connection.form()
            given = form.get(CSRF_FIELD)
        if not given or not hmac.compare_digest(str(given).encode(), session.csrf.encode()):
            raise CrossSiteRefused()


def revoked_sessions(state: Any) -> dict[str, int]:
    """The ids of sessions ended by logging out (until they would have expired)."""
    revoked = state.get("console_revoked")
    if revoked is None:
        revoked = state.console_revoked = {}
    return revoked


def current_session(request: Request) -> Session | None:
    """The request's session (set by :func:`console_guard`); None on public pages."""
    return request.state.get("console_session")


def cookie_kwargs(request: Request) -> dict[str, Any]:
    return {
        "path": "/console",
        "httponly": True,
        "samesite": "strict",
        "secure": is_https(request),
    }
