"""The storage interface, part 5: what operators do to leads (``leadhook leads``)."""

from __future__ import annotations

from typing import Any

from db.records import Row


class LeadOperations:
    """Operator actions on leads. The lead state rules themselves live in the writes that
    could break them (``ingest``, ``unsubscribe``, ``set_lead_sentiment``, ``insert_draft``,
    ``set_lead_score``); this is the one way to lift an opt-out."""

    write_op: Any
    read_op: Any

    async def opt_in_lead(self, lead_id: int, *, now: str) -> tuple[Row | None, Row | None]:
        """Lift the lead's opt-out: status ``new``, no sentiment tag, ``opted_out_at`` NULL
        (drafts stay rejected, scores stay until the lead is scored again).

        Returns ``(before, after)``, each ``{"id", "status", "sentiment_tag",
        "opted_out_at"}``: ``after`` is None when the lead had not opted out (nothing
        changed); both are None when there is no such lead.
        """
        return await self.write_op("opt_in_lead", lead_id, now)
