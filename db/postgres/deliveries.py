"""The delivery ledger (``deliveries``) on Postgres: rows written, found, shown, counted and
pruned (as :mod:`db.sqlite.deliveries`: the same operations, arguments and returned rows).

:func:`insert_delivery` writes one row in the caller's transaction. For an accepted delivery
(``ingest``, ``unsubscribe``) and an ignored one (:func:`record_ignored`, after the token
re-check) the insert is deferred (:func:`db.postgres._sql.defer`): it goes to the server with
the ``COMMIT``, in one pipeline, so the ledger row costs no round trip, and its error still
fails the whole transaction. :func:`record_delivery` / :func:`record_deliveries` (rejected
rows) return the ids, so they insert at once (several rows: one pipelined ``executemany``).

Lists are newest received first (``received_at DESC, id DESC``), ``limit`` rows (at most
500) older than the row ``before_id`` (keyset), through the indexes of migration
``m011_deliveries``; ``body_kept`` is 0 or 1, as SQLite's. Pruning runs in batches (short
transactions).
"""

from __future__ import annotations

from typing import Any

import psycopg

from db.postgres._sql import defer, one, rows
from db.postgres.clients import check_caller
from db.records import DELIVERY_COLUMNS, NewDelivery
from db.vocab import PROVIDER_KEY_PREFIXES

MAX_PAGE = 500
REPLAYS_SHOWN = 50
_FILTERS = ("route", "outcome", "client_id", "since", "until", "key", "message_id", "replay_of")
_INSERT = f"INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES ({', '.join(['%s'] * 15)})"
# What a list shows: everything but the body (a list of 500 rows must stay small).
_LISTED = (
    "deliveries.id, received_at, route, client_id, status_code, outcome, error, event_type, "
    "message_id, dedupe_key, duration_ms, body_bytes, body_sha256, "
    "(body IS NOT NULL)::int AS body_kept, replay_of"
)


def insert_delivery(
    conn: psycopg.Connection,
    delivery: NewDelivery,
    *,
    outcome: str | None = None,
    message_id: int | None = None,
    answer: dict[str, Any] | str | None = None,
    deferred: bool = False,
) -> int | None:
    """Insert ``delivery`` (:meth:`NewDelivery.row`); its id, or None when ``deferred`` (sent
    with the ``COMMIT``)."""
    values = delivery.row(outcome=outcome, message_id=message_id, answer=answer)
    if deferred:
        defer(conn, _INSERT, values)
        return None
    found = one(conn, f"{_INSERT} RETURNING id", values)
    assert found is not None
    return found["id"]


def record_delivery(conn: psycopg.Connection, delivery: NewDelivery) -> int:
    """The ``submit_delivery`` / ``record_delivery`` operation: one row as it is."""
    found = insert_delivery(conn, delivery)
    assert found is not None
    return found


def record_deliveries(conn: psycopg.Connection, deliveries: list[NewDelivery]) -> list[int]:
    """Several rows in one transaction (rows kept while the database refused writes); their
    ids in order (one pipelined ``executemany``)."""
    if not deliveries:
        return []
    with conn.cursor() as cursor:
        cursor.executemany(f"{_INSERT} RETURNING id", [d.row() for d in deliveries], returning=True)
        ids = []
        while True:
            ids.append(cursor.fetchone()["id"])
            if not cursor.nextset():
                break
    return ids


def record_ignored(
    conn: psycopg.Connection, client_id: int, token_hash: str | None, delivery: NewDelivery
) -> None:
    """The ``record_ignored`` operation: the token re-check, then the ignored row."""
    check_caller(conn, client_id, token_hash)
    insert_delivery(conn, delivery, outcome="ignored", deferred=True)


# -- reading --------------------------------------------------------------------------------------


