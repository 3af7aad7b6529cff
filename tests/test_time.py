"""Stored times: ISO-8601 UTC text with milliseconds, which compares in time order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

import db


def test_stored_times_are_iso_utc_and_compare_as_text():
    assert db.iso(datetime(999, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)) == "0999-01-02T03:04:05.678Z"
    assert (
        db.iso(datetime(2026, 1, 18, 11, 0, tzinfo=timezone(timedelta(hours=1))))
        == "2026-01-18T10:00:00.000Z"
    )
    assert db.normalize_time("2026-01-18") == "2026-01-18T00:00:00.000Z"
    with pytest.raises(ValueError, match="since must be an ISO-8601 time"):
        db.normalize_time("0001-01-01T00:00:00+05:00", "since")


def test_a_span_is_written_in_its_two_largest_units():
    from db.time import span

    assert [span(s) for s in (0, 7, 300, 3900, 183600, -5)] == [
        "0s",
        "7s",
        "5m 00s",
        "1h 05m",
        "2d 3h",
        "0s",
    ]


@pytest.mark.parametrize(
    ("moment", "stored"),
    [
        (datetime(2026, 1, 18, 10, 0, 0, 123999, tzinfo=UTC), "2026-01-18T10:00:00.123Z"),
        (datetime(2026, 1, 18, 10, 0, 0), "2026-01-18T10:00:00.000Z"),  # naive is UTC
        (datetime(999, 12, 31, 23, 59, 59, 999999), "0999-12-31T23:59:59.999Z"),
        (
            datetime(2026, 1, 1, 5, 0, 0, 999999, tzinfo=timezone(timedelta(hours=5))),
            "2026-01-01T00:00:00.999Z",
        ),
        (
            datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=-2, minutes=-30))),
            "2026-01-01T03:00:00.000Z",
        ),
    ],
)
def test_iso_is_utc_with_milliseconds_and_z(moment, stored):
    assert db.iso(moment) == stored
    assert db.iso(db.parse_iso(stored)) == stored
