"""The storage interface, part 6: the delivery ledger (``deliveries``).

An accepted delivery's row is written by the operation that stores it (``ingest``,
``unsubscribe``: the ``delivery`` argument), in its transaction. The others are here: an
ignored delivery (:meth:`record_ignored`, awaited: it re-checks the token), a rejected one
(:meth:`submit_delivery`: queued without waiting; :meth:`record_deliveries` writes rows the
database could not take before), the reads of the console and ``leadhook deliveries``, and
retention.

Lists come newest received first (``received_at`` then ``id``, descending), ``limit`` rows (at
most 500) older than the row ``before_id`` (keyset). Filters: ``route``, ``outcome``,
``client_id``, ``message_id``, ``replay_of`` (equalities), ``since``/``until`` (``received_at``
bounds, ISO times), ``key`` (a dedupe key, or a provider id stored under a prefix of
``db.vocab.PROVIDER_KEY_PREFIXES``).
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from db.records import NewDelivery, Row


class DeliveryOperations:
    """The ledger's writes without a message, its reads, its retention."""

    write_op: Any
    read_op: Any
    ops: Any
    _submit: Any

    def submit_delivery(self, delivery: NewDelivery) -> Future:
        """Queue a rejected request's row without waiting for its commit (a
        ``concurrent.futures.Future`` of its id; :class:`DatabaseUnavailable` when it could
        not be written: keep it and call :meth:`record_deliveries` later)."""
        return self._submit(self.ops.record_delivery, delivery)

    async def record_delivery(self, delivery: NewDelivery, *, timeout: float | None = None) -> int:
        return await self.write_op("record_delivery", delivery, timeout=timeout)

    async def record_deliveries(
        self, deliveries: list[NewDelivery], *, timeout: float | None = None
    ) -> list[int]:
        """Several rows in one transaction (all or none); their ids."""
        return await self.write_op("record_deliveries", list(deliveries), timeout=timeout)

    async def record_ignored(
        self,
        client_id: int,
        token_hash: str | None,
        delivery: NewDelivery,
        *,
        timeout: float | None = None,
    ) -> None:
        """An ignored delivery's row (``outcome`` ``ignored``), after re-checking the token in
        the same transaction (:class:`TokenRevoked`), as ``ingest`` does. ``token_hash``
        None: an operator's replay, which names its client: refused the same way when the
        client is unknown or disabled. Returns nothing: the row is inserted with the batch's
        other rows (no id comes back)."""
        args = (client_id, token_hash, delivery)
        return await self.write_op("record_ignored", *args, timeout=timeout)

    async def find_deliveries(
        self, filters: dict[str, Any], *, before_id: int | None = None, limit: int = 50
    ) -> list[Row]:
        """Rows matching ``filters`` (module docstring), without ``body`` (``body_kept``
        says whether it is still stored), each with its ``client_name``."""
        return await self.read_op("find_deliveries", filters, before_id, limit)

    async def get_delivery(self, delivery_id: int) -> Row | None:
        """The whole row, body included."""
        return await self.read_op("get_delivery", delivery_id)

    async def delivery_detail(self, delivery_id: int) -> dict[str, Any] | None:
        """``{"delivery", "message", "replay_of", "replays"}``: the row (with
        ``client_name``), the message it stored or matched, the delivery it replayed, and its
        own replays newest first."""
        return await self.read_op("delivery_detail", delivery_id)

    async def deliveries_per_hour(self, *, since: str) -> list[Row]:
        """``{"hour", "route", "outcome", "deliveries"}`` per hour since ``since`` (hours
        without any are left out)."""
        return await self.read_op("deliveries_per_hour", since)

    async def prune_deliveries(self, *, before: str, batch: int) -> int:
        """Delete up to ``batch`` rows received before ``before`` (one short transaction)."""
        return await self.write_op("prune_deliveries", before, batch, timeout=60.0)

    async def prune_delivery_bodies(self, *, before: str, batch: int) -> int:
        """Clear ``body`` of up to ``batch`` rows received before ``before``; the size and
        hash stay."""
        return await self.write_op("prune_delivery_bodies", before, batch, timeout=60.0)
