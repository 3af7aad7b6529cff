"""Leads: matching an incoming contact to a lead of the client, roll-up timestamps, the lead
state rules, and what post-processing sets (sentiment, scores).

The lead state rules live in the statements themselves, never in a read before a write: an
opt-out (:func:`opt_out`: an unsubscribe, an SMS carrier keyword, a Blacklist sentiment) is
final whatever the order of messages and jobs; only :func:`opt_in_lead` lifts it; no other
tag is set on an opted-out lead (:func:`set_lead_sentiment`), and its score is the
disqualified one (:func:`set_lead_score`).
"""

from __future__ import annotations

from dataclasses import fields

from sqlite_utils import Database

from db.records import LeadFields, phone_digits, rollup_column
from db.sqlite._connection import one, rows
from db.vocab import BLACKLIST_TAG, BLACKLISTED, DEFAULT_LEAD_STATUS, OPTED_OUT_SCORES

# Whether a lead row has opted out (the column, or a status set by hand in the sqlite3 shell).
OPTED_OUT = "(opted_out_at IS NOT NULL OR status = 'blacklisted')"

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
        rollups[rollup_column(direction)] = rollups["last_message_at"] = at
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
        column = rollup_column(direction)
        sets.append(f"{column} = MAX(COALESCE({column}, ''), :at)")
        sets.append("last_message_at = MAX(COALESCE(last_message_at, ''), :at)")
        where = "id = :id"
    db.execute(
        f"UPDATE leads SET {', '.join(sets)}, updated_at = :now WHERE {where}",
        {**params, "now": now, "id": lead_id},
    )


def bump_rollups(db: Database, lead_id: int, *, direction: str, at: str, now: str) -> None:
    """Advance ``last_<direction>_at`` and ``last_message_at`` (never backwards)."""
    column = rollup_column(direction)
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
    """Opt the client's lead for these identifiers out (created if none matches), in the
    caller's transaction (:func:`opt_out`). Idempotent. Returns the lead's id."""
    if not lead.has_identifier():
        raise ValueError("mark_unsubscribed needs at least one lead identifier")
    lead_id = find_or_create_lead(db, client_id, lead, now=now)
    opt_out(db, lead_id, now)
    return lead_id


def opt_out(db: Database, lead_id: int, now: str) -> bool:
    """The opt-out rule (final): ``status = 'blacklisted'``, ``sentiment_tag = 'Blacklist'``,
    ``opted_out_at`` (kept from the first opt-out), and the lead's pending drafts rejected,
    whatever the order of its messages. False if there is no such lead."""
    found = one(
        db,
        """UPDATE leads SET status = :status, sentiment_tag = :tag,
                            opted_out_at = COALESCE(opted_out_at, :now), updated_at = :now
           WHERE id = :id RETURNING id""",
        {"status": BLACKLISTED, "tag": BLACKLIST_TAG, "now": now, "id": lead_id},
    )
    db.execute(
        """UPDATE ai_drafts SET status = 'rejected', updated_at = ?
           WHERE lead_id = ? AND status = 'pending'""",
        (now, lead_id),
    )
    return found is not None


def opt_in_lead(db: Database, lead_id: int, now: str) -> tuple[dict | None, dict | None]:
    """Lift the lead's opt-out (the operator's ``leadhook leads opt-in``): status ``new``,
    no sentiment tag, ``opted_out_at`` NULL. Returns ``(before, after)``: the lead's
    ``status``, ``sentiment_tag`` and ``opted_out_at`` before and after; ``after`` is None
    when the lead was not opted out (nothing changed), both None when there is no lead."""
    before = one(
        db, "SELECT id, status, sentiment_tag, opted_out_at FROM leads WHERE id = ?", (lead_id,)
    )
    if before is None or (before["opted_out_at"] is None and before["status"] != BLACKLISTED):
        return before, None
    after = one(
        db,
        """UPDATE leads SET status = :status, sentiment_tag = NULL, opted_out_at = NULL,
                            updated_at = :now
           WHERE id = :id RETURNING id, status, sentiment_tag, opted_out_at""",
        {"status": DEFAULT_LEAD_STATUS, "now": now, "id": lead_id},
    )
    return before, after


def set_lead_sentiment(
    db: Database,
    lead_id: int,
    sentiment_tag: str,
    status: str,
    now: str,
    message_id: int | None = None,
) -> bool:
    """Set the lead's ``sentiment_tag`` and ``status`` from the tag of ``message_id``.

    ``Blacklist`` is an opt-out (:func:`opt_out`), whatever the order of the messages: True
    when the lead exists. Any other tag changes nothing (False) when there is no such lead,
    when the lead has opted out (``opted_out_at``: an opt-out is final), or when the lead has
    an inbound message newer than ``message_id`` (by ``sent_at``, then id): a late job for an
    older reply never overrides the newer reply's tag. Without ``message_id`` only the first
    two rules apply. The checks are the update's own ``WHERE``: one statement.
    """
    if sentiment_tag == BLACKLIST_TAG:
        return opt_out(db, lead_id, now)
    found = one(
        db,
        f"""UPDATE leads SET sentiment_tag = :tag, status = :status, updated_at = :now
           WHERE id = :lead
             AND NOT {OPTED_OUT}
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
    """Store the lead's scores (1–4), reasoning and ``scored_at``; False if there is no lead.

    A lead that has opted out (``opted_out_at``, also meanwhile, while the score was being
    computed) gets :data:`db.vocab.OPTED_OUT_SCORES` instead, decided by this statement.
    """
    q_fit, q_intent, q_overall, q_reasoning = OPTED_OUT_SCORES
    found = one(
        db,
        f"""UPDATE leads SET
               fit_score = CASE WHEN {OPTED_OUT} THEN :q_fit ELSE :fit END,
               intent_score = CASE WHEN {OPTED_OUT} THEN :q_intent ELSE :intent END,
               overall_score = CASE WHEN {OPTED_OUT} THEN :q_overall ELSE :overall END,
               score_reasoning = CASE WHEN {OPTED_OUT} THEN :q_reasoning ELSE :reasoning END,
               scored_at = :now, updated_at = :now
           WHERE id = :id RETURNING id""",
        {
            "fit": fit,
            "intent": intent,
            "overall": overall,
            "reasoning": reasoning,
            "q_fit": q_fit,
            "q_intent": q_intent,
            "q_overall": q_overall,
            "q_reasoning": q_reasoning,
            "now": now,
            "id": lead_id,
        },
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
