"""What a delivery may change (issue #9, items 4, 5, 6, 10), over real HTTP.

- One timestamp rule for every channel: the provider's time only within 5 minutes ahead and
  30 days behind the receipt, the raw value kept in ``messages.provider_sent_at``.
- GoHighLevel repeat chains: the next suffix is the highest stored + 1; a duplicate changes
  no lead field.
- One job per message and type, ever: pruning finished jobs does not let a redelivery
  create the job (and pay for AI) again.
- SmartLead and Instantly: distinct replies are distinct messages whatever the payload
  lacks; EmailBison's LEAD_INTERESTED for a stored reply updates the lead.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

import db
from scheduler._maintenance import run_maintenance
from tests.conftest import count_rows, rows
from tests.job_helpers import FakeClock
from tests.lead_helpers import (
    EMAIL,
    GHL,
    INSTANTLY,
    LINKEDIN,
    MODES,
    SMARTLEAD,
    email_reply,
    email_unsubscribe,
    ghl_sms,
    instantly_reply,
    lead,
    linkedin_message,
    message,
    post,
    settle,
    smartlead_reply,
    start,
)

T = datetime(2026, 1, 18, 10, 10, tzinfo=UTC)
MINUTE = timedelta(minutes=1)

# channel → (path, request builder(workspace, body, n, at), how far ahead its stamp is)
CHANNELS = {
    "ghl": (GHL, lambda w, body, n, at: ghl_sms(w, body, at), timedelta(minutes=10)),
    "email": (EMAIL, email_reply, timedelta(hours=5)),
    "smartlead": (SMARTLEAD, smartlead_reply, timedelta(hours=5)),
    "instantly": (
        INSTANTLY,
        lambda w, body, n, at: instantly_reply(w, body, at, email_id=f"email-{n}"),
        timedelta(hours=5),
    ),
    "linkedin": (LINKEDIN, linkedin_message, timedelta(hours=5)),
}


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_future_provider_time_is_clamped_on_every_channel(serve, workspace, database, channel):
    path, build, ahead = CHANNELS[channel]
    clock = FakeClock(T)
    live = start(serve, "runner", clock=clock)

    future = post(live, path, build(workspace, "Sounds great, tell me more", 1, T + ahead))
    settle(live, database, "runner")
    stored = message(database, future["messageId"])
    assert stored["sent_at"] == stored["received_at"] == db.iso(T)
    assert stored["provider_sent_at"] is not None and stored["provider_sent_at"] != db.iso(T)
    assert lead(database, future["leadId"])["last_inbound_at"] == db.iso(T)  # not the future

    # A later reply is newer than the future-stamped one: it decides the lead's sentiment.
    clock.advance(60)
    later = post(live, path, build(workspace, "No thanks, not interested", 2, clock.now))
    settle(live, database, "runner")
    assert later["leadId"] == future["leadId"]
    assert message(database, later["messageId"])["provider_sent_at"] is None  # trusted as is
    found = lead(database, later["leadId"])
    assert (found["sentiment_tag"], found["status"]) == ("Not Interested", "not-interested")
    assert found["last_inbound_at"] == clock.iso()


def test_a_deleted_repeat_never_makes_a_later_repeat_collide(serve, workspace, database):
    clock = FakeClock(T)
    live = start(serve, "cron", clock=clock, ghl_dedupe_window_seconds=60)
    request = ghl_sms(workspace, "Yes please")
    answers = []
    for _ in range(3):  # key, key#2, key#3: each outside the window of the one before
        answers.append(post(live, GHL, request))
        clock.advance(120)
    keys = [message(database, a["messageId"])["webhook_dedupe_key"] for a in answers]
    assert keys[1:] == [f"{keys[0]}#2", f"{keys[0]}#3"]
    # An operator deletes the middle one in the sqlite3 shell (its job goes with it).
    database.execute("DELETE FROM messages WHERE webhook_dedupe_key = ?", (keys[1],))

    repeat = post(live, GHL, request)

    assert repeat["deduped"] is False
    assert message(database, repeat["messageId"])["webhook_dedupe_key"] == f"{keys[0]}#4"
    # A duplicate of it (within the window) changes no lead field, roll-ups included.
    before = lead(database, repeat["leadId"])
    clock.advance(30)
    duplicate = post(live, GHL, ghl_sms(workspace, "Yes please") | {"headers": workspace.auth})
    assert (duplicate["deduped"], duplicate["messageId"]) == (True, repeat["messageId"])
    assert lead(database, repeat["leadId"]) == before


@pytest.mark.parametrize("mode", MODES)
def test_a_redelivery_after_its_jobs_were_pruned_creates_no_job_and_pays_nothing(
    serve, workspace, database, fake_openai, mode
):
    live = start(serve, mode, fake_openai, clock=FakeClock(T))
    request = email_reply(workspace, "Sounds good, tell me more", 1)
    first = post(live, EMAIL, request)
    settle(live, database, mode)
    paid = count_rows(database, "ai_interactions")
    assert paid == 3 == len(fake_openai.requests)  # sentiment, draft, score
    store, settings = live.app.state.store, live.app.state.settings

    results = asyncio.run(run_maintenance(store, settings, now=T + timedelta(days=31)))

    assert results["prune_background_jobs"] == 2
    assert count_rows(database, "background_jobs") == 0
    calls = count_rows(database, "ai_interactions")  # pruned too, as old as the jobs
    again = post(live, EMAIL, request)
    settle(live, database, mode)
    assert (again["deduped"], again["jobEnqueued"], again["messageId"]) == (
        True,
        False,
        first["messageId"],
    )
    assert count_rows(database, "background_jobs") == 0
    assert len(fake_openai.requests) == paid  # no second sentiment, draft or score
    assert count_rows(database, "ai_interactions") == calls


def test_replies_to_one_sent_email_are_distinct_messages_whatever_the_payload_lacks(
    serve, workspace, database
):
    live = start(serve, "cron", clock=FakeClock(T))
    # SmartLead without a Message-ID: two replies to the same sent email (stats_id).
    no_id = [
        smartlead_reply(workspace, "Interested, call me", 1, T - MINUTE, message_id=False),
        smartlead_reply(workspace, "Actually, Tuesday is better", 2, T, message_id=False),
        smartlead_reply(workspace, "Thanks", 3, None, message_id=False),  # no time either
    ]
    # Instantly without a timestamp: two replies to the same sent email (email_id).
    no_time = [
        instantly_reply(workspace, "Sounds good"),
        instantly_reply(workspace, "And can you send pricing?"),
    ]
    deliveries = [(SMARTLEAD, r) for r in no_id] + [(INSTANTLY, r) for r in no_time]

    first = [post(live, path, request) for path, request in deliveries]
    retries = [post(live, path, request) for path, request in deliveries]

    assert [a["deduped"] for a in first] == [False] * 5
    assert len({a["messageId"] for a in first}) == 5
    assert [a["deduped"] for a in retries] == [True] * 5
    assert [a["messageId"] for a in retries] == [a["messageId"] for a in first]
    assert count_rows(database, "messages") == 5


def test_lead_interested_for_a_stored_reply_updates_the_lead(serve, workspace, database):
    live = start(serve, "cron", clock=FakeClock(T))  # no pass runs: only the webhook acts
    stored = post(live, EMAIL, email_reply(workspace, "Let me think about it", 1))
    assert lead(database, stored["leadId"])["sentiment_tag"] is None

    interested = post(
        live, EMAIL, email_reply(workspace, "Let me think about it", 1, type="LEAD_INTERESTED")
    )

    assert (interested["deduped"], interested["messageId"]) == (True, stored["messageId"])
    found = lead(database, stored["leadId"])
    assert (found["sentiment_tag"], found["status"]) == ("Interested", "qualified")
    # Subject to the opt-out rule: after an unsubscribe the hint changes nothing.
    post(live, EMAIL, email_unsubscribe(workspace))
    post(live, EMAIL, email_reply(workspace, "Let me think about it", 1, type="LEAD_INTERESTED"))
    found = lead(database, stored["leadId"])
    assert (found["status"], found["sentiment_tag"]) == ("blacklisted", "Blacklist")
    assert rows(database, "SELECT COUNT(*) AS n FROM messages")[0]["n"] == 1


def test_instantly_handle_without_timestamp_is_made_of_the_body(serve, workspace, database):
    live = start(serve, "cron", clock=FakeClock(T))
    answer = post(live, INSTANTLY, instantly_reply(workspace, "Sounds   good"))
    body_hash = hashlib.sha256(b"Sounds good").hexdigest()
    joined = f"email-1|sender@acme.example||{body_hash}".encode()
    expected = "instantly:" + hashlib.sha256(joined).hexdigest()[:32]
    assert message(database, answer["messageId"])["email_reply_id"] == expected
