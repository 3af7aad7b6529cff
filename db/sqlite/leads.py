"""Leads: matching an incoming contact to a lead of the client, roll-up timestamps, the
unsubscribe rule, and what post-processing sets (sentiment, scores)."""

from __future__ import annotations

from dataclasses import fields

from sqlite_utils import Database

from db.records import LeadFields, phone_digits
from db.sqlite._connection import one, rows
from db.vocab import BLACKLIST_TAG, BLACKLISTED

# Identifiers tried in order; each channel supplies only the ones it has.
_MATCH_ORDER = ("ghl_contact_id", "linkedin_id", "linkedin_url", "email", "phone_digits")
_FILLABLE = ("ghl_contact_id", "email", "phone", "linkedin_id", "linkedin_url")
_FILLABLE += ("first_name", "last_name", "phone_digits")


def find_or_create_lead(
    db: Database,
    client_id: int,
    lead: LeadFields,
    *,
    now: str,
    touch: tuple[str, str] | None = None,
) -> int:
    """Return the id of the client's lead for these identifiers, creating it if none matches.

    A match only fills the lead's blank fields. ``touch = (direction, at)`` also advances the
    roll-ups as :func:`bump_rollups` does, in the same statement. Run inside a write
    transaction (BEGIN IMMEDIATE), so find-then-insert cannot race.
    """
    lead = lead.cleaned()
    values = {f.name: getattr(lead, f.name) for f in fields(lead)}
    values["phone_digits"] = phone_digits(lead.phone)
    found = _best_match(db, client_id, values)
    if found is not None:
        _update_found(db, found, values, now, touch)
        return found
    rollups = {"last_inbound_at": None, "last_outbound_at": None, "last_message_at": None}
    if touch is not None:
        direction, at = touch
        rollups[_rollup_column(direction)] = rollups["last_message_at"] = at
    row = one(
        db,
        """INSERT INTO leads (client_id, ghl_contact_id, email, phone, phone_digits, linkedin_id,
                              linkedin_url, first_name, last_name, status, last_inbound_at,
                              last_outbound_at, last_message_at, created_at, updated_at)
           VALUES (:client_id, :ghl_contact_id, :email, :phone, :phone_digits, :linkedin_id,
                   :linkedin_url, :first_name, :last_name, 'new', :last_inbound_at,
                   :last_outbound_at, :last_message_at, :now, :now)
           RETURNING id""",
        {"client_id": client_id, "now": now, **values, **rollups},
    )
    assert row is not None
    return row["id"]


def _best_match(db: Database, client_id: int, values: dict) -> int | None:
    """One indexed query: the lead matching the first identifier in :data:`_MATCH_ORDER`."""
    present = [c for c in _MATCH_ORDER if values[c] is not None]
    if not present:
        return None
    # A UNION of single-index lookups: an OR over columns would let SQLite scan the client.
    selects = " UNION ALL ".join(
        f"SELECT id, {rank} AS rank FROM leads WHERE client_id = :client_id AND {c} = :{c}"
        + (" COLLATE NOCASE" if c == "email" else "")
        for rank, c in enumerate(present)
    )
    found = one(
        db,
        f"SELECT id FROM ({selects}) ORDER BY rank, id LIMIT 1",
        {"client_id": client_id, **{c: values[c] for c in present}},
    )
    return found["id"] if found else None


def _rollup_column(direction: str) -> str:
    return "last_inbound_at" if direction == "inbound" else "last_outbound_at"


def _update_found(
    db: Database, lead_id: int, values: dict, now: str, touch: tuple[str, str] | None
) -> None:
    """Fill the matched lead's blank fields and, with ``touch``, advance its roll-ups."""
    present = [c for c in _FILLABLE if values.get(c) is not None]
    sets = [f"{c} = COALESCE(NULLIF({c}, ''), :{c})" for c in present]
    params = {c: values[c] for c in present}
    if touch is None:
        if not present:
            return
        blanks = " OR ".join(f"COALESCE({c}, '') = ''" for c in present)
        where = f"id = :id AND ({blanks})"  # write nothing when nothing is blank
    else:
        direction, params["at"] = touch
        column = _rollup_column(direction)
        sets.append(f"{column} = MAX(COALESCE({column}, ''), :at)")
        sets.append("last_message_at = MAX(COALESCE(last_message_at, ''), :at)")
        where = "id = :id"
    db.execute(
        f"UPDATE leads SET {', '.join(sets)}, updated_at = :now WHERE {where}",
        {**params, "now": now, "id": lead_id},
    )


