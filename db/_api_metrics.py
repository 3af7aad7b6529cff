"""The storage interface, part 6: what ``GET /metrics`` reads at scrape time (its gauges).

Indexed reads only, so that a scrape every few seconds costs little whatever the table's size:
the counts come from one pass over the ``(status, type)`` index (never the table's rows), the
oldest due job from the ``(status, run_at)`` index (one entry).
"""

from __future__ import annotations

from typing import Any


class MetricsOperations:
    """Reads of the metrics endpoint."""

    read_op: Any

    async def job_gauges(self, *, now: str) -> dict[str, Any]:
        """``jobs``: ``[{"type", "status", "jobs"}]`` for every type and status that has at
        least one job, ordered by status then type; ``oldest_due_run_at``: the ``run_at`` of
        the PENDING job due longest (``run_at <= now``), or None when none is due."""
        return await self.read_op("job_gauges", now)
