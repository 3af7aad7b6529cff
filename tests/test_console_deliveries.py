"""The console's deliveries views over HTTP: the list by filter and by provider id with keyset
pages, one delivery with its redacted body, answer and message, replay from the page (CSRF
and origin checked), and the overview's deliveries of the last 24 hours."""

from __future__ import annotations

import json
import re

import httpx
import pytest

import handlers.email
from tests.conftest import load_payload
from tests.console_helpers import ADMIN_TOKEN
from tests.ledger_helpers import ledger_rows
from tests.test_console_http import csrf_of

GHL = "/api/webhooks/ghl/sms"
EMAIL = "/api/webhooks/email"


@pytest.fixture
def console(serve):
    return serve(admin_token=ADMIN_TOKEN, scheduler_enabled=False)


@pytest.fixture
def client(console):
    with httpx.Client(base_url=console.url, timeout=30) as client:
        assert client.post("/console/login", data={"token": ADMIN_TOKEN}).status_code == 303
        yield client


@pytest.fixture
def delivered(console, workspace, database):
    """A stored SMS, its duplicate, an ignored email event, a 400, and a 401."""
    unknown = load_payload("email_lead_replied.json")
    unknown["event"]["type"] = "LEAD_REPLIED_V2"
    sms = load_payload("ghl_sms_workflow.json")
    with httpx.Client(base_url=console.url, timeout=30) as http:
        for _ in range(2):
            assert http.post(GHL, json=sms, headers=workspace.auth).status_code == 200
        assert http.post(EMAIL, json=unknown, headers=workspace.auth).json()["ignored"]
        assert http.post(GHL, content=b'{"contact_id": ', headers=workspace.auth).status_code == 400
        assert (
            http.post(GHL, json=sms, headers={"X-Leadhook-Token": "lh_nope_nope"}).status_code
            == 401
        )
    return ledger_rows(database, 5)


def listed(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-testid="delivery-(\d+)"', page)]


def test_the_list_filters_by_route_outcome_client_time_and_provider_id(
    client, delivered, workspace
):
    stored, deduped, ignored, bad, tokenless = (r["id"] for r in delivered)
    assert listed(client.get("/console/deliveries").text) == [
        tokenless, bad, ignored, deduped, stored
    ]  # fmt: skip
    assert listed(client.get("/console/deliveries?outcome=rejected").text) == [tokenless, bad]
    assert listed(client.get(f"/console/deliveries?route={EMAIL}").text) == [ignored]
    assert tokenless not in listed(client.get(f"/console/deliveries?client={workspace.id}").text)
    assert listed(client.get("/console/deliveries?window=1h&outcome=deduped").text) == [deduped]
    assert listed(client.get("/console/deliveries?until=2000-01-01").text) == []
    key = delivered[0]["dedupe_key"]
    assert listed(client.get(f"/console/deliveries?key={key}").text) == [deduped, stored]
    assert listed(client.get("/console/deliveries?key=999").text) == []  # ids are per dedupe key
    page = client.get("/console/deliveries?outcome=rejected").text
    assert "no valid token" in page and "Body is not valid JSON" in page


def test_older_pages_follow_the_keyset(console, client, workspace, database):
    sms = load_payload("ghl_sms_workflow.json")
    with httpx.Client(base_url=console.url, timeout=30) as http:
        for n in range(55):
            sms["contact_id"] = f"c-{n}"
            assert http.post(GHL, json=sms, headers=workspace.auth).status_code == 200
    first = client.get("/console/deliveries").text
    assert len(listed(first)) == 50
    older = re.search(r'href="(/console/deliveries\?before=\d+)" data-testid="older"', first)
    rest = listed(client.get(older.group(1).replace("&amp;", "&")).text)
    assert len(rest) == 5 and set(rest).isdisjoint(listed(first))


def test_a_delivery_shows_its_redacted_body_its_answer_and_its_message(
    client, delivered, workspace
):
    stored = delivered[0]
    page = client.get(f"/console/deliveries/{stored['id']}").text
    assert "cnt_8f2K1aXyZ" in page and workspace.token not in page
    answer = json.loads(stored["answer"])
    assert f"&#34;messageId&#34;: {answer['messageId']}" in page
    assert f'href="/console/leads/{answer["leadId"]}"' in page
    assert 'data-testid="delivery-replay"' in page
    tokenless = client.get(f"/console/deliveries/{delivered[4]['id']}").text
    assert 'data-testid="delivery-no-body"' in tokenless
    assert "no client to replay it for" in tokenless and "delivery-replay" not in tokenless


def test_replay_from_the_page_needs_csrf_and_stores_after_a_mapping_fix(
    console, client, delivered, database, monkeypatch
):
    ignored = delivered[2]
    path = f"/console/deliveries/{ignored['id']}/replay"
    csrf = csrf_of(client)
    assert client.post(path).status_code == 403
    assert (
        client.post(path, data={"_csrf": csrf}, headers={"Origin": "http://evil.test"}).status_code
        == 403
    )
    assert len(ledger_rows(database)) == 5  # nothing replayed

    monkeypatch.setattr(
        handlers.email, "REPLY_EVENTS", handlers.email.REPLY_EVENTS | {"LEAD_REPLIED_V2"}
    )
    done = client.post(path, data={"_csrf": csrf})
    assert done.status_code == 303
    new_id = int(re.match(r"/console/deliveries/(\d+)\?", done.headers["location"]).group(1))
    page = client.get(done.headers["location"]).text
    assert f"Delivery {ignored['id']} was replayed" in page
    assert 'data-testid="delivery-outcome">stored<' in page and "delivery-message" in page
    replay = ledger_rows(database, 6)[-1]
    assert (replay["id"], replay["replay_of"], replay["outcome"]) == (
        new_id,
        ignored["id"],
        "stored",
    )
    original = client.get(f"/console/deliveries/{ignored['id']}").text
    assert 'data-testid="delivery-replays"' in original and f">{new_id}</a>" in original

    refused = client.post(f"/console/deliveries/{delivered[4]['id']}/replay", data={"_csrf": csrf})
    assert refused.status_code == 409 and "was not replayed" in refused.text
    assert client.post("/console/deliveries/99999/replay", data={"_csrf": csrf}).status_code == 404


def test_the_overview_counts_the_last_24_hours_by_route_and_outcome(client, delivered):
    panel = client.get("/console/overview/panel").text
    assert 'data-testid="deliveries-chart"' in panel
    counts = dict(re.findall(r'data-testid="deliveries-([a-z-]+)">(\d+)<', panel))
    assert counts == {
        "ghl-sms-stored": "1",
        "ghl-sms-deduped": "1",
        "ghl-sms-rejected": "2",
        "email-ignored": "1",
    }
    chart = json.loads(re.search(r'id="deliveries-chart-data">(.*?)</script>', panel).group(1))
    assert len(chart["x"]) == 24 and chart["x"] == sorted(chart["x"])
    assert sum(sum(column) for column in chart["count"]) == 5
    assert set(chart["names"]) == {
        "ghl/sms stored", "ghl/sms deduped", "ghl/sms rejected", "email ignored"
    }  # fmt: skip


def test_an_empty_ledger_says_where_deliveries_will_appear(client):
    assert 'data-testid="empty-deliveries"' in client.get("/console/deliveries").text
    assert 'data-testid="empty-deliveries-24h"' in client.get("/console").text
