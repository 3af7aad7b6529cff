"""An opt-out is final (issue #9, items 1–3): over real HTTP, jobs run by the in-process
runner and by the cron route, the real ``openai`` client against the fake server.

Whatever the order in which messages arrive or jobs finish, an unsubscribe event, an SMS
carrier keyword or a Blacklist reply leaves the lead ``blacklisted`` / ``Blacklist`` with
``opted_out_at``, no ``pending`` draft, and the disqualified score; only ``leadhook leads
opt-in`` lifts it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

import cli
import db
from tests.conftest import rows
from tests.job_helpers import FakeClock
from tests.lead_helpers import (
    EMAIL,
    GHL,
    MODES,
    cron_pass,
    drafts,
    email_reply,
    email_unsubscribe,
    ghl_sms,
    in_background,
    join_clean,
    lead,
    post,
    settle,
    start,
    wait_until,
)

T = datetime(2026, 1, 18, 10, 10, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
OPT_OUTS = ("sms_stop", "email_reply", "unsubscribe_event")


def reply_and_opt_out(kind: str, w) -> tuple[tuple, tuple, tuple]:
    """(the newer positive reply, the opt-out, a later positive reply) as (path, request)."""
    if kind == "sms_stop":
        return (
            (GHL, ghl_sms(w, "Yes, I'm interested. Can we talk?", T - 5 * MINUTE)),
            (GHL, ghl_sms(w, " Stop. ", T - 10 * MINUTE)),  # older than the reply
            (GHL, ghl_sms(w, "Actually yes, call me tomorrow", T)),
        )
    reply = (EMAIL, email_reply(w, "Sounds good, tell me more", 1, T - 5 * MINUTE))
    later = (EMAIL, email_reply(w, "Great, let's set up a meeting", 3, T))
    if kind == "email_reply":
        opt_out = (EMAIL, email_reply(w, "Please unsubscribe me", 2, T - 10 * MINUTE))
    else:
        opt_out = (EMAIL, email_unsubscribe(w))
    return reply, opt_out, later


def assert_opted_out(database, lead_id: int) -> None:
    found = lead(database, lead_id)
    assert (found["status"], found["sentiment_tag"]) == ("blacklisted", "Blacklist")
    assert found["opted_out_at"] == db.iso(T)
    assert [d["status"] for d in drafts(database) if d["status"] == "pending"] == []


@pytest.mark.parametrize("kind", OPT_OUTS)
@pytest.mark.parametrize("mode", MODES)
def test_an_opt_out_older_than_the_newest_message_still_wins(
    serve, workspace, database, fake_openai, mode, kind
):
    live = start(serve, mode, fake_openai, clock=FakeClock(T))
    reply, opt_out, later = reply_and_opt_out(kind, workspace)

    first = post(live, *reply)
    settle(live, database, mode)
    assert lead(database, first["leadId"])["status"] == "qualified"
    assert [d["status"] for d in drafts(database)] == ["pending"]

    answer = post(live, *opt_out)
    settle(live, database, mode)
    assert answer["leadId"] == first["leadId"]
    assert_opted_out(database, first["leadId"])
    assert [d["status"] for d in drafts(database)] == ["rejected"]
    if "messageId" in answer:  # a keyword or a fast-path reply: decided without the model
        spent = "SELECT COUNT(*) FROM ai_interactions WHERE message_id = ?"
        assert database.execute(spent, (answer["messageId"],)).fetchone()[0] == 0

    # Nothing afterwards changes it: a later, newer positive reply neither.
    calls = len(fake_openai.requests)
    post(live, *later)
    settle(live, database, mode)
    assert_opted_out(database, first["leadId"])
    assert len(fake_openai.requests) == calls  # no sentiment, draft or scoring call
    scored = lead(database, first["leadId"])
    assert (scored["overall_score"], scored["score_reasoning"]) == (1, "Disqualified: Blacklist")


def in_flight(live, mode: str, fake_openai, calls: int):
    """Start the jobs (a cron pass in a thread, or the runner already has them) and return
    once the fake server has received ``calls`` requests: the last one is in flight."""
    thread = in_background(cron_pass, live) if mode == "cron" else None
    wait_until(lambda: len(fake_openai.requests) >= calls, what=f"AI call {calls}")
    return thread


@pytest.mark.parametrize("kind", ["unsubscribe_event", "sms_stop"])
@pytest.mark.parametrize("mode", MODES)
def test_a_draft_written_while_the_lead_opted_out_is_stored_rejected(
    serve, workspace, database, fake_openai, mode, kind
):
    live = start(serve, mode, fake_openai, clock=FakeClock(T))
    if kind == "sms_stop":
        reply = (GHL, ghl_sms(workspace, "Yes, I'm interested. Can we talk?"))
        opt_out = (GHL, ghl_sms(workspace, "STOP"))
    else:
        reply = (EMAIL, email_reply(workspace, "Sounds good, tell me more", 1))
        opt_out = (EMAIL, email_unsubscribe(workspace))
    fake_openai.push_json({"tag": "Interested", "reason": "scripted"})
    fake_openai.push_json({"body": "Hi, glad to hear it! Does Thursday work?"}, delay=1.5)

    delivered = post(live, *reply)
    thread = in_flight(live, mode, fake_openai, calls=2)  # the draft call is under way
    post(live, *opt_out)
    join_clean(thread)
    settle(live, database, mode)

    [draft] = drafts(database)
    assert (draft["trigger_message_id"], draft["status"]) == (delivered["messageId"], "rejected")
    assert_opted_out(database, delivered["leadId"])


@pytest.mark.parametrize("mode", MODES)
def test_a_score_computed_while_the_lead_opted_out_is_stored_disqualified(
    serve, workspace, database, fake_openai, mode
):
    live = start(serve, mode, fake_openai, clock=FakeClock(T))
    # A refusal is tagged without the model and gets no draft: the scoring call is the first.
    fake_openai.push_json({"fit": 4, "intent": 4, "overall": 4, "reasoning": "keen"}, delay=1.5)

    delivered = post(live, EMAIL, email_reply(workspace, "No thanks, not interested", 1))
    thread = in_flight(live, mode, fake_openai, calls=1)
    post(live, EMAIL, email_unsubscribe(workspace))
    join_clean(thread)
    settle(live, database, mode)

    found = lead(database, delivered["leadId"])
    assert (found["fit_score"], found["intent_score"], found["overall_score"]) == (1, 1, 1)
    assert found["score_reasoning"] == "Disqualified: Blacklist"
    assert_opted_out(database, delivered["leadId"])
    [call] = rows(database, "SELECT * FROM ai_interactions WHERE feature_id = 'lead_scoring.score'")
    assert call["status"] == "success"  # the call was made and paid for; its answer not kept


# -- the way back: leadhook leads opt-in -------------------------------------------------------


def opt_in(db_path, monkeypatch, *args: str):
    monkeypatch.setenv("LEADHOOK_DB", str(db_path))
    return CliRunner().invoke(cli.cli, ["leads", "opt-in", *args], catch_exceptions=False)


def test_leads_opt_in_lifts_an_opt_out_and_says_what_it_lifted(
    serve, workspace, database, db_path, monkeypatch
):
    live = start(serve, "runner", clock=FakeClock(T))
    stopped = post(live, GHL, ghl_sms(workspace, "STOP"))
    settle(live, database, "runner")
    lead_id = stopped["leadId"]

    result = opt_in(db_path, monkeypatch, str(lead_id))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"lead {lead_id}: opt-out lifted",
        "  status: blacklisted → new",
        "  sentiment_tag: Blacklist → -",
        f"  opted_out_at: {db.iso(T)} → -",
    ]
    found = lead(database, lead_id)
    assert (found["status"], found["sentiment_tag"], found["opted_out_at"]) == ("new", None, None)

    again = opt_in(db_path, monkeypatch, str(lead_id), "--json")
    assert again.exit_code == 1
    assert f"lead {lead_id} has not opted out (status new, tag -): nothing to lift" in again.output
    missing = opt_in(db_path, monkeypatch, "9999")
    assert (missing.exit_code, "no lead 9999" in missing.output) == (1, True)

    # The lead's replies count again.
    post(live, GHL, ghl_sms(workspace, "Yes, I'm interested. Can we talk?"))
    settle(live, database, "runner")
    assert lead(database, lead_id)["status"] == "qualified"

    post(live, GHL, ghl_sms(workspace, "quit!"))
    result = opt_in(db_path, monkeypatch, str(lead_id), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "id": lead_id,
        "before": {
            "status": "blacklisted",
            "sentiment_tag": "Blacklist",
            "opted_out_at": db.iso(T),
        },
        "after": {"status": "new", "sentiment_tag": None, "opted_out_at": None},
    }


def test_leads_opt_in_never_creates_a_database(tmp_path, monkeypatch):
    path = tmp_path / "absent.db"
    result = opt_in(path, monkeypatch, "1")
    assert result.exit_code == 1
    assert f"no database at {path}" in result.output
    assert not path.exists()


def test_the_storage_rules_agree_with_post_processing():
    """``db.vocab`` holds what the storage applies by itself (a provider's hint, a score
    written for an opted-out lead); post-processing must mean the same."""
    from postprocess import scoring, sentiment

    assert db.vocab.STATUS_BY_TAG == sentiment.STATUS_BY_TAG
    assert db.vocab.DEFAULT_LEAD_STATUS == sentiment.DEFAULT_STATUS
    disqualified = scoring.disqualified_scores(db.vocab.BLACKLIST_TAG)
    assert tuple(disqualified.values()) == db.vocab.OPTED_OUT_SCORES
    assert db.vocab.SMS_OPT_OUT_KEYWORDS == (
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
    )
