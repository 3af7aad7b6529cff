"""The storage interface, part 4: AI telemetry (``ai_interactions``) and the spend report."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from db.records import Row


class TelemetryOperations:
    """AI calls recorded (also without waiting), listed, reported, pruned."""

    write_op: Any
    read_op: Any
    ops: Any
    _submit: Any

    def submit_interaction(self, row: Row) -> Future:
        """Queue an ``ai_interactions`` row without waiting for its commit."""
        return self._submit(self.ops.record_interaction, row)

    async def record_interaction(self, row: Row) -> int:
        return await self.write_op("record_interaction", row)

    async def record_interactions(
        self, rows: list[Row], *, timeout: float | None = None
    ) -> list[int]:
        """Store several ``ai_interactions`` rows in one transaction (all or none); their ids."""
        return await self.write_op("record_interactions", list(rows), timeout=timeout)

    async def list_interactions(self, **equal: Any) -> list[Row]:
        """``ai_interactions`` rows, oldest first, filtered by ``column=value``."""
        return await self.read_op("list_interactions", equal)

    async def unattributed_interactions(self) -> list[Row]:
        return await self.read_op("unattributed_interactions")

    async def ai_report(self, by: str = "source", since: str | None = None) -> dict[str, Any]:
        """Calls, errors, tokens, cost and latency p50/p95 by ``source``/``feature``/``model``."""
        return await self.read_op("ai_report", by, since)

    async def prune_interactions(self, *, before: str, batch: int) -> int:
        return await self.write_op("prune_interactions", before, batch, timeout=60.0)
