"""Messages: the exactly-once insert every webhook goes through.

A message is deduplicated by exactly one of the UNIQUE columns in :data:`DEDUPE_COLUMNS`.
:func:`ingest_message` runs as one unit of work in the writer's transaction, so the lead, the
message, the roll-ups and the post-process job commit together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database

from db._connection import one, rows
from db._time import parse_iso
from db.jobs import enqueue_job
from db.leads import LeadFields, find_or_create_lead

DEDUPE_COLUMNS = (
    "ghl_id",
    "email_reply_id",
    "unipile_message_id",
    "webhook_dedupe_key",
    "scheduled_email_id",
)


class DedupeKeyConflict(ValueError):
    """The dedupe value is already stored for another client (the unit is rolled back).

    Provider ids (an email platform's reply id, a Unipile message id) are unique within the
    provider, so this means two clients' providers share an id space: never attach one
    client's delivery to another client's message.
    """


@dataclass(frozen=True)
class NewMessage:
    client_id: int
    channel: str  # sms | email | linkedin
    direction: str  # inbound | outbound
    body: str
    sent_at: str
    received_at: str
    source: str  # the provider
    dedupe_column: str
    dedupe_value: str
    subject: str | None = None
    job_type: str | None = None  # the post-process job; None for no job
    # For keys computed from content (GoHighLevel): a key seen longer ago than this many
    # seconds is a genuine repeat and gets a derived key. None: plain dedupe; 0: forever.
    repeat_window_seconds: int | None = None


@dataclass(frozen=True)
class IngestResult:
    message_id: int
    lead_id: int
    deduped: bool
    job_id: int | None
    job_enqueued: bool


def ingest_message(db: Database, message: NewMessage, lead: LeadFields) -> IngestResult:
    """Store ``message`` once and upsert its post-process job, in the caller's transaction."""
    if message.dedupe_column not in DEDUPE_COLUMNS:
        raise ValueError(f"not a dedupe column: {message.dedupe_column}")
    now = message.received_at
    existing, key = _existing_for(db, message)
    if existing is None:
        # The lead's roll-ups move with its new message, in the lead's own statement.
        touch = (message.direction, message.sent_at)
        lead_id = find_or_create_lead(db, message.client_id, lead, now=now, touch=touch)
        message_id = _insert(db, message, lead_id, key)
        if message_id is None:  # another process inserted it first: the row is there now
            existing = _by_key(db, message.dedupe_column, key)
    deduped = existing is not None
    if existing is not None:
        if existing.get("client_id", message.client_id) != message.client_id:
            raise DedupeKeyConflict(
                f"{message.dedupe_column} {key!r} belongs to client {existing['client_id']}"
            )
        message_id, lead_id = existing["id"], existing["lead_id"]
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
        return _by_key(db, message.dedupe_column, key), key
    # Repeats of a content key are stored as "<key>#2", "<key>#3", ...: the range
    # [key, key + "#~") of the UNIQUE index holds exactly the key and its repeats (keys have a
    # fixed length), so finding the latest is one index range scan.
    chain = rows(
        db,
        f"""SELECT id, lead_id, received_at, {message.dedupe_column} AS key FROM messages
            WHERE {message.dedupe_column} >= :key AND {message.dedupe_column} < :end""",
        {"key": key, "end": key + "#~"},
    )
    if not chain:
        return None, key
    latest = max(chain, key=lambda r: (r["received_at"], r["id"]))
    age = (parse_iso(message.received_at) - parse_iso(latest["received_at"])).total_seconds()
    if window == 0 or age <= window:
        return latest, key
    return None, f"{key}#{len(chain) + 1}"


def _by_key(db: Database, column: str, key: str) -> dict | None:
    return one(db, f"SELECT id, lead_id, client_id FROM messages WHERE {column} = ?", (key,))


def _insert(db: Database, message: NewMessage, lead_id: int, key: str) -> int | None:
    row = one(
        db,
        f"""INSERT INTO messages (client_id, lead_id, channel, direction, body, subject, sent_at,
                                  received_at, source, {message.dedupe_column}, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT DO NOTHING RETURNING id""",
        (
            message.client_id,
            lead_id,
            message.channel,
            message.direction,
            message.body,
            message.subject,
            message.sent_at,
            message.received_at,
            message.source,
            key,
            message.received_at,
        ),
    )
    return row["id"] if row else None


def get_message(db: Database, message_id: int) -> dict | None:
    return one(db, "SELECT * FROM messages WHERE id = ?", (message_id,))
