"""Rejected requests' ledger rows: handed to the writer without waiting, kept until written.

:class:`KeptRows` (a :class:`db.KeptWrites`) queues a row for the group-commit writer
(``Store.submit_delivery``: it joins the batch of whatever commits next; nobody waits for
it). A row the database cannot take now (a full disk, a lock held by another process, the
very condition a ``429`` answers) is kept in memory and written again in batches
(``Store.record_deliveries``) until it is taken.

Bounded: at most :data:`MAX_KEPT` rows, and their bodies at most :data:`MAX_KEPT_BODY_BYTES`
in all (past that a kept row loses its body, not its facts); past :data:`MAX_KEPT` the
oldest rows are dropped and counted in :attr:`KeptRows.dropped`, as are rows refused for a
reason a retry cannot fix.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging

import db
from db import NewDelivery

log = logging.getLogger("leadhook.webhooks")

MAX_KEPT = 10_000
MAX_KEPT_BODY_BYTES = 32 * 1024 * 1024


class KeptRows(db.KeptWrites[NewDelivery]):
    """Writes rejected requests' rows through ``store``, keeping those not yet written."""

    def __init__(
        self,
        store: db.Store,
        *,
        max_kept: int = MAX_KEPT,
        max_body_bytes: int = MAX_KEPT_BODY_BYTES,
        first_retry_seconds: float = db.kept.FIRST_RETRY_SECONDS,
    ) -> None:
        super().__init__(
            store.submit_delivery,
            store.record_deliveries,
            what="ledger row",
            log=log,
            max_kept=max_kept,
            first_retry_seconds=first_retry_seconds,
        )
        self.store = store
        self.max_body_bytes = max_body_bytes
        self._body_bytes = 0

    @property
    def dropped(self) -> int:
        """Rows given up (dropped past the bound, or refused for good)."""
        return self.failed

    def shrink(self, row: NewDelivery) -> NewDelivery:
        size = len(row.body or "")
        if size and self._body_bytes + size > self.max_body_bytes:
            return dataclasses.replace(row, body=None)
        self._body_bytes += size
        return row

    def forget(self, row: NewDelivery) -> None:
        self._body_bytes -= len(row.body or "")

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait for what was submitted, then write what is kept (within ``timeout``); what
        cannot be written stays kept (:meth:`close` counts it)."""
        with contextlib.suppress(db.DatabaseUnavailable):
            await super().flush(timeout, store_flush=self.store.flush)
