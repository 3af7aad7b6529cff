"""Messages: the exactly-once insert every webhook goes through.

A message is deduplicated by exactly one of the columns in ``db.vocab.DEDUPE_COLUMNS``, each
UNIQUE per client (``UNIQUE (client_id, <column>)``): every lookup below names the client, so
one workspace's stored ids never block, reveal or receive another workspace's deliveries.
:func:`ingest` runs as one unit of work in the writer's transaction, so the token check, the
lead, the message, the roll-ups, an SMS opt-out, the post-process job and the delivery's
ledger row commit together or not at all. A duplicate delivery changes no lead field.
Repeats of a content key (GoHighLevel) are ``<key>#N``, N one more than the highest suffix
stored.
"""

from __future__ import annotations

from sqlite_utils import Database

from db.records import IngestResult, LeadFields, NewDelivery, NewMessage, unsubscribe_answer
from db.sqlite._connection import one, rows
from db.sqlite.clients import check_caller
from db.sqlite.deliveries import insert_delivery
from db.sqlite.jobs import enqueue_job
from db.sqlite.leads import find_or_create_lead, mark_unsubscribed, opt_out, set_lead_sentiment
from db.time import parse_iso
from db.vocab import (
    DEDUPE_COLUMNS,
    DEDUPED,
    DEFAULT_LEAD_STATUS,
    STATUS_BY_TAG,
    STORED,
)


class InsertLost(Exception):
    """The message's insert found its dedupe value stored after the look-up missed it (in the
    writer's first run: the batch runs again with savepoints, where it is a duplicate)."""


def ingest(
    db: Database,
    client_id: int,
    token_hash: str | None,
    message: NewMessage,
    lead: LeadFields,
    delivery: NewDelivery | None = None,
) -> IngestResult:
    """The ``ingest`` operation: the token re-check, then :func:`ingest_message`, then the
    delivery's ledger row (``stored`` or ``deduped``, naming the message) in the same
    transaction."""
    check_caller(db, client_id, token_hash)
    if message.client_id != client_id:
        raise ValueError("the message belongs to another client than the token")
    result = ingest_message(db, message, lead)
    if delivery is not None:
        outcome = DEDUPED if result.deduped else STORED
        insert_delivery(
            db,
            delivery,
            outcome=outcome,
            message_id=result.message_id,
            answer=result.answer_json(),
            defer=True,
        )
    return result


def unsubscribe(
    db: Database,
    client_id: int,
    token_hash: str | None,
    lead: LeadFields,
    now: str,
    delivery: NewDelivery | None = None,
) -> int:
    """The ``unsubscribe`` operation: the token re-check, then the lead is blacklisted, then
    the delivery's ledger row (``stored``) in the same transaction."""
    check_caller(db, client_id, token_hash)
    lead_id = mark_unsubscribed(db, client_id, lead, now)
    if delivery is not None:
        answer = unsubscribe_answer(lead_id)
        insert_delivery(db, delivery, outcome=STORED, answer=answer, defer=True)
    return lead_id


