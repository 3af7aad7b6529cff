"""The GoHighLevel SMS dedupe key (DESIGN.md test vector) and the sent_at resolution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from handlers._payload import parse_when
from handlers.ghl import DATE_FORMATS, ghl_sms_dedupe_key, normalize_body, resolve_sent_at

VECTOR = (
    "client-123",
    "contact-abc",
    "wf-1",
    "2026-01-18T10:00:00.000Z",
    "",
    "",
    "  Yes,   I'm\n Interested  ",
)


def test_design_test_vector():
    assert ghl_sms_dedupe_key(*VECTOR) == "ghl_sms:b0af51d3c5065f95cf67d4af405e36b0"


def test_key_is_forty_characters():
    assert len(ghl_sms_dedupe_key(*VECTOR)) == 40


@pytest.mark.parametrize(
    "body",
    [
        "yes, i'm interested",
        "YES, I'M INTERESTED",
        "\tYes,\n\n I'm   interested\r\n",
        " Yes, I'm Interested",
    ],
)
def test_body_case_and_whitespace_do_not_change_the_key(body):
    assert ghl_sms_dedupe_key(*VECTOR[:6], body) == ghl_sms_dedupe_key(*VECTOR)


def test_different_words_change_the_key():
    assert ghl_sms_dedupe_key(*VECTOR[:6], "Yes, I'm not interested") != ghl_sms_dedupe_key(*VECTOR)


def test_date_and_time_parts_are_used_raw():
    base = ghl_sms_dedupe_key("c", "k", "w", "", "1/18/2026", "10:00:05 AM", "ok")
    # Same instant written differently, or with stray spaces, is a different key: raw strings.
    assert ghl_sms_dedupe_key("c", "k", "w", "", "01/18/2026", "10:00:05 AM", "ok") != base
    assert ghl_sms_dedupe_key("c", "k", "w", "", "1/18/2026 ", "10:00:05 AM", "ok") != base
    assert ghl_sms_dedupe_key("c", "k", "w", "", "1/18/2026", "10:00:05 AM", "ok") == base


def test_missing_parts_are_empty_strings():
    # client|contact|||||body: the separators stay.
    import hashlib

    expected = hashlib.sha256(b"c|k|||||ok").hexdigest()[:32]
    assert ghl_sms_dedupe_key("c", "k", "", "", "", "", "ok") == f"ghl_sms:{expected}"


def test_each_part_matters():
    parts = ["c", "k", "w", "d", "D", "T", "ok"]
    keys = {ghl_sms_dedupe_key(*parts)}
    for i in range(6):
        changed = list(parts)
        changed[i] += "x"
        keys.add(ghl_sms_dedupe_key(*changed))
    assert len(keys) == 7


def test_normalize_body():
    assert normalize_body("  Yes,   I'm\n Interested  ") == "yes, i'm interested"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-01-18T10:00:00.000Z", datetime(2026, 1, 18, 10, 0, tzinfo=UTC)),
        ("2026-01-18T11:00:00+01:00", datetime(2026, 1, 18, 10, 0, tzinfo=UTC)),
        ("1/18/2026 10:00:05 AM", datetime(2026, 1, 18, 10, 0, 5, tzinfo=UTC)),
        ("1/18/2026 3:04 PM", datetime(2026, 1, 18, 15, 4, tzinfo=UTC)),
        ("2026-01-18 10:00:00", datetime(2026, 1, 18, 10, 0, tzinfo=UTC)),
        ("Jan 18, 2026 10:00 AM", datetime(2026, 1, 18, 10, 0, tzinfo=UTC)),
        ("not a date", None),
        ("", None),
    ],
)
def test_ghl_dates_parse_naive_as_utc(raw, expected):
    assert parse_when(raw, DATE_FORMATS) == expected


RECEIVED = datetime(2026, 1, 18, 10, 5, tzinfo=UTC)


def test_sent_at_prefers_the_closest_candidate_within_20_minutes():
    sent = resolve_sent_at(RECEIVED, "1/18/2026", "10:03:00 AM", "2026-01-18T10:00:00.000Z")
    assert sent == datetime(2026, 1, 18, 10, 3, tzinfo=UTC)


def test_sent_at_uses_date_created_when_custom_date_is_far():
    sent = resolve_sent_at(RECEIVED, "1/18/2026", "3:00:00 AM", "2026-01-18T10:01:00.000Z")
    assert sent == datetime(2026, 1, 18, 10, 1, tzinfo=UTC)


def test_sent_at_falls_back_to_receipt_time():
    # Local time read as UTC is hours off; date_created is the contact's creation date.
    assert resolve_sent_at(RECEIVED, "1/18/2026", "5:05 AM", "2025-06-01T00:00:00Z") == RECEIVED
    assert resolve_sent_at(RECEIVED, "", "", "") == RECEIVED
    assert resolve_sent_at(RECEIVED, "1/18/2026", "", "garbage") == RECEIVED


def test_sent_at_twenty_minutes_exactly_is_allowed():
    edge = RECEIVED - timedelta(minutes=20)
    assert resolve_sent_at(RECEIVED, "", "", edge.isoformat()) == edge
    too_far = RECEIVED - timedelta(minutes=20, milliseconds=1)
    assert resolve_sent_at(RECEIVED, "", "", too_far.isoformat()) == RECEIVED
