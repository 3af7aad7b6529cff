"""The AI client's recorder: every ``ai_interactions`` row is kept until it is written.

A call's row is handed to the store without waiting (``Store.submit_interaction``: a few
microseconds on the call path). The AI has been paid by then, so a row the database cannot
take now is not dropped: :class:`InteractionRecorder` (a :class:`db.KeptWrites`) keeps it in
memory and writes it again in batches (``Store.record_interactions``, one transaction) until
the database takes it; :meth:`InteractionRecorder.flush` (at shutdown) writes what is still
kept. At most :data:`MAX_PENDING` rows are kept (about 2 KB each); ``failed`` counts the rows
given up.
"""

from __future__ import annotations

import logging
from typing import Any

import db

log = logging.getLogger("leadhook.ai")

MAX_PENDING = 10_000


class InteractionRecorder(db.KeptWrites[dict[str, Any]]):
    """Writes ``ai_interactions`` rows through ``store``, keeping those not yet written."""

    def __init__(
        self,
        store: db.Store,
        *,
        max_pending: int = MAX_PENDING,
        first_retry_seconds: float = db.kept.FIRST_RETRY_SECONDS,
        max_retry_seconds: float = db.kept.MAX_RETRY_SECONDS,
    ) -> None:
        super().__init__(
            store.submit_interaction,
            store.record_interactions,
            what="AI interaction row",
            log=log,
            max_kept=max_pending,
            first_retry_seconds=first_retry_seconds,
            max_retry_seconds=max_retry_seconds,
        )
        self.store = store

    def record(self, row: dict[str, Any]) -> None:
        """Hand ``row`` to the store without waiting; never raises."""
        self.submit(row)

    async def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until every row recorded so far is committed, writing the kept ones now.

        Raises :class:`db.DatabaseUnavailable` when they could not all be written in time."""
        await super().flush(timeout, store_flush=self.store.flush)
