"""Messages on Postgres: the exactly-once insert every webhook goes through (as
:mod:`db.sqlite.messages`).

The ``UNIQUE (client_id, <column>)`` index decides: the insert is ``ON CONFLICT DO NOTHING
RETURNING id``, and the loser of a race (a process whose identical delivery committed first;
Postgres makes the insert wait for that commit) rolls its lead changes back to a savepoint
and re-reads the winner. The GoHighLevel repeat chain (read the chain, then insert the next
``<key>#N``) is serialised per (client, key) by a transaction advisory lock, so two
processes never both decide "a genuine repeat" for one delivery. A delivery's ledger row
(:mod:`db.postgres.deliveries`) is part of the same transaction, sent with its ``COMMIT``.
"""

from __future__ import annotations

import psycopg

from db.postgres._sql import lock_keys, one, rows
from db.postgres.clients import caller_is_valid, check_caller
from db.postgres.deliveries import insert_delivery
from db.postgres.jobs import enqueue_job
from db.postgres.leads import find_or_create_lead, mark_unsubscribed, opt_out, set_lead_sentiment
from db.records import IngestResult, LeadFields, NewDelivery, NewMessage, unsubscribe_answer
from db.time import parse_iso
from db.vocab import (
    DEDUPE_COLUMNS,
    DEDUPED,
    DEFAULT_LEAD_STATUS,
    STATUS_BY_TAG,
    STORED,
)


def ingest(
    conn: psycopg.Connection,
    client_id: int,
    token_hash: str | None,
    message: NewMessage,
    lead: LeadFields,
    delivery: NewDelivery | None = None,
) -> IngestResult:
    """The token re-check (``token_hash`` None: an operator's replay, see
    :func:`db.postgres.clients.check_caller`), then :func:`ingest_message`, then the
    delivery's ledger row (``stored`` or ``deduped``, naming the message), sent with the
    ``COMMIT``. For a plain dedupe key the check and the look-up of the stored message are
    one statement (one round trip fewer)."""
    result = _ingest(conn, client_id, token_hash, message, lead)
    if delivery is not None:
        insert_delivery(
            conn,
            delivery,
            outcome=DEDUPED if result.deduped else STORED,
            message_id=result.message_id,
            answer=result.answer_json(),
            deferred=True,
        )
    return result


def _ingest(
    conn: psycopg.Connection,
    client_id: int,
    token_hash: str | None,
    message: NewMessage,
    lead: LeadFields,
) -> IngestResult:
    if message.client_id != client_id:
        raise ValueError("the message belongs to another client than the token")
    if message.dedupe_column not in DEDUPE_COLUMNS:
        raise ValueError(f"not a dedupe column: {message.dedupe_column}")
    column, key = message.dedupe_column, message.dedupe_value
    if message.repeat_window_seconds is None:
        row = one(
            conn,
            f"""SELECT c.token_hash, c.disabled_at, m.id, m.lead_id
                  FROM clients AS c LEFT JOIN messages AS m
                    ON m.client_id = c.id AND m.{column} = %s
                 WHERE c.id = %s FOR SHARE OF c""",
            (key, client_id),
        )
        caller_is_valid(row, client_id, token_hash)
        assert row is not None
        existing = {"id": row["id"], "lead_id": row["lead_id"]} if row["id"] is not None else None
        return ingest_message(conn, message, lead, found=(existing, key))
    # The chain is read, then written: one transaction at a time per (client, key). The
    # lock comes first, so the read after it (with the token check) sees the last commit.
    lock_keys(conn, [f"message:{client_id}:{column}:{key}"])
    found = rows(
        conn,
        f"""SELECT c.token_hash, c.disabled_at, m.id, m.lead_id, m.received_at, m.{column} AS key
              FROM clients AS c LEFT JOIN messages AS m
                ON m.client_id = c.id AND m.{column} >= %(key)s AND m.{column} < %(end)s
             WHERE c.id = %(client)s FOR SHARE OF c""",
        {"client": client_id, "key": key, "end": key + "#~"},
    )
    caller_is_valid(found[0] if found else None, client_id, token_hash)
    chain = [r for r in found if r["id"] is not None]
    return ingest_message(conn, message, lead, found=_repeat_of(message, chain))


def unsubscribe(
    conn: psycopg.Connection,
    client_id: int,
    token_hash: str | None,
    lead: LeadFields,
    now: str,
    delivery: NewDelivery | None = None,
) -> int:
    """The token re-check, then the lead is blacklisted, then the delivery's ledger row
    (``stored``), sent with the ``COMMIT``."""
    check_caller(conn, client_id, token_hash)
    lead_id = mark_unsubscribed(conn, client_id, lead, now)
    if delivery is not None:
        answer = unsubscribe_answer(lead_id)
        insert_delivery(conn, delivery, outcome=STORED, answer=answer, deferred=True)
    return lead_id


