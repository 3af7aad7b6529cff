"""Timestamps: ISO-8601 UTC with milliseconds and a trailing Z, as stored in every table."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """``2026-01-18T10:00:00.123Z``; naive datetimes are taken as UTC."""
    if moment.tzinfo is not UTC:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    # isoformat pads the year to four digits (strftime's %Y does not), so stored times compare
    # as text; "+00:00" becomes "Z". A third faster than formatting each field.
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_iso(value: str) -> datetime:
    """Inverse of :func:`iso` (accepts any ISO-8601 form ``fromisoformat`` knows)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def normalize_time(value: str | None, name: str = "time") -> str | None:
    """An ISO-8601 time (any form ``fromisoformat`` reads; no zone = UTC) as stored, e.g.
    ``2026-01-18`` → ``2026-01-18T00:00:00.000Z``; None or blank → None; ValueError if bad."""
    if value is None or not value.strip():
        return None
    try:
        return iso(parse_iso(value.strip()))
    except (ValueError, OverflowError):  # e.g. year 1 with a positive offset
        raise ValueError(f"{name} must be an ISO-8601 time, got {value!r}") from None


def span(seconds: float) -> str:
    """A duration in its two largest units, for people: ``2d 3h``, ``1h 05m``, ``5m 00s``,
    ``7s`` (the CLI and the console write them alike)."""
    seconds = int(max(0, seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
