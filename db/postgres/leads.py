"""Leads on Postgres: matching a contact to a lead of the client, roll-ups, the lead state
rules, and what post-processing sets (as :mod:`db.sqlite.leads`).

Finding or creating a lead is a read then a write; SQLite's single writer serialises it, here
:func:`find_or_create_lead` first takes a transaction advisory lock on each identifier it
was given (client, column, value), so two deliveries of one contact in two processes create
one lead. The state rules stay in the statements themselves, as on SQLite.
"""

from __future__ import annotations

from dataclasses import fields

import psycopg

from db.postgres._sql import lock_keys, one, rows
from db.records import LeadFields, phone_digits, rollup_column
from db.vocab import BLACKLIST_TAG, BLACKLISTED, DEFAULT_LEAD_STATUS, OPTED_OUT_SCORES

OPTED_OUT = "(opted_out_at IS NOT NULL OR status = 'blacklisted')"
_MATCH_ORDER = ("ghl_contact_id", "linkedin_id", "linkedin_url", "email", "phone_digits")
_FILLABLE = ("ghl_contact_id", "email", "phone", "linkedin_id", "linkedin_url")
_FILLABLE += ("first_name", "last_name", "phone_digits")


def find_or_create_lead(
    conn: psycopg.Connection,
    client_id: int,
    lead: LeadFields,
    *,
    now: str,
    touch: tuple[str, str] | None = None,
    savepoint: str = "",
) -> int:
    """The id of the client's lead for these identifiers, created if none matches (see
    :func:`db.sqlite.leads.find_or_create_lead`). ``savepoint``: a SAVEPOINT to open first,
    in the same round trip as the locks."""
    lead = lead.cleaned()
    values = {f.name: getattr(lead, f.name) for f in fields(lead)}
    values["phone_digits"] = phone_digits(lead.phone)
    present = [c for c in _MATCH_ORDER if values[c] is not None]
    keys = [f"lead:{client_id}:{c}:{values[c]}" for c in present]
    lock_keys(conn, keys, before=f"SAVEPOINT {savepoint}" if savepoint else "")
    found = _best_match(conn, client_id, values)
    if found is None:
        found = _insert(conn, client_id, values, now, touch)
        if found is not None:
            return found
        found = _best_match(conn, client_id, values)  # lost a unique race after all
        assert found is not None
    _update_found(conn, found, values, now, touch)
    return found


def _insert(
    conn: psycopg.Connection, client_id: int, values: dict, now: str, touch: tuple | None
) -> int | None:
    rollups = {"last_inbound_at": None, "last_outbound_at": None, "last_message_at": None}
    if touch is not None:
        direction, at = touch
        rollups[rollup_column(direction)] = rollups["last_message_at"] = at
    row = one(
        conn,
        """INSERT INTO leads (client_id, ghl_contact_id, email, phone, phone_digits, linkedin_id,
                              linkedin_url, first_name, last_name, status, last_inbound_at,
                              last_outbound_at, last_message_at, created_at, updated_at)
           VALUES (%(client_id)s, %(ghl_contact_id)s, %(email)s, %(phone)s, %(phone_digits)s,
                   %(linkedin_id)s, %(linkedin_url)s, %(first_name)s, %(last_name)s, 'new',
                   %(last_inbound_at)s, %(last_outbound_at)s, %(last_message_at)s,
                   %(now)s, %(now)s)
           ON CONFLICT DO NOTHING RETURNING id""",
        {"client_id": client_id, "now": now, **values, **rollups},
    )
    return row["id"] if row else None


def _best_match(conn: psycopg.Connection, client_id: int, values: dict) -> int | None:
    present = [c for c in _MATCH_ORDER if values[c] is not None]
    if not present:
        return None
    selects = " UNION ALL ".join(
        f"SELECT id, {rank} AS rank FROM leads WHERE client_id = %(client_id)s AND "
        + (f"lower({c}) = lower(%({c})s)" if c == "email" else f"{c} = %({c})s")
        for rank, c in enumerate(present)
    )
    found = one(
        conn,
        f"SELECT id FROM ({selects}) AS matches ORDER BY rank, id LIMIT 1",
        {"client_id": client_id, **{c: values[c] for c in present}},
    )
    return found["id"] if found else None


def _update_found(
    conn: psycopg.Connection, lead_id: int, values: dict, now: str, touch: tuple | None
) -> None:
    present = [c for c in _FILLABLE if values.get(c) is not None]
    sets = [f"{c} = COALESCE(NULLIF({c}, ''), %({c})s)" for c in present]
    params = {c: values[c] for c in present}
    if touch is None:
        if not present:
            return
        blanks = " OR ".join(f"COALESCE({c}, '') = ''" for c in present)
        where = f"id = %(id)s AND ({blanks})"
    else:
        direction, params["at"] = touch
        column = rollup_column(direction)
        sets.append(f"{column} = GREATEST({column}, %(at)s::timestamptz)")
        sets.append("last_message_at = GREATEST(last_message_at, %(at)s::timestamptz)")
        where = "id = %(id)s"
    conn.execute(
        f"UPDATE leads SET {', '.join(sets)}, updated_at = %(now)s WHERE {where}",
        {**params, "now": now, "id": lead_id},
    )


