"""The storage interface, part 5: what the operator console and the day-two commands read
and do (``leadhook jobs discard``, ``leads``, ``drafts``; the console's pages and actions).

Lists come newest first, ``limit`` rows (at most 500) with ``id < before_id``: pass the last
id of a page to get the next (keyset pagination, never OFFSET). Filters are plain dicts of
equalities (``status``, ``type``, ``client_id``, ``lead_id``) plus, for jobs, ``error`` (a
case-insensitive substring of ``last_error``). An action that is refused says why: it returns
``(row, reason)`` with ``reason`` None when it was done.
"""

from __future__ import annotations

from typing import Any

from db.records import Row

RETRY_ALL_BATCH = 500


class ConsoleOperations:
    """The console's reads and actions; each one transaction (retry-all: one per batch)."""

    write_op: Any
    read_op: Any

    # -- overview, jobs ------------------------------------------------------------------------

    async def console_overview(self, *, now: str) -> dict[str, Any]:
        """``by_status`` (every status, 0 included), ``oldest_due`` (id, type, run_at of the
        PENDING job due longest, or None), ``failed_24h`` (jobs that ended FAILED in the 24
        hours before ``now``, discarded ones left out), ``messages_total``, ``clients``,
        ``disabled_clients``, ``leads_total``."""
        return await self.read_op("console_overview", now)

    async def find_jobs(
        self, filters: dict[str, Any], *, before_id: int | None = None, limit: int = 50
    ) -> list[Row]:
        """Jobs matching ``filters``, newest first; each row has its ``client_name``."""
        return await self.read_op("find_jobs", filters, before_id, limit)

    async def count_retryable(self, filters: dict[str, Any]) -> dict[str, Any]:
        """``{"count", "upto_id"}``: the FAILED jobs matching ``filters`` that retry-all
        would retry (discarded ones are left out), and the highest id among them."""
        return await self.read_op("count_retryable", filters)

    async def retry_failed_jobs(
        self, filters: dict[str, Any], *, upto_id: int, now: str, batch: int = RETRY_ALL_BATCH
    ) -> int:
        """Retry-all: every FAILED job matching ``filters`` with ``id <= upto_id`` (the id
        :meth:`count_retryable` gave with the confirmed count; later failures are not
        included), discarded ones left out, back to PENDING now as :meth:`retry_job` does.
        One transaction per ``batch`` jobs, so webhooks are never held up; returns how many
        were retried."""
        total = 0
        while True:
            done = await self.write_op("retry_failed_jobs", filters, upto_id, now, batch)
            total += done
            if done < batch:
                return total

    async def discard_job(self, job_id: int, *, now: str) -> tuple[Row | None, str | None]:
        """A PENDING or FAILED job is set aside for good: FAILED, ``last_error`` starting
        ``discarded by operator`` (``db.vocab.DISCARDED``), never claimed, left out of
        retry-all. Refused for a RUNNING or SUCCEEDED job and for one already discarded."""
        return await self.write_op("discard_job", job_id, now)

    async def job_detail(self, job_id: int) -> dict[str, Any] | None:
        """``{"job", "message", "lead", "interactions"}`` (the job's AI rows, oldest first)."""
        return await self.read_op("job_detail", job_id)

    # -- leads and drafts ----------------------------------------------------------------------

    async def list_leads(
        self, filters: dict[str, Any], *, before_id: int | None = None, limit: int = 50
    ) -> list[Row]:
        """Leads by ``client_id``/``status``, newest first, with ``client_name``."""
        return await self.read_op("list_leads", filters, before_id, limit)

    async def lead_timeline(self, lead_id: int) -> dict[str, Any] | None:
        """``{"lead", "messages", "changes", "drafts", "spend"}``: the newest 200 messages,
        changes of status/sentiment/scores (``lead_changes``) and drafts, newest first, and
        the AI calls spent on the lead by feature."""
        return await self.read_op("lead_timeline", lead_id)

    async def list_drafts(
        self, filters: dict[str, Any], *, before_id: int | None = None, limit: int = 50
    ) -> list[Row]:
        """Drafts by ``status``/``client_id``/``lead_id``, newest first, with
        ``lead_status`` and ``client_name``."""
        return await self.read_op("list_drafts", filters, before_id, limit)

    async def get_draft_by_id(self, draft_id: int) -> Row | None:
        return await self.read_op("get_draft_by_id", draft_id)

    async def approve_draft(self, draft_id: int, *, now: str) -> tuple[Row | None, str | None]:
        """pending → approved, refused when the lead is blacklisted (checked in the same
        transaction) or the draft is not pending."""
        return await self.write_op("approve_draft", draft_id, now)

    async def reject_draft(self, draft_id: int, *, now: str) -> tuple[Row | None, str | None]:
        """pending → rejected; refused when the draft is not pending."""
        return await self.write_op("reject_draft", draft_id, now)

    # -- AI spend, the database ----------------------------------------------------------------

    async def ai_spend(self, by: str, *, since: str, until: str) -> dict[str, Any]:
        """The spend report of the roll-ups for ``[since, until)`` by ``source``,
        ``feature``, ``model`` or ``client``: ``{"by", "since", "until", "groups",
        "total"}`` with the figures of :meth:`ai_report` (p50/p95 within 5 %)."""
        return await self.read_op("ai_spend", by, since, until)

    async def ai_spend_series(
        self, by: str, *, since: str, until: str, bucket: str = "day"
    ) -> list[Row]:
        """Calls, errors, tokens, cost and unpriced calls per ``hour``/``day`` and group."""
        return await self.read_op("ai_spend_series", by, since, until, bucket)

    async def database_about(self) -> dict[str, Any]:
        """The backend, migrations applied (``name``, ``applied_at``), size in bytes."""
        return await self.read_op("database_about")
