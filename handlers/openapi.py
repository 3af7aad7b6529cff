"""The published API: an OpenAPI 3.1 document at ``/schema/openapi.json`` and a docs page at
``/schema`` (Swagger UI, vendored in ``handlers/static/swagger-ui``: every asset is served by
leadhook itself, and the page's Content-Security-Policy allows no other origin).

:func:`document` builds the document from the routes themselves: each webhook's request body is
its payload struct's JSON Schema (msgspec), each answer's schema the struct of
:mod:`handlers._answers`; the three ways of sending a client token are security schemes
(``bearer``, the ``X-Leadhook-Token`` header, ``?token=``), and every status a route can answer
is listed with its schema (the error shape for every 4xx). tests/test_openapi.py fuzzes the
server against it (schemathesis) and checks that it lists exactly the app's routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.static_files import create_static_files_router

from db import vocab
from handlers import _answers
from handlers.cron import DEFAULT_BUDGET_SECONDS, DEFAULT_LIMIT, MAX_BUDGET_SECONDS, MAX_LIMIT
from handlers.cron import PATH as CRON_PATH

STATIC = Path(__file__).resolve().parent / "static"
ASSETS = "/schema/assets"
REF = "#/components/schemas/{name}"
CLIENT_TOKEN = [{"bearer": []}, {"tokenHeader": []}, {"tokenQuery": []}]
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The workspace's client token: `Authorization: Bearer <token>`.",
    },
    "tokenHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Leadhook-Token",
        "description": "The workspace's client token in a header of its own.",
    },
    "tokenQuery": {
        "type": "apiKey",
        "in": "query",
        "name": "token",
        "description": "The workspace's client token as `?token=`, for providers that "
        "cannot set headers.",
    },
    "cronSecret": {
        "type": "http",
        "scheme": "bearer",
        "description": "`LEADHOOK_CRON_SECRET`; unset, the route is disabled (401).",
    },
    "cronHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "x-cron-secret",
        "description": "`LEADHOOK_CRON_SECRET` in a header of its own.",
    },
    "adminToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "`LEADHOOK_ADMIN_TOKEN`; unset, the route is disabled (401).",
    },
}
ERRORS = {
    400: "The body or a parameter is wrong (the error says what): invalid JSON, JSON nested "
    "too deeply, an empty body, a missing field.",
    401: "No valid token: missing, misspelt (`Authorization` without `Bearer`), unknown, "
    "rotated or disabled. Nothing is parsed or stored.",
    403: "The payload's workspace id ({field}) belongs to another workspace than the token's.",
    408: "The request did not arrive within the read timeout (LEADHOOK_HTTP_READ_TIMEOUT_SECONDS).",
    413: "The body is larger than LEADHOOK_MAX_BODY_BYTES ({limit} bytes).",
    429: "The database could not take the write in time: retry after `Retry-After` seconds.",
    503: "The database cannot take writes: retry later.",
}


def _ref(struct: type) -> dict[str, str]:
    return {"$ref": REF.format(name=struct.__name__)}


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        **extra,
    }


def _errors(*statuses: int, **fill: Any) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for status in statuses:
        extra: dict[str, Any] = {}
        if status == 429:
            extra["headers"] = {
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
            }
        answers[str(status)] = _json(_ref(_answers.Error), ERRORS[status].format(**fill), **extra)
    return answers


def _webhook(handler: HTTPRouteHandler, max_body_bytes: int) -> dict[str, Any]:
    opt = handler.opt
    statuses = [400, 401, 408, 413, 429]
    if opt["workspace_field"]:
        statuses.insert(2, 403)
    security = list(CLIENT_TOKEN)
    description = opt["description"] or ""
    if opt["token_in_body"]:
        security.append({})  # the token may be the body's secret_key instead
    ok = {"anyOf": [_ref(s) for s in _answers.WEBHOOK_ANSWERS]}
    return {
        "operationId": handler.handler_name + "_" + handler.opt["payload"].__name__,
        "summary": handler.summary,
        "description": description,
        "tags": ["webhooks"],
        "security": security,
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref(opt["payload"])}},
        },
        "responses": {
            "200": _json(ok, "Stored, already stored (deduped), ignored, or unsubscribed."),
            **_errors(*statuses, field=opt["workspace_field"], limit=max_body_bytes),
        },
    }


def _number(name: str, default: float, low: float, high: float, what: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": what,
        "schema": {"type": "number", "minimum": low, "maximum": high, "default": default},
    }


def _cron(method: str) -> dict[str, Any]:
    return {
        "operationId": f"cron_background_jobs_{method}",
        "summary": "Run one bounded pass of the background-job runner",
        "tags": ["operations"],
        "security": [{"cronSecret": []}, {"cronHeader": []}],
        "parameters": [
            _number("limit", DEFAULT_LIMIT, 1, MAX_LIMIT, "Most jobs to claim."),
            _number(
                "budget_seconds",
                DEFAULT_BUDGET_SECONDS,
                0.1,
                MAX_BUDGET_SECONDS,
                "No claim after this many seconds (jobs started are waited for).",
            ),
        ],
        "responses": {
            "200": _json(_ref(_answers.CronPass), "The pass's counts."),
            **_errors(400, 401, 503),
        },
    }


def _telemetry() -> dict[str, Any]:
    return {
        "operationId": "telemetry_ai_report",
        "summary": "AI calls, errors, tokens, cost and latency p50/p95 per group",
        "tags": ["operations"],
        "security": [{"adminToken": []}],
        "parameters": [
            {
                "name": "by",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": list(vocab.REPORT_DIMENSIONS)},
            },
            {
                "name": "since",
                "in": "query",
                "required": False,
                "description": "ISO-8601 time or date, years 1000 to 2999 (UTC when no "
                "zone): count calls made at or after it.",
                "schema": {
                    "type": "string",
                    "pattern": "^[12][0-9]{3}-",  # years 1000 to 2999
                    "anyOf": [{"format": "date-time"}, {"format": "date"}],
                    "examples": ["2026-01-18T10:00:00Z", "2026-01-18"],
                },
            },
        ],
        "responses": {
            "200": _json(_ref(_answers.SpendReport), "The report."),
            **_errors(400, 401),
        },
    }


def _metrics() -> dict[str, Any]:
    return {
        "operationId": "metrics",
        "summary": "Prometheus metrics",
        "description": "The Prometheus text format (docs/operations.md: names, labels, "
        "which counters count from process start).",
        "tags": ["operations"],
        "security": [{"adminToken": []}],
        "responses": {
            "200": {
                "description": "Every metric, in the Prometheus text format 0.0.4.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            **_errors(401),
        },
    }


def _health() -> dict[str, Any]:
    ready = _ref(_answers.Readiness)
    return {
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "Liveness: the process answers",
                "tags": ["health"],
                "responses": {"200": _json(_ref(_answers.Health), "Alive.")},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "Readiness: the database takes a write and the runner runs",
                "tags": ["health"],
                "responses": {
                    "200": _json(ready, "Ready."),
                    "503": _json(ready, "Not ready: `checks` says what is wrong."),
                },
            }
        },
    }


def document(
    webhooks: Sequence[HTTPRouteHandler], *, version: str, max_body_bytes: int
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of leadhook's routes (``webhooks``: the webhook handlers)."""
    structs = [h.opt["payload"] for h in webhooks] + list(_answers.ANSWERS)
    _, schemas = msgspec.json.schema_components(structs, ref_template=REF)
    paths: dict[str, Any] = {}
    for handler in webhooks:
        for path in sorted(handler.paths):
            paths[path] = {"post": _webhook(handler, max_body_bytes)}
    paths[CRON_PATH] = {"get": _cron("get"), "post": _cron("post")}
    paths["/api/telemetry/ai"] = {"get": _telemetry()}
    paths["/metrics"] = {"get": _metrics()}
    paths.update(_health())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "leadhook",
            "version": version,
            "description": "Webhooks in for sales-reply channels: every message stored exactly "
            "once and post-processed by AI. Every error is "
            '`{"success": false, "error": "<what is wrong and what to do>"}`.',
        },
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
    }


DOCS_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>leadhook API</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui/swagger-ui-bundle.js"></script>
<script src="{ASSETS}/docs.js"></script>
</body>
</html>
"""
# Only leadhook's own origin; Swagger UI sets inline styles and shows data: images.
DOCS_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; frame-ancestors 'none'"
)


def routes(openapi: dict[str, Any]) -> list[Any]:
    """The ``/schema`` routes serving ``openapi``, the docs page and its assets."""
    body = msgspec.json.encode(openapi)

    @get("/schema/openapi.json", include_in_schema=False, sync_to_thread=False)
    def openapi_json() -> Response[bytes]:
        return Response(body, media_type="application/json")

    @get(["/schema", "/schema/"], include_in_schema=False, sync_to_thread=False)
    def docs_page() -> Response[str]:
        return Response(
            DOCS_PAGE, media_type="text/html", headers={"Content-Security-Policy": DOCS_POLICY}
        )

    assets = create_static_files_router(
        path=ASSETS, directories=[STATIC], include_in_schema=False, name="schema_assets"
    )
    return [openapi_json, docs_page, assets]
