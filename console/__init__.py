"""The operator console: server-rendered pages under ``/console`` (Jinja2 templates, htmx
for actions and partial updates, uPlot for charts; every asset served by leadhook from
``console/static/``, no build step, no CDN). Only ``app.py`` imports this package.

``app.py`` mounts :data:`ROUTES` (the pages, behind :func:`console._session.console_guard`,
and the static files) and passes :data:`TEMPLATE_CONFIG` to Litestar. Pages: the overview
(:mod:`console.overview`, with login, logout and about), deliveries (:mod:`console.deliveries`:
the ledger, one delivery, replay), jobs (:mod:`console.jobs`), AI spend
(:mod:`console.ai`), leads and drafts (:mod:`console.leads`). A new page is a controller
added to :data:`PAGES` and an entry of :data:`console._pages.NAV`.

Every answer carries the headers of :data:`console._pages.SECURITY_HEADERS`; errors under
``/console`` are HTML pages (a missing session sends the browser to the login page).
"""

from __future__ import annotations

import logging

from litestar import Request, Response, Router
from litestar.exceptions import HTTPException
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from console._pages import SECURITY_HEADERS, STATIC, TEMPLATE_CONFIG, is_htmx, page
from console._session import LoginRequired, console_guard, login_url
from console.ai import AiSpendController
from console.deliveries import DeliveriesController
from console.jobs import JobsController
from console.leads import LeadsController
from console.overview import LoginController, LogoutController, OverviewController

__all__ = ["PAGES", "ROUTES", "TEMPLATE_CONFIG"]

log = logging.getLogger("leadhook.console")

PAGES = [
    LoginController,
    LogoutController,
    OverviewController,
    DeliveriesController,
    JobsController,
    AiSpendController,
    LeadsController,
]


def _error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, LoginRequired):
        target = login_url(request)
        if is_htmx(request):
            return Response("", status_code=401, headers={"HX-Redirect": target})
        return Redirect(target, status_code=303, headers=dict(SECURITY_HEADERS))
    if isinstance(exc, HTTPException):
        status, message = exc.status_code, exc.detail
    else:
        log.exception("console page failed: %s %s", request.method, request.url.path)
        status, message = 500, "Something went wrong; the server log has the details."
    title = {401: "Log in", 403: "Refused", 404: "Not found", 503: "Console disabled"}
    return page(
        request, "error.html", status, title=title.get(status, "Error"), message=message, back=""
    )


ROUTES = [
    Router(
        path="/console",
        route_handlers=PAGES,
        guards=[console_guard],
        exception_handlers={HTTPException: _error, Exception: _error},
        include_in_schema=False,
    ),
    create_static_files_router(
        path="/console/static",
        directories=[STATIC],
        name="console-static",
        include_in_schema=False,
    ),
]