def bump_rollups(
    conn: psycopg.Connection, lead_id: int, *, direction: str, at: str, now: str
) -> None:
    column = rollup_column(direction)
    conn.execute(
        f"""UPDATE leads SET {column} = GREATEST({column}, %(at)s::timestamptz),
                             last_message_at = GREATEST(last_message_at, %(at)s::timestamptz),
                             updated_at = %(now)s
            WHERE id = %(id)s""",
        {"at": at, "now": now, "id": lead_id},
    )


def get_lead(conn: psycopg.Connection, lead_id: int) -> dict | None:
    return one(conn, "SELECT * FROM leads WHERE id = %s", (lead_id,))


def mark_unsubscribed(conn: psycopg.Connection, client_id: int, lead: LeadFields, now: str) -> int:
    if not lead.has_identifier():
        raise ValueError("mark_unsubscribed needs at least one lead identifier")
    lead_id = find_or_create_lead(conn, client_id, lead, now=now)
    opt_out(conn, lead_id, now)
    return lead_id


def opt_out(conn: psycopg.Connection, lead_id: int, now: str) -> bool:
    found = one(
        conn,
        """UPDATE leads SET status = %(status)s, sentiment_tag = %(tag)s,
                            opted_out_at = COALESCE(opted_out_at, %(now)s), updated_at = %(now)s
           WHERE id = %(id)s RETURNING id""",
        {"status": BLACKLISTED, "tag": BLACKLIST_TAG, "now": now, "id": lead_id},
    )
    conn.execute(
        """UPDATE ai_drafts SET status = 'rejected', updated_at = %s
           WHERE lead_id = %s AND status = 'pending'""",
        (now, lead_id),
    )
    return found is not None


def opt_in_lead(
    conn: psycopg.Connection, lead_id: int, now: str
) -> tuple[dict | None, dict | None]:
    before = one(
        conn,
        "SELECT id, status, sentiment_tag, opted_out_at FROM leads WHERE id = %s FOR UPDATE",
        (lead_id,),
    )
    if before is None or (before["opted_out_at"] is None and before["status"] != BLACKLISTED):
        return before, None
    after = one(
        conn,
        """UPDATE leads SET status = %(status)s, sentiment_tag = NULL, opted_out_at = NULL,
                            updated_at = %(now)s
           WHERE id = %(id)s RETURNING id, status, sentiment_tag, opted_out_at""",
        {"status": DEFAULT_LEAD_STATUS, "now": now, "id": lead_id},
    )
    return before, after


def set_lead_sentiment(
    conn: psycopg.Connection,
    lead_id: int,
    sentiment_tag: str,
    status: str,
    now: str,
    message_id: int | None = None,
) -> bool:
    if sentiment_tag == BLACKLIST_TAG:
        return opt_out(conn, lead_id, now)
    found = one(
        conn,
        f"""UPDATE leads SET sentiment_tag = %(tag)s, status = %(status)s, updated_at = %(now)s
           WHERE id = %(lead)s
             AND NOT {OPTED_OUT}
             AND NOT EXISTS (
                 SELECT 1 FROM messages AS this JOIN messages AS newer
                   ON newer.lead_id = %(lead)s AND newer.direction = 'inbound'
                  AND (newer.sent_at > this.sent_at
                       OR (newer.sent_at = this.sent_at AND newer.id > this.id))
                 WHERE this.id = %(message)s)
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
    conn: psycopg.Connection,
    lead_id: int,
    fit: int,
    intent: int,
    overall: int,
    reasoning: str,
    now: str,
) -> bool:
    q_fit, q_intent, q_overall, q_reasoning = OPTED_OUT_SCORES
    found = one(
        conn,
        f"""UPDATE leads SET
               fit_score = CASE WHEN {OPTED_OUT} THEN %(q_fit)s ELSE %(fit)s END,
               intent_score = CASE WHEN {OPTED_OUT} THEN %(q_intent)s ELSE %(intent)s END,
               overall_score = CASE WHEN {OPTED_OUT} THEN %(q_overall)s ELSE %(overall)s END,
               score_reasoning = CASE WHEN {OPTED_OUT} THEN %(q_reasoning)s::text
                                      ELSE %(reasoning)s::text END,
               scored_at = %(now)s, updated_at = %(now)s
           WHERE id = %(id)s RETURNING id""",
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


def recent_transcript(conn: psycopg.Connection, lead_id: int, limit: int = 20) -> list[dict]:
    found = rows(
        conn,
        """SELECT id, channel, direction, subject, body, sent_at FROM messages
           WHERE lead_id = %s ORDER BY sent_at DESC, id DESC LIMIT %s""",
        (lead_id, limit),
    )
    found.reverse()
    return found
