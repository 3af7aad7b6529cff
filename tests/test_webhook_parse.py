"""Each provider's ``parse(payload, client, now, settings) -> Delivery``, without HTTP.

The mapping from a decoded payload to what is stored (or why nothing is), and the order of
the 400 and 403 checks. What the routes do with a delivery is tests/test_channels.py.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import msgspec
import pytest
from litestar.exceptions import ClientException, PermissionDeniedException

import db
from config import Settings
from db import LeadFields, NewMessage
from handlers import email, ghl, instantly, linkedin, smartlead
from handlers._payload import parse_when
from handlers._webhook import Ignore, StoreMessage, Unsubscribe, require
from tests.conftest import load_payload

NOW = datetime(2026, 1, 18, 10, 1, tzinfo=UTC)
NOW_ISO = "2026-01-18T10:01:00.000Z"
SETTINGS = Settings()
CLIENT = db.Client(
    id=7,
    name="Workspace 7",
    ghl_location_id="loc_AbC123",
    unipile_account_id="dfXlh46vQYCsMbVarumWlg",
    email_workspace_id="12345",
    token_prefix="lh_abcd",
    created_at="2026-01-01T00:00:00.000Z",
)
OTHER = db.Client(
    id=8,
    name="Workspace 8",
    ghl_location_id="loc_other",
    unipile_account_id="acc_other",
    email_workspace_id="999",
    token_prefix="lh_efgh",
    created_at="2026-01-01T00:00:00.000Z",
)


STRUCTS = {
    ghl: ghl.GhlSmsWebhook,
    email: email.EmailWebhook,
    linkedin: linkedin.UnipileWebhook,
    smartlead: smartlead.SmartLeadWebhook,
    instantly: instantly.InstantlyWebhook,
}


def parse(module, payload: dict | str, client=CLIENT, settings=SETTINGS):
    """``module.parse`` of ``payload`` (a dict, or the name of a sample in examples/),
    decoded as the route decodes it."""
    if isinstance(payload, str):
        payload = load_payload(payload)
    decoded = msgspec.json.decode(json.dumps(payload), type=STRUCTS[module], strict=False)
    return module.parse(decoded, client, NOW, settings)


def rejected(exc_type: type[Exception], module, payload, client=CLIENT) -> str:
    with pytest.raises(exc_type) as info:
        parse(module, payload, client)
    return info.value.detail


def test_require_is_the_400_with_todays_text():
    assert require("x", "location.id") == "x"
    with pytest.raises(ClientException) as info:
        require("", "location.id")
    assert (info.value.status_code, info.value.detail) == (400, "Missing location.id")


def test_ignore_answers():
    assert Ignore("EMAIL_OPENED").answer() == {
        "success": True,
        "ignored": True,
        "eventType": "EMAIL_OPENED",
    }
    assert Ignore(reason="empty_message").answer() == {
        "success": True,
        "ignored": True,
        "reason": "empty_message",
    }
    assert Ignore("message_received", "no_lead").answer() == {
        "success": True,
        "ignored": True,
        "eventType": "message_received",
        "reason": "no_lead",
    }


# -- GoHighLevel ---------------------------------------------------------------------------------


def test_ghl_workflow_is_an_inbound_sms_keyed_by_content():
    delivery = parse(ghl, "ghl_sms_workflow.json", settings=Settings(ghl_dedupe_window_seconds=60))

    body = "Yes, I'm interested. Can we talk Thursday?"
    joined = (
        f"7|cnt_8f2K1aXyZ|wf_0001|2026-01-18T10:00:00.000Z|1/18/2026|10:00:05 AM|{body.lower()}"
    )
    key = "ghl_sms:" + hashlib.sha256(joined.encode()).hexdigest()[:32]
    assert delivery == StoreMessage(
        "sms",
        NewMessage(
            client_id=7,
            channel="sms",
            direction="inbound",
            body=body,
            sent_at="2026-01-18T10:00:05.000Z",
            received_at=NOW_ISO,
            source="ghl",
            dedupe_column="webhook_dedupe_key",
            dedupe_value=key,
            job_type="SMS_INBOUND_POST_PROCESS",
            repeat_window_seconds=60,
        ),
        LeadFields(
            ghl_contact_id="cnt_8f2K1aXyZ",
            email="jane.doe@example.com",
            phone="+15555550123",
            first_name="Jane",
            last_name="Doe",
        ),
    )


def test_ghl_empty_message_is_ignored_after_the_workspace_check():
    payload = load_payload("ghl_sms_workflow.json") | {"message": {"body": "  "}}
    payload["customData"]["Message"] = ""
    assert parse(ghl, payload) == Ignore(reason="empty_message")
    assert "location.id" in rejected(PermissionDeniedException, ghl, payload, OTHER)


def test_ghl_order_of_checks():
    sample = load_payload("ghl_sms_workflow.json")
    no_contact = sample | {"contact_id": " "}
    no_location = sample | {"location": {"id": ""}}
    assert rejected(ClientException, ghl, no_location | {"contact_id": None}) == (
        "Missing location.id"
    )
    assert rejected(ClientException, ghl, no_contact, OTHER) == "Missing contact_id"
    assert rejected(PermissionDeniedException, ghl, sample, OTHER) == (
        "location.id 'loc_AbC123' does not belong to this client token: "
        "send this workspace's events with its own token"
    )


# -- email platform ------------------------------------------------------------------------------


def test_email_reply_is_inbound_keyed_by_reply_id():
    assert parse(email, "email_lead_replied.json") == StoreMessage(
        "LEAD_REPLIED",
        NewMessage(
            client_id=7,
            channel="email",
            direction="inbound",
            body="Sounds good, send me some times for Thursday",
            subject="Re: quick question",
            # 6 hours after the receipt: more than 5 minutes ahead, so not trusted.
            sent_at=NOW_ISO,
            received_at=NOW_ISO,
            source="emailbison",
            dedupe_column="email_reply_id",
            dedupe_value="999",
            job_type="EMAIL_INBOUND_POST_PROCESS",
            provider_sent_at="2026-01-18T16:13:10.000Z",
        ),
        LeadFields(email="lead@example.com", first_name="Alex", last_name="Lee"),
    )


def test_email_sent_is_outbound_without_a_job():
    delivery = parse(email, "email_email_sent.json")

    assert isinstance(delivery, StoreMessage)
    message = delivery.message
    assert (message.direction, message.dedupe_column, message.dedupe_value) == (
        "outbound",
        "scheduled_email_id",
        "5551",
    )
    assert (message.job_type, message.sent_at) == (None, "2026-01-18T09:00:00.000Z")
    assert message.body == "Hi Alex,\nQuick question about Q1 plans."


def test_email_unsubscribe_and_other_events():
    assert parse(email, "email_lead_unsubscribed.json") == Unsubscribe(
        "LEAD_UNSUBSCRIBED",
        LeadFields(email="Lead@Example.com", first_name="Alex", last_name="Lee"),
    )
    other = {"event": {"type": "EMAIL_OPENED", "workspace_id": 12345}}
    assert parse(email, other) == Ignore("EMAIL_OPENED")


def test_email_order_of_checks():
    reply_without_id = load_payload("email_lead_replied.json")
    del reply_without_id["data"]["reply"]["id"]
    assert rejected(ClientException, email, {"data": {}}, OTHER) == "Missing event.type"
    assert rejected(ClientException, email, reply_without_id, OTHER) == "Missing data.reply.id"
    no_email = {"event": {"type": "LEAD_UNSUBSCRIBED", "workspace_id": 1}, "data": {}}
    assert rejected(ClientException, email, no_email, OTHER) == (
        "Missing lead email (data.lead.email)"
    )
    other = {"event": {"type": "EMAIL_OPENED", "workspace_id": 12345}}
    assert rejected(PermissionDeniedException, email, other, OTHER) == (
        "event.workspace_id '12345' does not belong to this client token: "
        "send this workspace's events with its own token"
    )


# -- LinkedIn (Unipile) --------------------------------------------------------------------------


KIM = LeadFields(
    linkedin_id="ACoAAAcDMMQBODyLwZrRcgYhrkCafURGqva0U4E",
    linkedin_url="https://linkedin.com/in/kim-lead-42",
    first_name="Kim",
    last_name="Lead",
)


def test_linkedin_message_from_the_lead_is_inbound():
    assert parse(linkedin, "unipile_message_received.json") == StoreMessage(
        "message_received",
        NewMessage(
            client_id=7,
            channel="linkedin",
            direction="inbound",
            body="Thanks for reaching out, happy to chat next week.",
            sent_at=NOW_ISO,  # the sample's timestamp is hours after the receipt
            received_at=NOW_ISO,
            source="unipile",
            dedupe_column="unipile_message_id",
            dedupe_value="ykmhfXlRW0W_cqReJYrfBw",
            job_type="LINKEDIN_INBOUND_POST_PROCESS",
            provider_sent_at="2026-01-18T13:49:07.965Z",
        ),
        KIM,
    )


def test_linkedin_own_message_is_outbound_under_the_other_attendee():
    delivery = parse(linkedin, "unipile_own_message.json")

    assert isinstance(delivery, StoreMessage)
    assert (delivery.message.direction, delivery.message.job_type) == ("outbound", None)
    assert delivery.lead == KIM


def test_linkedin_ignored_events():
    alone = load_payload("unipile_own_message.json") | {"attendees": []}
    assert parse(linkedin, alone) == Ignore("message_received", "no_lead")
    assert parse(linkedin, "unipile_message_reaction.json") == Ignore(
        load_payload("unipile_message_reaction.json")["event"]
    )
    # Ignored or not, another account's event is refused.
    assert "account_id" in rejected(PermissionDeniedException, linkedin, alone, OTHER)


def test_linkedin_order_of_checks():
    sample = load_payload("unipile_message_received.json")
    assert rejected(ClientException, linkedin, sample | {"event": None}, OTHER) == "Missing event"
    no_sender = {k: v for k, v in sample.items() if k != "sender"}
    assert rejected(ClientException, linkedin, no_sender, OTHER) == (
        "Missing sender.attendee_provider_id"
    )


# -- SmartLead -----------------------------------------------------------------------------------


def test_smartlead_reply_is_keyed_by_its_message_id():
    assert parse(smartlead, "smartlead_email_reply.json") == StoreMessage(
        "EMAIL_REPLY",
        NewMessage(
            client_id=7,
            channel="email",
            direction="inbound",
            body="Interested, call me",
            subject="Re: Q1 outreach",
            sent_at="2026-01-18T05:24:30.000Z",
            received_at=NOW_ISO,
            source="smartlead",
            dedupe_column="email_reply_id",
            dedupe_value="smartlead:<CAJZreply1@mail.example.com>",
            job_type="SMARTLEAD_INBOUND_POST_PROCESS",
        ),
        LeadFields(email="lead@example.com", first_name="Alex", last_name="Lee"),
    )


def test_smartlead_sent_unsubscribe_and_other_events():
    sent = parse(smartlead, "smartlead_email_sent.json")
    assert isinstance(sent, StoreMessage)
    assert (sent.message.dedupe_value, sent.message.job_type) == ("smartlead:abc-stats", None)
    assert parse(smartlead, "smartlead_lead_unsubscribed.json") == Unsubscribe(
        "LEAD_UNSUBSCRIBED",
        LeadFields(email="lead@example.com", first_name="Alex", last_name="Lee"),
    )
    assert parse(smartlead, {"event_type": "EMAIL_OPEN"}) == Ignore("EMAIL_OPEN")


def test_smartlead_reply_handle_is_checked_before_the_email():
    assert rejected(ClientException, smartlead, {"event_type": "EMAIL_REPLY"}) == (
        "Missing reply_message.message_id (or stats_id)"
    )
    with_stats = {"event_type": "EMAIL_REPLY", "stats_id": "s1"}
    assert rejected(ClientException, smartlead, with_stats) == (
        "Missing lead email (sl_lead_email)"
    )


# -- Instantly -----------------------------------------------------------------------------------


def test_instantly_reply_handle_uses_the_raw_timestamp():
    payload = load_payload("instantly_reply_received.json") | {"timestamp": 1768473000000}

    delivery = parse(instantly, payload)

    joined = b"6f1c2d3e-0000-4000-8000-0000000000aa|sender@acme.example|1768473000000"
    assert delivery == StoreMessage(
        "reply_received",
        NewMessage(
            client_id=7,
            channel="email",
            direction="inbound",
            body="Sounds good, what times work?",
            subject="Re: Q1 outreach",
            sent_at="2026-01-15T10:30:00.000Z",
            received_at=NOW_ISO,
            source="instantly",
            dedupe_column="email_reply_id",
            dedupe_value="instantly:" + hashlib.sha256(joined).hexdigest()[:32],
            job_type="INSTANTLY_INBOUND_POST_PROCESS",
        ),
        LeadFields(email="lead@example.com", first_name="", last_name=""),
    )


def test_instantly_sent_unsubscribe_and_other_events():
    sent = parse(instantly, "instantly_email_sent.json")
    assert isinstance(sent, StoreMessage)
    assert (sent.message.direction, sent.message.dedupe_value) == (
        "outbound",
        "instantly:6f1c2d3e-0000-4000-8000-0000000000a0",
    )
    assert (sent.lead.first_name, sent.lead.last_name) == ("Alex", "Lee")
    assert parse(instantly, "instantly_lead_unsubscribed.json") == Unsubscribe(
        "lead_unsubscribed", LeadFields(email="lead@example.com", first_name="", last_name="")
    )
    assert parse(instantly, {"type": "email_opened"}) == Ignore("email_opened")


def test_instantly_email_id_is_checked_before_the_email():
    assert rejected(ClientException, instantly, {"event_type": "reply_received"}) == (
        "Missing email_id"
    )
    assert rejected(ClientException, instantly, {"event_type": "unsubscribed"}) == (
        "Missing lead_email"
    )


# -- the lenient time parser: two readings, each accepting what it always did ---------------------


@pytest.mark.parametrize(
    ("value", "common", "layouts"),
    [
        ("2026-01-18T10:00:00Z", "2026-01-18T10:00:00.000Z", "2026-01-18T10:00:00.000Z"),
        ("1/18/2026 3:04 PM", None, "2026-01-18T15:04:00.000Z"),  # GoHighLevel's layouts only
        ("2026-01-18  16:13:10", None, "2026-01-18T16:13:10.000Z"),  # whitespace runs: layouts
        ("1768752790", "2026-01-18T16:13:10.000Z", None),  # epochs: common only
        ("Sun, 18 Jan 2026 16:13:10 +0000", "2026-01-18T16:13:10.000Z", None),  # RFC 2822
        ("", None, None),
    ],
)
def test_parse_when_readings(value, common, layouts):
    def iso(parsed):
        return None if parsed is None else db.iso(parsed)

    assert iso(parse_when(value)) == common
    assert iso(parse_when(value, ghl.DATE_FORMATS)) == layouts
