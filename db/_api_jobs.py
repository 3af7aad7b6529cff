"""The storage interface, part 3: background jobs, from enqueue to prune."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from db.records import JobResult, Row
from db.time import iso, utcnow


class JobOperations:
    """Background jobs: enqueue and heal, claims, fenced results, leases, recovery, and
    what operators read and do."""

    write_op: Any
    read_op: Any

    async def enqueue_job(
        self,
        *,
        job_type: str,
        client_id: int,
        lead_id: int | None,
        message_id: int,
        now: str,
        run_at: str | None = None,
    ) -> tuple[int | None, bool]:
        """Create the message's job of this type, or heal it (DESIGN's state table); a job
        pruned after success is never created again: ``(None, False)``."""
        args = (job_type, client_id, lead_id, message_id, now, run_at)
        return await self.write_op("enqueue_job", *args)

    async def claim_jobs(
        self, *, runner_id: str, now: str, limit: int, timeout: float | None = None
    ) -> list[Row]:
        """Claim up to ``limit`` due PENDING jobs, oldest ``run_at`` first."""
        return await self.write_op("claim_jobs", runner_id, now, limit, timeout=timeout)

    async def finish_job(
        self,
        job: Row,
        result: JobResult,
        *,
        runner_id: str,
        now: str,
        claim_limit: int = 0,
        timeout: float | None = None,
    ) -> tuple[bool, list[Row]]:
        """Write how a claim ended (fenced by ``locked_by`` and ``attempts``: False and nothing
        written when the claim was taken away), then claim up to ``claim_limit`` more jobs
        in the same transaction. Returns ``(written, claimed)``."""
        args = (job, result, runner_id, now, claim_limit)
        return await self.write_op("finish_job", *args, timeout=timeout)

    async def release_jobs(
        self,
        jobs: Iterable[Row],
        *,
        runner_id: str,
        now: str,
        reason: str,
        timeout: float | None = None,
    ) -> int:
        """Put this runner's unfinished claims back to PENDING now (not a failure)."""
        args = (list(jobs), runner_id, now, reason)
        return await self.write_op("release_jobs", *args, timeout=timeout)

    async def renew_leases(
        self,
        *,
        runner_id: str,
        job_ids: Iterable[int],
        now: str,
        timeout: float | None = None,
    ) -> list[int]:
        """Move ``locked_at`` of this runner's RUNNING jobs to ``now``; the ids renewed."""
        args = (runner_id, list(job_ids), now)
        return await self.write_op("renew_leases", *args, timeout=timeout)

    async def running_lockers(self) -> list[str]:
        """The distinct ``locked_by`` of RUNNING jobs."""
        return await self.read_op("running_lockers")

    async def recover_jobs(
        self,
        *,
        now: str,
        dead_runners: Iterable[str] = (),
        locked_before: str | None = None,
        keep_ids: Iterable[int] = (),
        timeout: float | None = None,
    ) -> dict[str, list[int]]:
        """Take back RUNNING jobs of dead runners and of expired leases (except
        ``keep_ids``): ``{"released": [...], "failed": [...]}``."""
        args = (now, list(dead_runners), locked_before, list(keep_ids))
        return await self.write_op("recover_jobs", *args, timeout=timeout)

    async def has_due(self, *, now: str) -> bool:
        return await self.read_op("has_due", now)

    async def count_due(self, *, now: str) -> int:
        return await self.read_op("count_due", now)

    async def get_job(self, job_id: int) -> Row | None:
        return await self.read_op("get_job", job_id)

    async def job_stats(self, *, now: str) -> dict[str, Any]:
        return await self.read_op("job_stats", now)

    async def list_jobs(
        self, *, status: str | None = None, job_type: str | None = None, limit: int = 50
    ) -> list[Row]:
        return await self.read_op("list_jobs", status, job_type, limit)

    async def retry_job(self, job_id: int, *, now: str) -> tuple[Row | None, bool]:
        """FAILED → PENDING now, attempts reset: ``(job, retried)``."""
        return await self.write_op("retry_job", job_id, now)

    async def prune_jobs(self, *, before: str, batch: int, now: str | None = None) -> int:
        """Delete up to ``batch`` SUCCEEDED/FAILED jobs finished before ``before``; a
        message's job leaves its key and final status in ``pruned_jobs`` (``pruned_at``:
        ``now``, default the current time), so a redelivery never creates it again after
        success. Returns the number deleted."""
        now = now or iso(utcnow())
        return await self.write_op("prune_jobs", before, batch, now, timeout=60.0)