def ingest_message(
    conn: psycopg.Connection,
    message: NewMessage,
    lead: LeadFields,
    found: tuple[dict | None, str] | None = None,
) -> IngestResult:
    """Store ``message`` once and upsert its post-process job, in the caller's transaction
    (see :func:`db.sqlite.messages.ingest_message`); ``found``: the stored message and the
    key, when the caller looked them up already. The savepoint is never released: the
    commit releases it."""
    if message.dedupe_column not in DEDUPE_COLUMNS:
        raise ValueError(f"not a dedupe column: {message.dedupe_column}")
    now = message.received_at
    existing, key = found if found is not None else _existing_for(conn, message)
    if existing is None:
        touch = (message.direction, message.sent_at)
        lead_id = find_or_create_lead(
            conn, message.client_id, lead, now=now, touch=touch, savepoint="ingest_message"
        )
        message_id = _insert(conn, message, lead_id, key)
        if message_id is None:  # another transaction's insert committed first
            conn.execute("ROLLBACK TO SAVEPOINT ingest_message")
            existing = _by_key(conn, message.client_id, message.dedupe_column, key)
            assert existing is not None
        elif message.opts_out:
            opt_out(conn, lead_id, now)
    deduped = existing is not None
    if existing is not None:
        message_id, lead_id = existing["id"], existing["lead_id"]
    if message.sentiment_hint:
        tag = message.sentiment_hint
        status = STATUS_BY_TAG.get(tag, DEFAULT_LEAD_STATUS)
        set_lead_sentiment(conn, lead_id, tag, status, now, message_id)
    job_id, enqueued = None, False
    if message.job_type:
        job_id, enqueued = enqueue_job(
            conn,
            job_type=message.job_type,
            client_id=message.client_id,
            lead_id=lead_id,
            message_id=message_id,
            now=now,
        )
    return IngestResult(message_id, lead_id, deduped, job_id, enqueued)


def _existing_for(conn: psycopg.Connection, message: NewMessage) -> tuple[dict | None, str]:
    """The stored message this delivery repeats (or None), and the key to insert under, for
    a caller that did not look (:func:`ingest` does)."""
    key = message.dedupe_value
    if message.repeat_window_seconds is None:
        return _by_key(conn, message.client_id, message.dedupe_column, key), key
    lock_keys(conn, [f"message:{message.client_id}:{message.dedupe_column}:{key}"])
    chain = rows(
        conn,
        f"""SELECT id, lead_id, received_at, {message.dedupe_column} AS key FROM messages
            WHERE client_id = %(client)s AND {message.dedupe_column} >= %(key)s
              AND {message.dedupe_column} < %(end)s""",
        {"client": message.client_id, "key": key, "end": key + "#~"},
    )
    return _repeat_of(message, chain)


def _repeat_of(message: NewMessage, chain: list[dict]) -> tuple[dict | None, str]:
    """Given the stored chain of a content key (the key and its ``#N`` repeats), the message
    this delivery repeats (or None) and the key to insert under."""
    key = message.dedupe_value
    window = message.repeat_window_seconds
    chain = [row for row in chain if row["key"] == key or row["key"].startswith(key + "#")]
    if not chain:
        return None, key
    latest = max(chain, key=lambda r: (r["received_at"], r["id"]))
    age = (parse_iso(message.received_at) - parse_iso(latest["received_at"])).total_seconds()
    if window == 0 or age <= window:
        return latest, key
    return None, f"{key}#{max(_suffix(row['key'], key) for row in chain) + 1}"


def _suffix(stored: str, key: str) -> int:
    tail = stored[len(key) :]
    if tail.startswith("#") and tail[1:].isdigit():
        return int(tail[1:])
    return 1


def _by_key(conn: psycopg.Connection, client_id: int, column: str, key: str) -> dict | None:
    return one(
        conn,
        f"SELECT id, lead_id FROM messages WHERE client_id = %s AND {column} = %s",
        (client_id, key),
    )


def _insert(conn: psycopg.Connection, message: NewMessage, lead_id: int, key: str) -> int | None:
    row = one(
        conn,
        f"""INSERT INTO messages (client_id, lead_id, channel, direction, body, subject, sent_at,
                                  provider_sent_at, received_at, source,
                                  {message.dedupe_column}, created_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT DO NOTHING RETURNING id""",
        (
            message.client_id,
            lead_id,
            message.channel,
            message.direction,
            message.body,
            message.subject,
            message.sent_at,
            message.provider_sent_at,
            message.received_at,
            message.source,
            key,
            message.received_at,
        ),
    )
    return row["id"] if row else None


def get_message(conn: psycopg.Connection, message_id: int) -> dict | None:
    return one(conn, "SELECT * FROM messages WHERE id = %s", (message_id,))
