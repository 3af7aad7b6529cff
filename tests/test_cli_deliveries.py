"""``leadhook deliveries list|show|replay``: the ledger from the command line."""

from __future__ import annotations

import json

import httpx
import pytest
from click.testing import CliRunner

import cli
import handlers.email
from tests.conftest import load_payload
from tests.ledger_helpers import ledger_rows

EMAIL = "/api/webhooks/email"
GHL = "/api/webhooks/ghl/sms"


@pytest.fixture
def run(db_path, monkeypatch, store):
    monkeypatch.setenv("LEADHOOK_DB", str(db_path))

    def invoke(*args: str, code: int = 0):
        result = CliRunner().invoke(cli.cli, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    return invoke


@pytest.fixture
def delivered(serve, workspace, database):
    """A stored SMS, an ignored email event, a 400 and a 401, in that order."""
    live = serve(scheduler_enabled=False)
    unknown = load_payload("email_lead_replied.json")
    unknown["event"]["type"] = "LEAD_REPLIED_V2"
    with httpx.Client(base_url=live.url, timeout=30) as http:
        sms = http.post(GHL, json=load_payload("ghl_sms_workflow.json"), headers=workspace.auth)
        assert sms.status_code == 200
        assert http.post(EMAIL, json=unknown, headers=workspace.auth).json()["ignored"]
        assert (
            http.post(GHL, content=b'{"contact_id": 1', headers=workspace.auth).status_code == 400
        )
        assert http.post(EMAIL + "?token=lh_wrong_token_x", json=unknown).status_code == 401
    return ledger_rows(database, 4)


def test_list_filters_and_pages(run, delivered, workspace):
    listed = json.loads(run("deliveries", "list", "--json").output)
    assert [r["id"] for r in listed] == [r["id"] for r in reversed(delivered)]
    assert "body" not in listed[0]

    def ids(*args: str) -> list[int]:
        return [r["id"] for r in json.loads(run("deliveries", "list", *args, "--json").output)]

    stored, ignored, bad, tokenless = (r["id"] for r in delivered)
    assert ids("--outcome", "rejected") == [tokenless, bad]
    assert ids("--route", "email") == ids("--route", EMAIL) == [tokenless, ignored]
    assert ids("--client", str(workspace.id)) == [bad, ignored, stored]
    assert ids("--key", delivered[0]["dedupe_key"]) == [stored]
    assert ids("--limit", "2") == [tokenless, bad]
    assert ids("--before", str(bad)) == [ignored, stored]
    assert ids("--since", "2999-01-01") == []
    text = run("deliveries", "list", "--limit", "2").output
    assert "rejected" in text and f"--before {bad}" in text
    assert "not a webhook route" in run("deliveries", "list", "--route", "fax", code=2).output
    assert "ISO-8601" in run("deliveries", "list", "--since", "yesterday", code=2).output


def test_show_prints_the_body_the_answer_and_the_message(run, delivered, workspace):
    stored = delivered[0]
    text = run("deliveries", "show", str(stored["id"])).output
    assert f"delivery {stored['id']}: stored 200" in text
    assert '"messageId"' in text and '"contact_id": "cnt_8f2K1aXyZ"' in text
    assert f"message {stored['message_id']}: sms inbound" in text
    assert workspace.token not in text
    shown = json.loads(run("deliveries", "show", str(delivered[3]["id"]), "--json").output)
    assert shown["delivery"]["client_id"] is None and shown["message"] is None
    assert "body not kept" in run("deliveries", "show", str(delivered[3]["id"])).output
    assert "no delivery 999" in run("deliveries", "show", "999", code=1).output


def test_replay_applies_a_mapping_fix_and_says_how_it_went(run, delivered, monkeypatch):
    ignored, bad = delivered[1], delivered[2]
    same = json.loads(run("deliveries", "replay", str(ignored["id"]), "--json").output)
    assert (same["outcome"], same["status_code"], same["replay_of"]) == (
        "ignored",
        200,
        ignored["id"],
    )
    monkeypatch.setattr(
        handlers.email, "REPLY_EVENTS", handlers.email.REPLY_EVENTS | {"LEAD_REPLIED_V2"}
    )
    fixed = run("deliveries", "replay", str(ignored["id"])).output
    assert f"delivery {ignored['id']} replayed as delivery" in fixed and ": stored 200" in fixed
    again = run("deliveries", "replay", str(bad["id"]), code=1).output
    assert ": rejected 400" in again and "Body is not valid JSON" in again
    refused = run("deliveries", "replay", str(delivered[3]["id"]), code=1).output
    assert "not replayed: it had no valid client token" in refused
