"""Reads made of other reads, written once for every backend: each takes the backend's table
of operations (``db.sqlite.ops``, ``db.postgres.ops``) and runs them on one connection, so a
job reads what it needs in one hop to a reader instead of one per row (under load each hop
waits its turn: ``docs/performance.md``)."""

from __future__ import annotations

from typing import Any

from db.records import Row


def inbound_context(ops: Any, conn: Any, message_id: int, transcript_limit: int) -> Row:
    """What an inbound job reads: ``{"message", "lead", "sentiment", "draft", "transcript"}``:
    the message, its lead, its kept classification, its draft for its own channel (each row or
    None) and the lead's last ``transcript_limit`` messages, oldest first (``[]`` without a
    lead). Only ``message`` is read when the message is gone."""
    context: Row = {"message": None, "lead": None, "sentiment": None, "draft": None}
    context["transcript"] = []
    message = context["message"] = ops.get_message(conn, message_id)
    if message is None:
        return context
    context["sentiment"] = ops.get_sentiment(conn, message_id)
    context["draft"] = ops.get_draft(conn, message_id, message["channel"])
    lead = context["lead"] = ops.get_lead(conn, message["lead_id"])
    if lead is not None:
        context["transcript"] = ops.recent_transcript(conn, lead["id"], transcript_limit)
    return context


def scoring_context(ops: Any, conn: Any, lead_id: int, transcript_limit: int) -> Row:
    """What a scoring job reads: ``{"lead", "transcript"}`` (None and ``[]`` when the lead is
    gone)."""
    lead = ops.get_lead(conn, lead_id)
    if lead is None:
        return {"lead": None, "transcript": []}
    return {"lead": lead, "transcript": ops.recent_transcript(conn, lead_id, transcript_limit)}