def _where(filters: dict[str, Any], before_id: int | None) -> tuple[str, dict]:
    unknown = set(filters) - set(_FILTERS)
    if unknown:
        raise ValueError(f"not delivery filters: {sorted(unknown)}")
    where, params = [], {}
    for name in ("route", "outcome"):
        if filters.get(name) not in (None, ""):
            where.append(f"deliveries.{name} = %({name})s::text")
            params[name] = str(filters[name])
    for name in ("client_id", "message_id", "replay_of"):
        if filters.get(name) not in (None, ""):
            where.append(f"deliveries.{name} = %({name})s::bigint")
            params[name] = int(filters[name])
    if filters.get("since"):
        where.append("received_at >= %(since)s::timestamptz")
        params["since"] = filters["since"]
    if filters.get("until"):
        where.append("received_at < %(until)s::timestamptz")
        params["until"] = filters["until"]
    if filters.get("key"):
        key = str(filters["key"]).strip()
        where.append("dedupe_key = ANY(%(keys)s::text[])")
        params["keys"] = [key, *(prefix + key for prefix in PROVIDER_KEY_PREFIXES)]
    if before_id is not None:
        where.append(
            "(received_at, deliveries.id) < "
            "(SELECT received_at, id FROM deliveries WHERE id = %(before_id)s::bigint)"
        )
        params["before_id"] = int(before_id)
    return (" WHERE " + " AND ".join(where)) if where else "", params


def find_deliveries(
    conn: psycopg.Connection, filters: dict[str, Any], before_id: int | None, limit: int
) -> list[dict]:
    """Rows matching ``filters`` (see :func:`db.sqlite.deliveries.find_deliveries`), newest
    received first, without their bodies, each with its ``client_name``."""
    where, params = _where(filters, before_id)
    params["limit"] = max(1, min(int(limit), MAX_PAGE))
    return rows(
        conn,
        f"""SELECT {_LISTED}, clients.name AS client_name FROM deliveries
              LEFT JOIN clients ON clients.id = deliveries.client_id
            {where} ORDER BY received_at DESC, deliveries.id DESC LIMIT %(limit)s""",
        params,
    )


def get_delivery(conn: psycopg.Connection, delivery_id: int) -> dict | None:
    return one(conn, "SELECT * FROM deliveries WHERE id = %s", (delivery_id,))


def delivery_detail(conn: psycopg.Connection, delivery_id: int) -> dict[str, Any] | None:
    """The row (with its client's name), its message, the delivery it replayed and its
    replays (newest first)."""
    delivery = one(
        conn,
        """SELECT deliveries.*, clients.name AS client_name FROM deliveries
             LEFT JOIN clients ON clients.id = deliveries.client_id WHERE deliveries.id = %s""",
        (delivery_id,),
    )
    if delivery is None:
        return None
    message = None
    if delivery["message_id"] is not None:
        message = one(conn, "SELECT * FROM messages WHERE id = %s", (delivery["message_id"],))
    original = None
    if delivery["replay_of"] is not None:
        original = one(
            conn, f"SELECT {_LISTED} FROM deliveries WHERE id = %s", (delivery["replay_of"],)
        )
    replays = rows(
        conn,
        f"SELECT {_LISTED} FROM deliveries WHERE replay_of = %s ORDER BY id DESC LIMIT %s",
        (delivery_id, REPLAYS_SHOWN),
    )
    return {"delivery": delivery, "message": message, "replay_of": original, "replays": replays}


def deliveries_per_hour(conn: psycopg.Connection, since: str) -> list[dict]:
    """``{"hour", "route", "outcome", "deliveries"}`` for every hour since ``since`` that
    had any (``hour``: ``2026-01-18T10:00:00.000Z``, the UTC hour); ordered as SQLite orders
    them (byte order)."""
    return rows(
        conn,
        """SELECT date_trunc('hour', received_at, 'UTC') AS hour, route, outcome,
                  COUNT(*) AS deliveries
             FROM deliveries WHERE received_at >= %s::timestamptz
            GROUP BY 1, 2, 3 ORDER BY 1, route COLLATE "C", outcome COLLATE "C"
        """,
        (since,),
    )


# -- retention ------------------------------------------------------------------------------------


def prune_deliveries(conn: psycopg.Connection, before: str, batch: int) -> int:
    """Delete up to ``batch`` rows received before ``before``; how many."""
    cursor = conn.execute(
        """DELETE FROM deliveries WHERE id IN (
               SELECT id FROM deliveries WHERE received_at < %s::timestamptz LIMIT %s)""",
        (before, int(batch)),
    )
    return cursor.rowcount


def prune_delivery_bodies(conn: psycopg.Connection, before: str, batch: int) -> int:
    """Set ``body`` to NULL on up to ``batch`` rows received before ``before``; how many.
    The hash and size stay."""
    cursor = conn.execute(
        """UPDATE deliveries SET body = NULL WHERE id IN (
               SELECT id FROM deliveries
                WHERE body IS NOT NULL AND received_at < %s::timestamptz LIMIT %s)
            AND body IS NOT NULL""",
        (before, int(batch)),
    )
    return cursor.rowcount
