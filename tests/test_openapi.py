"""The published API (DESIGN "Routes": every request body, security scheme and error response
described, no asset loaded from outside): the document lists exactly the app's routes, real
answers match it, a fuzzer finds no server error and no answer outside it, and the docs page
loads only what leadhook serves."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

from tests.conftest import load_payload

CRON_SECRET, ADMIN_TOKEN = "cron-secret", "admin-token"
STATUSES = {
    "/api/webhooks/ghl/sms": {"200", "400", "401", "403", "408", "413", "429"},
    "/api/webhooks/email": {"200", "400", "401", "403", "408", "413", "429"},
    "/api/webhooks/linkedin": {"200", "400", "401", "403", "408", "413", "429"},
    "/api/webhooks/smartlead": {"200", "400", "401", "408", "413", "429"},
    "/api/webhooks/instantly": {"200", "400", "401", "408", "413", "429"},
    "/api/cron/background-jobs": {"200", "400", "401", "503"},
    "/api/telemetry/ai": {"200", "400", "401"},
    "/metrics": {"200", "401"},
    "/healthz": {"200"},
    "/readyz": {"200", "503"},
}


@pytest.fixture
def api(serve, workspace):
    return serve(cron_secret=CRON_SECRET, admin_token=ADMIN_TOKEN, scheduler_enabled=False)


@pytest.fixture
def spec(api) -> dict:
    response = httpx.get(api.url + "/schema/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json()


def test_the_document_lists_exactly_the_apps_routes(api, spec):
    served = {  # every route whose handler is in the schema (the console's pages are not)
        (method.lower(), route.path)
        for route in api.app.routes
        for handler in getattr(route, "route_handlers", ())
        if handler.resolve_include_in_schema()
        for method in handler.http_methods
        if method not in ("HEAD", "OPTIONS")
    }
    documented = {(method, path) for path, item in spec["paths"].items() for method in item}
    assert documented == served


@pytest.mark.parametrize("path", sorted(STATUSES))
def test_every_route_documents_its_statuses_with_the_error_schema(spec, path):
    for operation in spec["paths"][path].values():
        assert set(operation["responses"]) == STATUSES[path]
        for status, answer in operation["responses"].items():
            text = path == "/metrics" and status == "200"  # the Prometheus text format
            schema = answer["content"]["text/plain" if text else "application/json"]["schema"]
            if status.startswith("4"):
                assert schema == {"$ref": "#/components/schemas/Error"}
        if path.startswith("/api/webhooks/"):
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            name = body["$ref"].rsplit("/", 1)[1]
            assert spec["components"]["schemas"][name]["type"] == "object"
            schemes = [next(iter(s), None) for s in operation["security"]]
            assert schemes[:3] == ["bearer", "tokenHeader", "tokenQuery"]
            assert "Retry-After" in operation["responses"]["429"]["headers"]


def test_the_three_ways_of_sending_a_token_are_security_schemes(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == schemes["bearer"] | {"type": "http", "scheme": "bearer"}
    assert schemes["tokenHeader"] | {"description": ""} == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Leadhook-Token",
        "description": "",
    }
    assert schemes["tokenQuery"]["in"] == "query"
    assert schemes["tokenQuery"]["name"] == "token"


def matches(spec: dict, path: str, method: str, response: httpx.Response) -> None:
    """``response`` is valid against the document's schema for its status."""
    answer = spec["paths"][path][method]["responses"][str(response.status_code)]
    schema = answer["content"]["application/json"]["schema"]
    document = {**schema, "components": spec["components"]}
    jsonschema.validate(response.json(), document)


def test_real_answers_match_the_document(api, spec, workspace):
    """The answers a fuzzer rarely reaches: stored, deduped, ignored, unsubscribed, the cron
    pass, the spend report, readiness."""
    auth = workspace.auth
    with httpx.Client(base_url=api.url, timeout=30) as http:
        calls = [
            ("/api/webhooks/ghl/sms", "post", {"json": load_payload("ghl_sms_workflow.json")}),
            ("/api/webhooks/ghl/sms", "post", {"json": load_payload("ghl_sms_workflow.json")}),
            ("/api/webhooks/email", "post", {"json": load_payload("email_lead_unsubscribed.json")}),
            (
                "/api/webhooks/linkedin",
                "post",
                {"json": load_payload("unipile_message_reaction.json")},
            ),
            ("/api/webhooks/instantly", "post", {"content": b'{"event_type": '}),
        ]
        for path, method, kwargs in calls:
            response = http.request(method, path, headers=auth, **kwargs)
            matches(spec, path, method, response)
        cron = {"Authorization": f"Bearer {CRON_SECRET}"}
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        for path, method, headers in (
            ("/api/cron/background-jobs", "post", cron),
            ("/api/telemetry/ai", "get", admin),
            ("/healthz", "get", {}),
            ("/readyz", "get", {}),
        ):
            response = http.request(method, path, headers=headers)
            assert response.status_code == 200
            matches(spec, path, method, response)


