"""GET /healthz and /readyz."""

from __future__ import annotations

import sqlite3

import httpx


def test_healthz(http):
    assert http.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_database_and_scheduler(http):
    response = http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "disk": "ok", "writer": "ok", "scheduler": "ok"},
    }


def test_readyz_is_503_when_the_database_is_not_writable(serve, workspace, db_path):
    live = serve(busy_timeout_ms=100)
    locker = sqlite3.connect(db_path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        response = httpx.get(f"{live.url}/readyz", timeout=10)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("not writable")
    assert httpx.get(f"{live.url}/readyz", timeout=10).status_code == 200


def test_readyz_with_scheduler_disabled(serve, workspace):
    live = serve(scheduler_enabled=False)
    body = httpx.get(f"{live.url}/readyz").json()
    assert body["checks"]["scheduler"] == "disabled"


def test_openapi_schema_is_served(http):
    schema = http.get("/schema/openapi.json").json()
    assert "/api/webhooks/ghl/sms" in schema["paths"]
