"""The day-two commands: clients update|disable|enable (a disabled client's webhooks get 401),
jobs discard, leads list|show, drafts list|approve|reject, each with --json."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import cli
import db
from db.vocab import DISCARDED
from tests.conftest import load_payload

ROUTE = "/api/webhooks/ghl/sms"


@pytest.fixture
def run(db_path, monkeypatch, store):
    monkeypatch.setenv("LEADHOOK_DB", str(db_path))

    def invoke(*args: str, ok: bool = True):
        result = CliRunner().invoke(cli.cli, list(args), catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code == 1, result.output
        return result

    return invoke


def sms(n: int) -> dict:
    data = load_payload("ghl_sms_workflow.json")
    data["message"] = {"type": 2, "body": f"Reply number {n}"}
    return data


def test_a_disabled_client_gets_401_at_once_and_enable_lets_it_in_again(
    run, serve, workspace, database
):
    import httpx

    live = serve()
    with httpx.Client(base_url=live.url, timeout=30) as http:
        assert http.post(ROUTE, json=sms(1), headers=workspace.auth).status_code == 200
        out = json.loads(run("clients", "disable", str(workspace.id), "--json").output)
        assert out["disabled_at"] and out["changed"] is True
        # The token was resolved a moment ago: the write's own re-check refuses it.
        response = http.post(ROUTE, json=sms(2), headers=workspace.auth)
        assert response.status_code == 401 and response.json()["success"] is False
    assert database.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 1
    listing = run("clients", "list").output
    assert "DISABLED since" in listing
    assert "already" in run("clients", "disable", str(workspace.id)).output

    fresh = serve()  # no token cached: the lookup itself refuses it
    with httpx.Client(base_url=fresh.url, timeout=30) as http:
        assert http.post(ROUTE, json=sms(3), headers=workspace.auth).status_code == 401
        assert "is enabled" in run("clients", "enable", str(workspace.id)).output
        assert http.post(ROUTE, json=sms(4), headers=workspace.auth).status_code == 200
    assert "no client 999" in run("clients", "disable", "999", ok=False).output


def test_clients_update_changes_only_what_is_given(run, make_workspace):
    first, second = make_workspace(), make_workspace()
    out = json.loads(run("clients", "update", str(first.id), "--name", "Acme EU", "--json").output)
    assert (out["name"], out["ghl_location_id"]) == ("Acme EU", first.ghl_location_id)
    out = json.loads(
        run("clients", "update", str(first.id), "--unipile-account-id", "", "--json").output
    )
    assert out["unipile_account_id"] is None
    taken = run(
        "clients", "update", str(first.id), "--ghl-location-id", second.ghl_location_id, ok=False
    )
    assert "already uses" in taken.output
    assert CliRunner().invoke(cli.cli, ["clients", "update", str(first.id)]).exit_code == 2
    assert "no client 999" in run("clients", "update", "999", "--name", "x", ok=False).output


def test_jobs_discard_sets_a_job_aside_and_says_why_it_refuses(run, seed_inbound, store):
    seed_inbound("Interested!")
    [job] = store.sync.find_jobs({})
    out = json.loads(run("jobs", "discard", str(job["id"]), "--json").output)
    assert (out["status"], out["last_error"]) == ("FAILED", DISCARDED)
    again = run("jobs", "discard", str(job["id"]), ok=False)
    assert "already discarded" in again.output
    assert "no job 999" in run("jobs", "discard", "999", ok=False).output
    assert "is PENDING again" in run("jobs", "retry", str(job["id"])).output


def test_leads_list_and_show(run, seed_inbound, store, workspace):
    message, lead = seed_inbound("Can we talk tomorrow?", first_name="Dana")
    seed_inbound("Other person", contact="contact-2", first_name="Eli")
    now = db.iso(db.utcnow())
    store.sync.set_lead_sentiment(lead["id"], "Meeting Requested", "meeting-requested", now=now)
    store.sync.insert_draft(workspace.id, lead["id"], message["id"], "sms", "Sure, 10am?", now=now)
    listing = run("leads", "list").output
    assert listing.index("Eli") < listing.index("Dana")  # newest first
    only = json.loads(run("leads", "list", "--status", "meeting-requested", "--json").output)
    assert [row["id"] for row in only] == [lead["id"]]
    page = json.loads(run("leads", "list", "--limit", "1", "--json").output)
    rest = json.loads(run("leads", "list", "--before", str(page[0]["id"]), "--json").output)
    assert [r["id"] for r in page + rest] == [lead["id"] + 1, lead["id"]]
    shown = run("leads", "show", str(lead["id"])).output
    assert "Can we talk tomorrow?" in shown
    assert "sentiment_tag: - -> Meeting Requested" in shown
    assert "Sure, 10am?" in shown
    timeline = json.loads(run("leads", "show", str(lead["id"]), "--json").output)
    assert timeline["lead"]["status"] == "meeting-requested"
    assert "no lead 999" in run("leads", "show", "999", ok=False).output


def test_drafts_list_approve_reject(run, seed_inbound, store, workspace):
    now = db.iso(db.utcnow())
    ids = []
    for n, contact in enumerate(("c1", "c2", "c3")):
        message, lead = seed_inbound(f"reply {n}", contact=contact)
        ids.append(
            store.sync.insert_draft(workspace.id, lead["id"], message["id"], "sms", "Hi", now=now)[
                0
            ]
        )
    pending = json.loads(run("drafts", "list", "--json").output)
    assert [d["id"] for d in pending] == ids[::-1]
    assert "is approved" in run("drafts", "approve", str(ids[0])).output
    out = json.loads(run("drafts", "reject", str(ids[1]), "--json").output)
    assert out["status"] == "rejected"
    assert "already approved" in run("drafts", "reject", str(ids[0]), ok=False).output
    store.sync.unsubscribe(
        workspace.id, db.hash_token(workspace.token), db.LeadFields(ghl_contact_id="c3"), now
    )
    assert "already rejected" in run("drafts", "approve", str(ids[2]), ok=False).output
    approved = json.loads(run("drafts", "list", "--status", "approved", "--json").output)
    assert [d["id"] for d in approved] == [ids[0]]
    assert "no draft 999" in run("drafts", "approve", "999", ok=False).output
