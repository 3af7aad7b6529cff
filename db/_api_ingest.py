"""The storage interface, part 2: what webhooks store, and what post-processing reads and writes."""

from __future__ import annotations

from typing import Any

from db.records import IngestResult, LeadFields, NewDelivery, NewMessage, Row


class IngestOperations:
    """Deliveries stored exactly once, unsubscribes, and the post-process jobs' reads and writes."""

    write_op: Any
    read_op: Any

    async def ingest(
        self,
        client_id: int,
        token_hash: str | None,
        message: NewMessage,
        lead: LeadFields,
        *,
        delivery: NewDelivery | None = None,
        timeout: float | None = None,
    ) -> IngestResult:
        """Store a delivered message exactly once, with its lead and post-process job.

        In one transaction: the token is checked again (:class:`TokenRevoked`), the lead is
        matched or created, the message inserted unless its dedupe value is stored (then the
        delivery is a duplicate and changes no lead field), an inbound SMS carrier opt-out
        keyword opts the lead out, the message's ``sentiment_hint`` is applied (also to a
        duplicate), and the job created or healed (DESIGN's state table; never again after
        it succeeded, even once pruned). Dedupe values are the client's own: another
        client's message with the same value is neither matched nor in the way.

        ``delivery``: the request's ledger row, written in the same transaction with the
        outcome (``stored`` or ``deduped``), the message's id and the answer. ``token_hash``
        None is an operator's replay (:meth:`record_ignored` says what is checked then).
        """
        args = (client_id, token_hash, message, lead, delivery)
        return await self.write_op("ingest", *args, timeout=timeout)

    async def unsubscribe(
        self,
        client_id: int,
        token_hash: str | None,
        lead: LeadFields,
        now: str,
        *,
        delivery: NewDelivery | None = None,
        timeout: float | None = None,
    ) -> int:
        """Opt the client's lead out (created if unknown): ``blacklisted``, ``Blacklist``,
        ``opted_out_at`` (the first one kept), pending drafts rejected, whatever the order of
        its messages; returns the lead's id. Idempotent. The token is checked as in
        :meth:`ingest`; ``delivery`` is its ledger row (``stored``), in the same transaction."""
        args = (client_id, token_hash, lead, now, delivery)
        return await self.write_op("unsubscribe", *args, timeout=timeout)

    # -- what the post-process jobs read and write ------------------------------------------

    async def get_message(self, message_id: int) -> Row | None:
        return await self.read_op("get_message", message_id)

    async def get_lead(self, lead_id: int) -> Row | None:
        return await self.read_op("get_lead", lead_id)

    async def recent_transcript(self, lead_id: int, limit: int = 20) -> list[Row]:
        """The lead's last ``limit`` messages, oldest first (for prompts)."""
        return await self.read_op("recent_transcript", lead_id, limit)

    async def set_lead_sentiment(
        self, lead_id: int, tag: str, status: str, *, now: str, message_id: int | None = None
    ) -> bool:
        """Set the lead's tag and status from ``message_id``'s sentiment. ``Blacklist`` opts
        the lead out whatever the order (True); another tag changes nothing (False) when the
        lead has opted out or has a newer inbound message (by ``sent_at``)."""
        args = (lead_id, tag, status, now, message_id)
        return await self.write_op("set_lead_sentiment", *args, timeout=30.0)

    async def get_sentiment(self, message_id: int) -> Row | None:
        """The message's own classification (``sentiment_tag``, ``classified_by``: ``rule``
        or ``ai``), kept by :meth:`record_sentiment`; None when it was never classified."""
        return await self.read_op("get_sentiment", message_id)

    async def record_sentiment(
        self,
        message_id: int,
        lead_id: int,
        tag: str,
        status: str,
        *,
        classified_by: str,
        now: str,
    ) -> bool:
        """Keep the message's classification (the first one kept stays) and, in the same
        transaction, apply it to the lead as :meth:`set_lead_sentiment` does; returns
        whether the lead changed."""
        args = (message_id, lead_id, tag, status, classified_by, now)
        return await self.write_op("record_sentiment", *args, timeout=30.0)

    async def get_draft(self, message_id: int, channel: str) -> Row | None:
        return await self.read_op("get_draft", message_id, channel)

    async def inbound_context(self, message_id: int, transcript_limit: int = 20) -> Row:
        """An inbound job's reads in one: ``{"message", "lead", "sentiment", "draft",
        "transcript"}`` as :meth:`get_message`, :meth:`get_lead`, :meth:`get_sentiment`,
        :meth:`get_draft` (the message's channel) and :meth:`recent_transcript` give them."""
        return await self.read_op("inbound_context", message_id, transcript_limit)

    async def scoring_context(self, lead_id: int, transcript_limit: int = 20) -> Row:
        """A scoring job's reads in one: ``{"lead", "transcript"}``."""
        return await self.read_op("scoring_context", lead_id, transcript_limit)

    async def insert_draft(
        self, client_id: int, lead_id: int, message_id: int, channel: str, body: str, *, now: str
    ) -> tuple[int, bool]:
        """The draft for (message, channel) unless one exists: ``(draft_id, created)``. It is
        stored ``rejected`` when the lead has opted out (checked by the insert itself)."""
        args = (client_id, lead_id, message_id, channel, body, now)
        return await self.write_op("insert_draft", *args, timeout=30.0)

    async def set_lead_score(
        self, lead_id: int, fit: int, intent: int, overall: int, reasoning: str, *, now: str
    ) -> bool:
        """Store the lead's scores; a lead opted out meanwhile gets the disqualified score
        (``db.vocab.OPTED_OUT_SCORES``) instead, decided by the write. False if no lead."""
        args = (lead_id, fit, intent, overall, reasoning, now)
        return await self.write_op("set_lead_score", *args, timeout=30.0)

    async def finish_inbound(self, message: Row, *, now: str) -> tuple[int | None, bool]:
        """After an inbound message's post-processing: advance the lead's roll-ups and
        enqueue its ``LEAD_SCORING_POST_PROCESS`` job; returns ``(job_id, enqueued)``."""
        return await self.write_op("finish_inbound", message, now, timeout=10.0)