def ingest_message(db: Database, message: NewMessage, lead: LeadFields) -> IngestResult:
    """Store ``message`` once and upsert its post-process job, in the caller's transaction.

    A new message moves its lead's roll-ups; an inbound SMS that is a carrier opt-out
    keyword (:func:`db.vocab.is_sms_opt_out`) opts the lead out, here, without an AI call. A
    duplicate changes no lead field, roll-ups included (a lost insert race rolls the lead's
    changes back to a savepoint); only a provider's ``sentiment_hint`` applies either way.
    """
    if message.dedupe_column not in DEDUPE_COLUMNS:
        raise ValueError(f"not a dedupe column: {message.dedupe_column}")
    now = message.received_at
    existing, key = _existing_for(db, message)
    if existing is None:
        # In the writer's first run of a batch a unit that raises is run again inside a
        # savepoint of its own (db/sqlite/_writer.py): the savepoint that undoes the lead's
        # changes when the insert loses is only needed then (two statements fewer).
        rerun = getattr(db, "rerun_on_failure", False)
        if not rerun:
            db.execute("SAVEPOINT ingest_message")
        # The lead's roll-ups move with its new message, in the lead's own statement.
        touch = (message.direction, message.sent_at)
        lead_id = find_or_create_lead(db, message.client_id, lead, now=now, touch=touch)
        message_id = _insert(db, message, lead_id, key)
        if message_id is None and rerun:
            raise InsertLost(f"message {message.dedupe_column}={key!r} stored meanwhile")
        if message_id is None:  # inserted by someone else first: a duplicate after all
            db.execute("ROLLBACK TO ingest_message")
            existing = _by_key(db, message.client_id, message.dedupe_column, key)
        elif message.opts_out:
            opt_out(db, lead_id, now)
        if not rerun:
            db.execute("RELEASE ingest_message")
    deduped = existing is not None
    if existing is not None:
        message_id, lead_id = existing["id"], existing["lead_id"]
    if message.sentiment_hint:
        tag = message.sentiment_hint
        status = STATUS_BY_TAG.get(tag, DEFAULT_LEAD_STATUS)
        set_lead_sentiment(db, lead_id, tag, status, now, message_id)
    job_id, enqueued = None, False
    if message.job_type:
        job_id, enqueued = enqueue_job(
            db,
            job_type=message.job_type,
            client_id=message.client_id,
            lead_id=lead_id,
            message_id=message_id,
            now=now,
        )
    return IngestResult(message_id, lead_id, deduped, job_id, enqueued)


def _existing_for(db: Database, message: NewMessage) -> tuple[dict | None, str]:
    """The stored message this delivery repeats (or None), and the key to insert under."""
    key = message.dedupe_value
    window = message.repeat_window_seconds
    if window is None:
        return _by_key(db, message.client_id, message.dedupe_column, key), key
    # Repeats of a content key are stored as "<key>#2", "<key>#3", ...: the range
    # [key, key + "#~") of the client's part of the UNIQUE index holds exactly the key and its
    # repeats (keys have a fixed length), so finding the latest is one index range scan.
    chain = rows(
        db,
        f"""SELECT id, lead_id, received_at, {message.dedupe_column} AS key FROM messages
            WHERE client_id = :client AND {message.dedupe_column} >= :key
              AND {message.dedupe_column} < :end""",
        {"client": message.client_id, "key": key, "end": key + "#~"},
    )
    if not chain:
        return None, key
    latest = max(chain, key=lambda r: (r["received_at"], r["id"]))
    age = (parse_iso(message.received_at) - parse_iso(latest["received_at"])).total_seconds()
    if window == 0 or age <= window:
        return latest, key
    # One more than the highest suffix stored (the key itself is 1): never a count, so a
    # row deleted from the chain cannot make a later repeat collide with a stored one.
    return None, f"{key}#{max(_suffix(row['key'], key) for row in chain) + 1}"


def _suffix(stored: str, key: str) -> int:
    tail = stored[len(key) :]
    if tail.startswith("#") and tail[1:].isdigit():
        return int(tail[1:])
    return 1


def _by_key(db: Database, client_id: int, column: str, key: str) -> dict | None:
    return one(
        db,
        f"SELECT id, lead_id FROM messages WHERE client_id = ? AND {column} = ?",
        (client_id, key),
    )


def _insert(db: Database, message: NewMessage, lead_id: int, key: str) -> int | None:
    row = one(
        db,
        f"""INSERT INTO messages (client_id, lead_id, channel, direction, body, subject, sent_at,
                                  provider_sent_at, received_at, source,
                                  {message.dedupe_column}, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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


def get_message(db: Database, message_id: int) -> dict | None:
    return one(db, "SELECT * FROM messages WHERE id = ?", (message_id,))
