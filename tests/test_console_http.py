"""The console over plain HTTP: disabled without an admin token, the session cookie and its
flags, forged and ended sessions, CSRF and cross-origin refusals, every page answering with
seeded data and empty, the CSV export, and the headers that keep pages on leadhook's host."""

from __future__ import annotations

import csv
import io
import logging

import httpx
import pytest

from tests.console_helpers import ADMIN_TOKEN, seed

PAGES = [
    "/console",
    "/console/overview/panel",
    "/console/jobs",
    "/console/jobs?status=FAILED",
    "/console/jobs?status=RUNNING",
    "/console/jobs/retry-all?type=SMS_INBOUND_POST_PROCESS",
    "/console/ai",
    "/console/ai?window=today&by=client",
    "/console/ai?window=30d&by=model&bucket=hour",
    "/console/leads",
    "/console/drafts",
    "/console/about",
    "/console/deliveries",
    "/console/deliveries?outcome=rejected&window=24h",
    "/console/deliveries?route=/api/webhooks/email&client=1&key=x&since=2026-01-01",
]


@pytest.fixture
def console(serve):
    return serve(admin_token=ADMIN_TOKEN, scheduler_enabled=False)


@pytest.fixture
def client(console):
    """An httpx client logged in to ``console``."""
    with httpx.Client(base_url=console.url, timeout=30) as client:
        response = client.post("/console/login", data={"token": ADMIN_TOKEN})
        assert response.status_code == 303
        yield client


def csrf_of(client: httpx.Client) -> str:
    page = client.get("/console").text
    return page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]


def test_without_an_admin_token_the_console_says_it_is_disabled(serve):
    live = serve(admin_token=None)
    for path in ("/console", "/console/login"):
        response = httpx.get(live.url + path)
        assert response.status_code == 503
        assert "set LEADHOOK_ADMIN_TOKEN" in response.text
    response = httpx.post(live.url + "/console/login", data={"token": "anything"})
    assert response.status_code == 503


def test_login_sets_a_strict_http_only_cookie_and_never_logs_the_token(console, caplog):
    caplog.set_level(logging.DEBUG)
    anonymous = httpx.get(console.url + "/console/jobs?status=FAILED")
    assert anonymous.status_code == 303
    assert (
        anonymous.headers["location"] == "/console/login?next=%2Fconsole%2Fjobs%3Fstatus%3DFAILED"
    )
    wrong = httpx.post(console.url + "/console/login", data={"token": ADMIN_TOKEN + "x"})
    assert wrong.status_code == 401 and "not the admin token" in wrong.text
    response = httpx.post(
        console.url + "/console/login", data={"token": ADMIN_TOKEN, "next": "/console/ai"}
    )
    assert response.status_code == 303 and response.headers["location"] == "/console/ai"
    cookie = response.headers["set-cookie"]
    for flag in ("HttpOnly", "SameSite=strict", "Path=/console", "Max-Age=43200"):
        assert flag in cookie
    assert "Secure" not in cookie  # plain HTTP here
    behind_proxy = httpx.post(
        console.url + "/console/login",
        data={"token": ADMIN_TOKEN},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert "Secure" in behind_proxy.headers["set-cookie"]
    offsite = httpx.post(
        console.url + "/console/login", data={"token": ADMIN_TOKEN, "next": "https://evil.test/"}
    )
    assert offsite.headers["location"] == "/console"
    assert ADMIN_TOKEN not in caplog.text


def test_a_forged_expired_or_ended_session_is_sent_to_the_login_page(console, client):
    assert client.get("/console").status_code == 200
    value = client.cookies["leadhook_console"]
    payload, signature = value.split(".")
    forged = httpx.get(
        console.url + "/console",
        cookies={"leadhook_console": payload + "." + signature[::-1]},
    )
    assert forged.status_code == 303
    htmx = httpx.get(
        console.url + "/console/overview/panel",
        cookies={"leadhook_console": "garbage"},
        headers={"HX-Request": "true"},
    )
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"].startswith("/console/login")
    csrf = csrf_of(client)
    assert client.post("/console/logout", data={"_csrf": csrf}).status_code == 303
    # The old cookie value is refused even if a copy of it is replayed.
    replay = httpx.get(console.url + "/console", cookies={"leadhook_console": value})
    assert replay.status_code == 303


def test_actions_need_the_csrf_token_and_the_console_s_own_origin(console, client, store, database):
    seeded = seed(store)
    job = seeded.failed_sms[0]
    csrf = csrf_of(client)
    status = lambda: database.execute(  # noqa: E731
        "SELECT status FROM background_jobs WHERE id = ?", (job,)
    ).fetchone()[0]
    assert client.post(f"/console/jobs/{job}/retry").status_code == 403
    assert client.post(f"/console/jobs/{job}/retry", data={"_csrf": "0" * 64}).status_code == 403
    other_origin = client.post(
        f"/console/jobs/{job}/retry", data={"_csrf": csrf}, headers={"Origin": "http://evil.test"}
    )
    assert other_origin.status_code == 403
    cross_site = client.post(
        f"/console/jobs/{job}/retry", data={"_csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross_site.status_code == 403
    assert status() == "FAILED"
    done = client.post(
        f"/console/jobs/{job}/retry",
        data={"_csrf": csrf},
        headers={"Origin": console.url, "Sec-Fetch-Site": "same-origin"},
    )
    assert done.status_code == 303 and status() == "PENDING"
    by_header = client.post(f"/console/drafts/{seeded.draft_id}/approve",
                            headers={"X-CSRF-Token": csrf, "HX-Request": "true"})  # fmt: skip
    assert by_header.status_code == 200 and "approved" in by_header.text


@pytest.mark.parametrize("seeded", [True, False], ids=["seeded", "empty"])
def test_every_page_answers_with_the_headers_that_keep_it_on_this_host(
    console, client, store, seeded
):
    if seeded:
        seed(store)
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert response.headers["cache-control"] == "no-store"
        assert "http://" not in response.text.replace(console.url, "")
        assert "https://" not in response.text
    if not seeded:
        assert 'leadhook clients add --name "Acme"' in client.get("/console").text
    assert client.get("/console/jobs/999999").status_code == 404
    assert client.get("/console/jobs?status=DONE").status_code == 400
    assert client.get("/console/ai?window=forever").status_code == 400
    assert client.get("/console/deliveries/999999").status_code == 404
    assert client.get("/console/deliveries?outcome=lost").status_code == 400
    assert client.get("/console/deliveries?route=/x").status_code == 400
    assert client.get("/console/deliveries?since=yesterday").status_code == 400


def test_the_ai_csv_has_the_figures_of_the_page(client, store, database):
    seed(store)
    response = client.get("/console/ai.csv?window=7d&by=feature")
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(response.text)))
    total = table[-1]
    assert total["feature"] == "total"
    calls, cost, unpriced = database.execute(
        "SELECT COUNT(*), SUM(cost_usd), SUM(cost_usd IS NULL) FROM ai_interactions"
    ).fetchone()
    assert int(total["calls"]) == calls
    assert float(total["cost_usd"]) == pytest.approx(cost)
    assert int(total["unpriced_calls"]) == unpriced
    series = list(
        csv.DictReader(io.StringIO(client.get("/console/ai.csv?window=7d&kind=series").text))
    )
    assert sum(int(r["calls"]) for r in series) == calls
    assert client.get("/console/ai.csv?kind=pie").status_code == 400
