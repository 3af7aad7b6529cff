"""Every error is a 4xx JSON ``{"success": false, "error": "<what is wrong and what to do>"}``
(DESIGN "Interfaces"): nesting limits, empty bodies, size limits, token spelling, disabled
admin routes, long echoes; never a 500, never a traceback."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.conftest import all_counts, load_payload

WEBHOOKS = {
    "/api/webhooks/ghl/sms": "ghl_sms_workflow.json",
    "/api/webhooks/email": "email_lead_replied.json",
    "/api/webhooks/linkedin": "unipile_message_received.json",
    "/api/webhooks/smartlead": "smartlead_email_reply.json",
    "/api/webhooks/instantly": "instantly_reply_received.json",
}
DEEP_OBJECT = b'{"a":' * 1000 + b"1" + b"}" * 1000  # 6 KB
DEEP_ARRAY = b"[" * 1000 + b"]" * 1000  # 2 KB
TOO_DEEP = "Body is JSON nested too deeply: send the provider's event as it is"


def no_server_error(caplog) -> None:
    """No record at ERROR and none with a traceback, from any thread of the server."""
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert bad == [], [r.getMessage() for r in bad]


@pytest.mark.parametrize("path", sorted(WEBHOOKS))
@pytest.mark.parametrize(
    ("body", "error"),
    [
        (DEEP_OBJECT, TOO_DEEP),
        (b'{"x": ' + DEEP_ARRAY + b"}", TOO_DEEP),
        (DEEP_ARRAY, "Body must be a JSON object"),  # refused before any nesting is read
    ],
)
def test_json_nested_1000_levels_is_a_400_on_every_route(
    http, workspace, database, caplog, path, body, error
):
    caplog.set_level(logging.INFO)
    before = all_counts(database)
    response = http.post(path, content=body, headers=workspace.auth)
    assert response.status_code == 400
    assert response.json() == {"success": False, "error": error}
    assert all_counts(database) == before
    no_server_error(caplog)


def test_smartlead_peeks_for_secret_key_without_a_500_on_deep_json(http, database, caplog):
    """Without a header, SmartLead's token is looked for in the body, before authentication:
    JSON nested too deeply is a 400 there too."""
    before = all_counts(database)
    for body in (DEEP_OBJECT, b'{"secret_key": ' + DEEP_ARRAY + b"}"):
        response = http.post("/api/webhooks/smartlead", content=body)
        assert response.status_code == 400
        assert response.json() == {"success": False, "error": TOO_DEEP}
    assert all_counts(database) == before
    no_server_error(caplog)


@pytest.mark.parametrize("path", sorted(WEBHOOKS))
@pytest.mark.parametrize("body", [b"", b"   \n"])
def test_an_empty_body_says_it_is_empty(http, workspace, path, body):
    response = http.post(path, content=body, headers=workspace.auth)
    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "error": "Body is empty: send the event as a JSON object",
    }


@pytest.mark.parametrize("path", sorted(WEBHOOKS))
def test_413_states_the_limit_in_bytes(serve, workspace, path):
    live = serve(max_body_bytes=1000)
    with httpx.Client(base_url=live.url, timeout=30) as http:
        for kwargs in ({"content": b"x" * 1001}, {"content": iter([b"x" * 600, b"x" * 600])}):
            response = http.post(path, headers=workspace.auth, **kwargs)
            assert response.status_code == 413
            assert response.json() == {
                "success": False,
                "error": "Body is larger than the limit of 1000 bytes "
                "(LEADHOOK_MAX_BODY_BYTES): send one event per request",
            }


@pytest.mark.parametrize("path", sorted(WEBHOOKS))
@pytest.mark.parametrize("scheme", ["", "Token ", "bearer"])
def test_an_authorization_header_without_bearer_says_so(http, workspace, path, scheme):
    payload = load_payload(WEBHOOKS[path])
    payload.pop("secret_key", None)
    headers = {"Authorization": f"{scheme}{workspace.token}"}
    response = http.post(path, json=payload, headers=headers)
    assert response.status_code == 401
    assert response.json() == {
        "success": False,
        "error": "Authorization header must be 'Bearer <token>'",
    }


@pytest.mark.parametrize("path", sorted(WEBHOOKS))
def test_a_missing_token_says_how_to_send_one(http, path):
    payload = load_payload(WEBHOOKS[path])
    payload.pop("secret_key", None)
    error = http.post(path, json=payload).json()["error"]
    assert error.startswith("Missing client token: send it as 'Authorization: Bearer <token>'")
    assert "X-Leadhook-Token" in error
    assert "?token=" in error
    assert ("secret_key" in error) == path.endswith("smartlead")


def test_a_wrong_token_says_what_to_do(http):
    response = http.post(
        "/api/webhooks/ghl/sms",
        json=load_payload("ghl_sms_workflow.json"),
        headers={"Authorization": "Bearer nope"},
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert error.startswith("Invalid client token: it is unknown, rotated or disabled")
    assert "current token" in error


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/webhooks/ghl/sms", ("location", "id")),
        ("/api/webhooks/email", ("event", "workspace_id")),
        ("/api/webhooks/linkedin", ("account_id",)),
    ],
)
def test_a_rejected_workspace_id_is_clipped_in_the_answer_and_the_log(
    http, workspace, database, caplog, path, field
):
    caplog.set_level(logging.INFO)
    payload = load_payload(WEBHOOKS[path])
    long_id = "W" * 64 + "X" * 100_000
    target = payload
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = long_id
    response = http.post(path, json=payload, headers=workspace.auth)
    assert response.status_code == 403
    error = response.json()["error"]
    assert f"'{'W' * 64}'…" in error
    assert "X" not in error
    assert len(error) < 200
    logged = [r.getMessage() for r in caplog.records if "does not belong" in r.getMessage()]
    assert logged
    assert all("X" not in line and len(line) < 300 for line in logged)


def test_unknown_routes_and_methods_are_json_with_what_to_do(http, caplog):
    caplog.set_level(logging.INFO)
    response = http.get("/nope/" + "a" * 20_000)
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": "No such route: leadhook's routes are listed at /schema",
    }
    server_lines = [r.getMessage() for r in caplog.records if r.name.startswith("leadhook")]
    assert any("rejected GET /nope/" in line for line in server_lines)
    assert all(len(line) < 400 for line in server_lines)  # the path is cut in logs
    response = http.get("/api/webhooks/ghl/sms")
    assert response.status_code == 405
    assert response.json()["success"] is False
    assert "/schema" in response.json()["error"]


def test_a_query_value_is_clipped_in_errors(serve):
    live = serve(admin_token="adm", cron_secret="cron")
    with httpx.Client(base_url=live.url, timeout=30) as http:
        for path, params, headers in (
            ("/api/telemetry/ai", {"by": "z" * 5000}, {"Authorization": "Bearer adm"}),
            ("/api/telemetry/ai", {"since": "z" * 5000}, {"Authorization": "Bearer adm"}),
            ("/api/cron/background-jobs", {"limit": "z" * 5000}, {"x-cron-secret": "cron"}),
        ):
            response = http.get(path, params=params, headers=headers)
            assert response.status_code == 400
            error = response.json()["error"]
            assert error.endswith(f"'{'z' * 64}'…")
