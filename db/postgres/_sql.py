"""Small helpers every Postgres operation uses: rows as dicts, advisory locks, the job channel,
and the loaders that turn Postgres values into what the storage interface returns.

Timestamps are ``timestamptz`` in the database and ISO-8601 UTC strings with milliseconds
(``2026-01-18T10:00:00.123Z``) everywhere else, exactly as the SQLite backend stores them:
:class:`IsoTimestampLoader` converts every ``timestamptz`` a query returns, and parameters are
passed as those strings (Postgres reads them as ``timestamptz`` from their context, or from an
explicit ``::timestamptz``). ``date`` comes back as ``YYYY-MM-DD``; ``numeric`` (what ``SUM``
of a ``bigint`` and ``round(numeric, n)`` give) as an int when integral, else a float.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.adapt import Loader

from db.time import iso

# NOTIFY channel: a commit that makes a job due wakes the runners of every process.
JOBS_CHANNEL = "leadhook_jobs"
NOTIFY_JOBS = f"SELECT pg_notify('{JOBS_CHANNEL}', '')"
# Session advisory locks (bigint keys): migrations, and the daily maintenance.
MIGRATION_LOCK = 0x6C6864_0001
MAINTENANCE_LOCK = 0x6C6864_0002


def rows(conn: psycopg.Connection, sql: str, params: Any = None) -> list[dict]:
    """Run ``sql`` and return every row as a dict (all fetched, so RETURNING completes)."""
    cursor = conn.execute(sql, params)
    if cursor.description is None:
        return []
    return list(cursor.fetchall())


def one(conn: psycopg.Connection, sql: str, params: Any = None) -> dict | None:
    found = rows(conn, sql, params)
    return found[0] if found else None


def lock_key(key: str) -> int:
    """The 64-bit advisory lock key of a text (BLAKE2b: the same in every process)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


def lock_keys(conn: psycopg.Connection, keys: list[str], *, before: str = "") -> None:
    """Take transaction advisory locks on ``keys`` (texts hashed to 64 bits), in one global
    order so that two transactions taking overlapping sets cannot deadlock on them. Held
    until the transaction ends: what a read-then-write must not interleave with. ``before``:
    a statement without parameters sent in the same round trip (a ``SAVEPOINT``)."""
    statements = [before] if before else []
    statements += [
        f"SELECT pg_advisory_xact_lock({k})" for k in sorted({lock_key(k) for k in keys})
    ]
    if statements:
        conn.execute("; ".join(statements))  # literals only: one round trip


_due = threading.local()


def notify_jobs(conn: psycopg.Connection) -> None:
    """Wake the runners of every process once this transaction commits: the transport sees
    the mark after the commit and hands it to the process's notifier, which sends
    ``NOTIFY leadhook_jobs`` on a connection of its own (coalesced: one for a burst).

    Not a NOTIFY inside the transaction: Postgres serialises the commits of transactions that
    NOTIFY (a database-wide lock held until their commit record is flushed), which would
    make every webhook's commit wait for the previous one's fsync across all processes."""
    _due.jobs = True


def take_jobs_due() -> bool:
    """Whether the transaction just run on this thread made a job due (and forget it)."""
    due = getattr(_due, "jobs", False)
    _due.jobs = False
    return due


_after = threading.local()


def defer(conn: psycopg.Connection, sql: str, params: Any = None) -> None:
    """Run ``sql`` (a statement whose result nobody reads: a ledger row) as late as possible
    in this transaction: the transport sends it with the ``COMMIT``, in one pipeline (one
    round trip for both). Its error fails the commit, so nothing of the transaction is kept.
    Outside a transport's write it runs at once."""
    statements = getattr(_after, "statements", None)
    if statements is None:
        conn.execute(sql, params)
        return
    statements.append((sql, params))


def start_deferring() -> None:
    """The transport, at ``BEGIN``: collect :func:`defer`'s statements from now on."""
    _after.statements = []


def take_deferred() -> list[tuple[str, Any]]:
    """The transport, before ``COMMIT`` (or after a failure): the statements deferred, and
    stop collecting."""
    statements = getattr(_after, "statements", None) or []
    _after.statements = None
    return statements


class IsoTimestampLoader(Loader):
    """``timestamptz`` (text format) → ``2026-01-18T10:00:00.123Z``."""

    def load(self, data: Any) -> str:
        text = bytes(data).decode()
        date, _, rest = text.partition(" ")
        if rest.endswith("+00") and len(rest) >= 11 and len(date) == 10:
            clock, fraction = rest[:8], rest[8:-3]
            millis = (fraction[1:] + "000")[:3] if fraction.startswith(".") else "000"
            return f"{date}T{clock}.{millis}Z"
        if text in ("infinity", "-infinity"):
            return text
        # Another session time zone, or a year beyond 9999: the slow, general way.
        moment = datetime.fromisoformat(text.replace(" ", "T", 1))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return iso(moment)


class DateTextLoader(Loader):
    """``date`` → ``2026-01-18``."""

    def load(self, data: Any) -> str:
        return bytes(data).decode()


class NumberLoader(Loader):
    """``numeric`` → int when integral, else float (counts and sums, never money math)."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        if "." in text or "e" in text.lower() or text in ("NaN", "Infinity", "-Infinity"):
            return float(text)
        return int(text)


def register_loaders(conn: psycopg.Connection) -> None:
    adapters = conn.adapters
    adapters.register_loader("timestamptz", IsoTimestampLoader)
    adapters.register_loader("date", DateTextLoader)
    adapters.register_loader("numeric", NumberLoader)