def bump_rollups(db: Database, lead_id: int, *, direction: str, at: str, now: str) -> None:
    """Advance ``last_<direction>_at`` and ``last_message_at`` (never backwards)."""
    column = _rollup_column(direction)
    db.execute(
        f"""UPDATE leads SET {column} = MAX(COALESCE({column}, ''), :at),
                             last_message_at = MAX(COALESCE(last_message_at, ''), :at),
                             updated_at = :now
            WHERE id = :id""",
        {"at": at, "now": now, "id": lead_id},
    )


def get_lead(db: Database, lead_id: int) -> dict | None:
    return one(db, "SELECT * FROM leads WHERE id = ?", (lead_id,))


def mark_unsubscribed(db: Database, client_id: int, lead: LeadFields, now: str) -> int:
    """Blacklist the client's lead for these identifiers (created if none matches).

    Sets status ``blacklisted`` and sentiment tag ``Blacklist`` and rejects the lead's pending
    AI drafts, so nothing is sent to someone who unsubscribed. Idempotent: a lead already
    blacklisted is left as it is. Returns the lead's id. Run inside a write transaction.
    """
    if not lead.has_identifier():
        raise ValueError("mark_unsubscribed needs at least one lead identifier")
    lead_id = find_or_create_lead(db, client_id, lead, now=now)
    db.execute(
        """UPDATE leads SET status = ?, sentiment_tag = ?, updated_at = ?
           WHERE id = ? AND (status IS NOT ? OR sentiment_tag IS NOT ?)""",
        (BLACKLISTED, BLACKLIST_TAG, now, lead_id, BLACKLISTED, BLACKLIST_TAG),
    )
    db.execute(
        """UPDATE ai_drafts SET status = 'rejected', updated_at = ?
           WHERE lead_id = ? AND status = 'pending'""",
        (now, lead_id),
    )
    return lead_id


def set_lead_sentiment(
    db: Database,
    lead_id: int,
    sentiment_tag: str,
    status: str,
    now: str,
    message_id: int | None = None,
) -> bool:
    """Set the lead's ``sentiment_tag`` and ``status`` from the tag of ``message_id``.

    Nothing changes (False) when there is no such lead, when the lead is ``blacklisted`` and
    the tag is not ``Blacklist`` (an opt-out is never undone by a later classification), or
    when the lead has an inbound message newer than ``message_id`` (by ``sent_at``, then
    id): a late job for an older reply never overrides the newer reply's tag. Without
    ``message_id`` only the first two rules apply.
    """
    found = one(
        db,
        """UPDATE leads SET sentiment_tag = :tag, status = :status, updated_at = :now
           WHERE id = :lead
             AND (status != 'blacklisted' OR :tag = 'Blacklist')
             AND NOT EXISTS (
                 SELECT 1 FROM messages AS this JOIN messages AS newer
                   ON newer.lead_id = :lead AND newer.direction = 'inbound'
                  AND (newer.sent_at > this.sent_at
                       OR (newer.sent_at = this.sent_at AND newer.id > this.id))
                 WHERE this.id = :message)
           RETURNING id""",
        {
            "tag": sentiment_tag,
            "status": status,
            "now": now,
            "lead": lead_id,
            "message": message_id,
        },
    )
    return found is not None


def set_lead_score(
    db: Database,
    lead_id: int,
    fit: int,
    intent: int,
    overall: int,
    reasoning: str,
    now: str,
) -> bool:
    """Store the lead's scores (1–4), reasoning and ``scored_at``; False if there is no lead."""
    found = one(
        db,
        """UPDATE leads SET fit_score = ?, intent_score = ?, overall_score = ?,
                            score_reasoning = ?, scored_at = ?, updated_at = ?
           WHERE id = ? RETURNING id""",
        (fit, intent, overall, reasoning, now, now, lead_id),
    )
    return found is not None


def recent_transcript(db: Database, lead_id: int, limit: int = 20) -> list[dict]:
    """The lead's last ``limit`` messages, oldest first (for prompts)."""
    found = rows(
        db,
        """SELECT id, channel, direction, subject, body, sent_at FROM messages
           WHERE lead_id = ? ORDER BY sent_at DESC, id DESC LIMIT ?""",
        (lead_id, limit),
    )
    found.reverse()
    return found