# -- fuzzing -----------------------------------------------------------------------------------

EXAMPLES = 25  # per operation and mode: 12 operations x 2 modes x 25 = 600 cases at most


def fuzz(api, workspace, case) -> None:
    """One case. A webhook's payload schema describes the fields leadhook reads and is lenient
    on purpose (which are required depends on the event type, and blank counts as missing), so
    a schema-valid payload may get 400: the "positive data accepted" check is off there."""
    webhook = case.path.startswith("/api/webhooks/")
    headers = {
        "/api/cron/background-jobs": {"Authorization": f"Bearer {CRON_SECRET}"},
        "/api/telemetry/ai": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
        "/metrics": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
    }.get(case.path, workspace.auth if webhook else {})
    excluded = [positive_data_acceptance] if webhook else []
    case.call_and_validate(base_url=api.url, headers=headers, excluded_checks=excluded)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzzing_finds_no_server_error_and_no_answer_outside_the_document(api, workspace, mode):
    """schemathesis against the live server and the document it serves: valid and invalid
    requests for every operation, with the right token (and without, for its auth checks).
    Every answer must be a documented status with a schema-valid body, and none a 5xx.
    Bounded and derandomized, so the run is the same every time."""
    # The test sends the tokens itself (schemathesis's own checks still try requests without
    # them); unknown query parameters are not errors (providers add their own).
    config = SchemathesisConfig.from_dict(
        {"generation": {"allow-extra-parameters": False, "with-security-parameters": False}}
    )
    schema = schemathesis.openapi.from_url(api.url + "/schema/openapi.json", config=config)
    failures: dict[str, str] = {}
    cases = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        def run(case) -> None:
            nonlocal cases
            cases += 1
            fuzz(api, workspace, case)

        try:
            run()
        except Unsatisfiable:  # nothing to make invalid: no parameter, no body (health)
            assert mode is GenerationMode.NEGATIVE, operation.label
        except Exception as exc:  # collected, all reported below
            failures[operation.label] = str(exc)[:3000]
    print(f"\n{mode.value}: {cases} cases over the document's operations")
    assert failures == {}, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
    assert cases >= 100


# -- the docs page -----------------------------------------------------------------------------


def test_the_docs_page_loads_only_leadhooks_own_assets(api):
    with httpx.Client(base_url=api.url, timeout=30) as http:
        page = http.get("/schema")
        assert page.status_code == 200
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert urls, page.text
        for url in urls:
            assert url.startswith("/schema/assets/"), url
            asset = http.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 100
        script = http.get("/schema/assets/docs.js").text
        assert "validatorUrl: null" in script


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def page_requests(net_log: Path) -> set[str]:
    """The URLs the page asked for, from Chromium's network log: requests whose initiator is
    an origin (the browser's own, e.g. its updater, have "not an origin")."""
    log = json.loads(net_log.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    requests = [e.get("params", {}) for e in log["events"] if e["type"] == start]
    return {r["url"] for r in requests if r.get("initiator", "not an origin") != "not an origin"}


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium)")
def test_the_docs_page_renders_in_a_browser_without_leaving_leadhook(api, tmp_path: Path):
    """Chromium loads /schema with a network log: every request stays on leadhook's origin,
    and the rendered page shows the routes."""
    net_log = tmp_path / "net.json"
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--log-net-log={net_log}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            api.url + "/schema",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "/api/webhooks/ghl/sms" in result.stdout, result.stderr[-2000:]
    urls = page_requests(net_log)
    assert api.url + "/schema/assets/swagger-ui/swagger-ui-bundle.js" in urls
    assert api.url + "/schema/openapi.json" in urls
    outside = {url for url in urls if not url.startswith(api.url)}
    assert outside == set()
