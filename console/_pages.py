"""Rendering the console: the Jinja2 environment (Litestar's ``TemplateConfig``), the
navigation, the filters templates use, and the headers every console answer carries.

- :data:`NAV`: the navigation, in order; a page is ``(key, label, path)``. A new page adds
  its entry here and its template extends ``base.html`` with ``{% set active = key %}``.
- :func:`page` renders a template with what every page needs (the CSRF token for forms
  and htmx, the navigation, the asset versions); :func:`partial` renders a fragment for an
  htmx swap.
- Times are rendered as ``<time datetime=ISO title="... UTC">``; ``static/console.js``
  rewrites the text into the viewer's time zone (the UTC time stays on hover).
- :data:`SECURITY_HEADERS`: a Content-Security-Policy that lets a page load nothing from
  another host (scripts, styles, images, connections, form targets all ``'self'``), no
  framing, no caching of pages.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar import Request
from litestar.exceptions import ClientException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig
from markupsafe import Markup

import db
from console._session import current_session

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
# The vendored assets (static/VENDORED.md says where each came from and its licence).
ASSET_VERSIONS = {"htmx": "2.0.11", "uplot": "1.6.32"}

NAV = [
    ("overview", "Overview", "/console"),
    ("deliveries", "Deliveries", "/console/deliveries"),
    ("jobs", "Jobs", "/console/jobs"),
    ("ai", "AI spend", "/console/ai"),
    ("leads", "Leads", "/console/leads"),
    ("drafts", "Drafts", "/console/drafts"),
    ("about", "About", "/console/about"),
]

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _utc(value: str | None) -> str:
    if not value:
        return ""
    return db.parse_iso(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def time_tag(value: str | None) -> Markup:
    """``<time>`` with the ISO value; the text is the UTC time until console.js localises it."""
    if not value:
        return Markup('<span class="muted">–</span>')
    utc = _utc(value)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(value, utc, utc)


def duration(seconds: float | None) -> str:
    """``2d 3h``, ``1h 05m``, ``5m 00s``, ``7s``."""
    if seconds is None:
        return "–"
    return db.time.span(seconds)


def usd(value: float | None, digits: int = 6) -> str:
    return "–" if value is None else f"${value:,.{digits}f}"


def number(value: float | int | None) -> str:
    return "–" if value is None else f"{value:,}"


def one_line(text: str | None, width: int = 80) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def query(values: dict[str, Any], **changes: Any) -> str:
    """``values`` updated by ``changes`` as a query string (empty values left out)."""
    from urllib.parse import urlencode

    merged = {**values, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(time=time_tag, duration=duration, usd=usd, number=number, one_line=one_line)
    env.globals.update(query=query, nav=NAV, assets=ASSET_VERSIONS)
    return env


TEMPLATE_CONFIG = TemplateConfig(instance=JinjaTemplateEngine.from_environment(_environment()))


def now_of(request: Request) -> datetime:
    return request.app.state.clock().astimezone(UTC)


def _context(request: Request, context: dict[str, Any]) -> dict[str, Any]:
    session = current_session(request)
    return {
        "csrf": session.csrf if session else "",
        "logged_in": session is not None,
        "path": request.url.path,
        "now": db.iso(now_of(request)),
        "done": _done(request),
        "active": "",
        **context,
    }


_DONE = {
    "retried": "Job {id} is PENDING again, due now.",
    "discarded": "Job {id} is discarded: it will not run again unless retried.",
    "retried-all": "{n} failed jobs retried ({of} were counted when you confirmed).",
    "approved": "Draft {id} is approved.",
    "replayed": "Delivery {id} was replayed: this is the replay.",
    "rejected": "Draft {id} is rejected.",
}


def _done(request: Request) -> str:
    """The confirmation of the action a redirect came back from (``?done=...``): a fixed
    sentence with numbers only, so a link cannot make the page say anything else."""
    template = _DONE.get(request.query_params.get("done", ""))
    if template is None:
        return ""
    values = {}
    for name in ("id", "n", "of"):
        raw = request.query_params.get(name, "")
        values[name] = int(raw) if raw.isdigit() else 0
    return template.format(**values)


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> Template:
    return Template(
        template_name=name,
        context=_context(request, context),
        headers=dict(SECURITY_HEADERS),
        status_code=status_code,
    )


def partial(request: Request, name: str, **context: Any) -> Template:
    return page(request, name, **context)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def chart_json(data: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` element (``<``, ``>``, ``&`` escaped)."""
    text = json.dumps(data, separators=(",", ":"), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def int_param(value: Any, name: str) -> int | None:
    """A whole number from a query parameter or form field; blank is None; else 400."""
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ClientException(f"{name} must be a number, got {value!r}") from None


def back_to(form: Any, default: str) -> str:
    """The form's ``next`` (where an action returns to) when it is a console path."""
    target = str(form.get("next") or "")
    return target if target.startswith("/console") and not target.startswith("//") else default
