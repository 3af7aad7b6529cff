"""The delivery ledger (``deliveries``): rows written, found, shown, counted and pruned.

:func:`insert_delivery` writes one row in the caller's transaction: the ``ingest`` and
``unsubscribe`` operations call it for an accepted delivery (so the row commits with its
message and job, or not at all), :func:`record_ignored` for an ignored one (with the token
re-check), :func:`record_delivery` / :func:`record_deliveries` for rejected ones (queued
without waiting; written again by the caller when the database could not take them).

Lists are newest received first (``received_at DESC, id DESC``), ``limit`` rows (at most
500) older than the row ``before_id`` (keyset: pass the last id of a page), through the
indexes of migration ``m011_deliveries``. Pruning runs in batches (short transactions).
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from db.records import DELIVERY_COLUMNS, NewDelivery
from db.sqlite._connection import one, rows
from db.sqlite.clients import check_caller
from db.vocab import PROVIDER_KEY_PREFIXES

MAX_PAGE = 500
REPLAYS_SHOWN = 50
_FILTERS = ("route", "outcome", "client_id", "since", "until", "key", "message_id", "replay_of")
_INSERT_HEAD = f"INSERT INTO deliveries ({DELIVERY_COLUMNS})"
_INSERT = f"{_INSERT_HEAD} VALUES ({', '.join('?' * 15)})"
# What a list shows: everything but the body (a list of 500 rows must stay small).
_LISTED = (
    "deliveries.id, received_at, route, client_id, status_code, outcome, error, event_type, "
    "message_id, dedupe_key, duration_ms, body_bytes, body_sha256, body IS NOT NULL AS body_kept, "
    "replay_of"
)


def insert_delivery(
    db: Database,
    delivery: NewDelivery,
    *,
    outcome: str | None = None,
    message_id: int | None = None,
    answer: dict[str, Any] | str | None = None,
    defer: bool = False,
) -> int | None:
    """Insert ``delivery`` (``outcome``, ``message_id`` and ``answer`` as the write decided
    them, else the record's own; ``answer`` a dict or its JSON); ``duration_ms`` is measured
    now unless the record has it. ``defer``: leave the insert to the end of the writer's batch
    (the same transaction: :mod:`db.sqlite._writer`); then no id is returned."""
    row = delivery.row(outcome=outcome, message_id=message_id, answer=answer)
    deferred = getattr(db, "deferred_rows", None) if defer else None
    if deferred is not None:
        deferred.setdefault(_INSERT_HEAD, []).append(row)
        return None
    return db.conn.execute(_INSERT, row).lastrowid


def record_delivery(db: Database, delivery: NewDelivery) -> int:
    """The ``submit_delivery`` / ``record_delivery`` operation: one row as it is."""
    return insert_delivery(db, delivery)


def record_deliveries(db: Database, deliveries: list[NewDelivery]) -> list[int]:
    """Several rows in one transaction (rows kept while the database refused writes)."""
    return [insert_delivery(db, delivery) for delivery in deliveries]


def record_ignored(
    db: Database, client_id: int, token_hash: str | None, delivery: NewDelivery
) -> None:
    """The ``record_ignored`` operation: the token re-check, then the ignored row."""
    check_caller(db, client_id, token_hash)
    insert_delivery(db, delivery, outcome="ignored", defer=True)


# -- reading --------------------------------------------------------------------------------------


def _where(filters: dict[str, Any], before_id: int | None) -> tuple[str, dict]:
    unknown = set(filters) - set(_FILTERS)
    if unknown:
        raise ValueError(f"not delivery filters: {sorted(unknown)}")
    where, params = [], {}
    for name in ("route", "outcome", "client_id", "message_id", "replay_of"):
        if filters.get(name) not in (None, ""):
            where.append(f"deliveries.{name} = :{name}")
            params[name] = filters[name]
    if filters.get("since"):
        where.append("received_at >= :since")
        params["since"] = filters["since"]
    if filters.get("until"):
        where.append("received_at < :until")
        params["until"] = filters["until"]
    if filters.get("key"):
        key = str(filters["key"]).strip()
        candidates = [key, *(prefix + key for prefix in PROVIDER_KEY_PREFIXES)]
        marks = ", ".join(f":key{i}" for i in range(len(candidates)))
        where.append(f"dedupe_key IN ({marks})")
        params.update({f"key{i}": value for i, value in enumerate(candidates)})
    if before_id is not None:
        where.append(
            "(received_at, deliveries.id) < "
            "(SELECT received_at, id FROM deliveries WHERE id = :before_id)"
        )
        params["before_id"] = before_id
    return (" WHERE " + " AND ".join(where)) if where else "", params


def find_deliveries(
    db: Database, filters: dict[str, Any], before_id: int | None, limit: int
) -> list[dict]:
    """Rows matching ``filters`` (``route``, ``outcome``, ``client_id``, ``message_id``,
    ``replay_of``: equalities; ``since``/``until``: ``received_at`` bounds; ``key``: a
    dedupe key or provider id), newest received first, without their bodies."""
    where, params = _where(filters, before_id)
    params["limit"] = max(1, min(int(limit), MAX_PAGE))
    return rows(
        db,
        f"""SELECT {_LISTED}, clients.name AS client_name FROM deliveries
              LEFT JOIN clients ON clients.id = deliveries.client_id
            {where} ORDER BY received_at DESC, deliveries.id DESC LIMIT :limit""",
        params,
    )


def get_delivery(db: Database, delivery_id: int) -> dict | None:
    return one(db, "SELECT * FROM deliveries WHERE id = ?", (delivery_id,))


def delivery_detail(db: Database, delivery_id: int) -> dict[str, Any] | None:
    """The row (with its client's name), its message, the delivery it replayed and its
    replays (newest first)."""
    delivery = one(
        db,
        """SELECT deliveries.*, clients.name AS client_name FROM deliveries
             LEFT JOIN clients ON clients.id = deliveries.client_id WHERE deliveries.id = ?""",
        (delivery_id,),
    )
    if delivery is None:
        return None
    message = None
    if delivery["message_id"] is not None:
        message = one(db, "SELECT * FROM messages WHERE id = ?", (delivery["message_id"],))
    original = None
    if delivery["replay_of"] is not None:
        original = one(
            db,
            f"SELECT {_LISTED} FROM deliveries WHERE id = ?",
            (delivery["replay_of"],),
        )
    replays = rows(
        db,
        f"SELECT {_LISTED} FROM deliveries WHERE replay_of = ? ORDER BY id DESC LIMIT ?",
        (delivery_id, REPLAYS_SHOWN),
    )
    return {"delivery": delivery, "message": message, "replay_of": original, "replays": replays}


def deliveries_per_hour(db: Database, since: str) -> list[dict]:
    """``{"hour", "route", "outcome", "deliveries"}`` for every hour since ``since`` that
    had any (``hour``: ``2026-01-18T10:00:00.000Z``); read from the covering index."""
    return rows(
        db,
        """SELECT substr(received_at, 1, 13) || ':00:00.000Z' AS hour, route, outcome,
                  COUNT(*) AS deliveries
             FROM deliveries INDEXED BY deliveries_received_at
            WHERE received_at >= ? GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",
        (since,),
    )


# -- retention ------------------------------------------------------------------------------------


def prune_deliveries(db: Database, before: str, batch: int) -> int:
    """Delete up to ``batch`` rows received before ``before``; how many."""
    deleted = rows(
        db,
        """DELETE FROM deliveries WHERE id IN (
               SELECT id FROM deliveries WHERE received_at < ? LIMIT ?) RETURNING id""",
        (before, int(batch)),
    )
    return len(deleted)


def prune_delivery_bodies(db: Database, before: str, batch: int) -> int:
    """Set ``body`` to NULL on up to ``batch`` rows received before ``before``; how many.
    The hash and size stay."""
    cleared = rows(
        db,
        """UPDATE deliveries SET body = NULL WHERE id IN (
               SELECT id FROM deliveries INDEXED BY deliveries_body_kept
                WHERE body IS NOT NULL AND received_at < ? LIMIT ?) RETURNING id""",
        (before, int(batch)),
    )
    return len(cleared)
