"""The console's deliveries views in a real browser (as tests/test_console_browser.py: Debian's
Chromium through playwright): the overview's deliveries chart drawn, the list filtered from
its form with the figures of the database, one delivery's page, and replay by its button
after a mapping fix. The screenshot of docs/deliveries.md is made here."""

from __future__ import annotations

import httpx
import pytest

import handlers.email
from tests import test_console_browser as console_browser
from tests.conftest import load_payload
from tests.test_console_browser import IMAGES, login, one

pytestmark = pytest.mark.browser
# The fixtures of the console's browser tests: Chromium, and a seeded console with a page.
_chromium_installed = console_browser._chromium_installed
browser = console_browser.browser
site = console_browser.site
EMAIL = "/api/webhooks/email"


def test_the_overview_draws_the_deliveries_of_the_last_24_hours(site, database):
    watched, _, _ = site
    login(watched)
    page = watched.page
    chart = page.locator("[data-testid=deliveries-chart]")
    chart.locator("canvas").first.wait_for()  # uPlot drew it
    assert chart.locator(".u-legend").count() == 1
    rejected = one(
        database,
        "SELECT COUNT(*) FROM deliveries WHERE route = '/api/webhooks/email'"
        " AND outcome = 'rejected' AND received_at >= strftime('%Y-%m-%dT%H:00:00.000Z',"
        " 'now', '-23 hours')",
    )
    assert page.inner_text("[data-testid=deliveries-email-rejected]") == str(rejected)
    page.click("[data-testid=deliveries-email-rejected]")
    page.wait_for_load_state("networkidle")
    assert "outcome=rejected" in page.url and "window=24h" in page.url
    assert page.locator("[data-testid=deliveries-table] tbody tr").count() == rejected


def test_the_list_filters_from_its_form_and_opens_a_delivery(site, database):
    watched, _, _ = site
    login(watched)
    page = watched.page
    watched.go("/console/deliveries")
    total = one(database, "SELECT COUNT(*) FROM deliveries")
    assert page.locator("[data-testid=deliveries-table] tbody tr").count() == min(total, 50)
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 700})
    page.screenshot(path=str(IMAGES / "console-deliveries.png"))
    form = page.locator("[data-testid=delivery-filters]")
    form.locator("select[name=outcome]").select_option("ignored")
    form.locator("select[name=route]").select_option("/api/webhooks/smartlead")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    ignored = one(
        database,
        "SELECT COUNT(*) FROM deliveries WHERE outcome = 'ignored'"
        " AND route = '/api/webhooks/smartlead'",
    )
    rows = page.locator("[data-testid=deliveries-table] tbody tr")
    assert rows.count() == ignored > 0
    rows.first.locator("a").first.click()
    page.wait_for_load_state("networkidle")
    assert page.inner_text("[data-testid=delivery-outcome]") == "ignored"
    assert "OPENED" in page.inner_text("[data-testid=delivery-body]")


def test_replay_by_its_button_stores_what_was_ignored(site, database, store, monkeypatch):
    watched, _, live = site
    client, token = store.sync.create_client(name="Gamma", now="2026-01-18T10:00:00.000Z",
                                             email_workspace_id="12345")  # fmt: skip
    payload = load_payload("email_lead_replied.json")
    payload["event"]["type"] = "LEAD_REPLIED_V2"
    answer = httpx.post(
        live.url + EMAIL, json=payload, headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert answer["ignored"] is True
    delivery_id = one(database, "SELECT MAX(id) FROM deliveries WHERE client_id = ?", (client.id,))
    monkeypatch.setattr(
        handlers.email, "REPLY_EVENTS", handlers.email.REPLY_EVENTS | {"LEAD_REPLIED_V2"}
    )
    login(watched)
    page = watched.page
    watched.go(f"/console/deliveries/{delivery_id}")
    page.click("[data-testid=delivery-replay]")
    page.wait_for_load_state("networkidle")
    assert f"Delivery {delivery_id} was replayed" in page.inner_text("[data-testid=notice]")
    assert page.inner_text("[data-testid=delivery-outcome]") == "stored"
    assert "Sounds good" in page.inner_text("[data-testid=delivery-message]")
    replay = one(database, "SELECT MAX(id) FROM deliveries WHERE replay_of = ?", (delivery_id,))
    assert page.url.startswith(f"{live.url}/console/deliveries/{replay}?")
