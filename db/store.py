"""The storage interface: named operations, each one transaction.

Callers never see a connection, a cursor, SQL or a driver's exception. They call a method of
:class:`Store` (``await store.ingest(...)``, ``await store.finish_job(...)``) and get records
or rows back, or one of the errors of :mod:`db.errors`.

A backend is a subclass that provides the transport and an ``ops`` namespace:

- ``ops.<name>(conn, *args)``: the operation, run inside a transaction the backend opened
  (it never begins or commits itself), one function per method below;
- ``_write(fn, *args, timeout)``: run ``fn`` in a write transaction and wait for its commit;
  ``DatabaseUnavailable`` when it is not committed within ``timeout`` seconds (nothing of it
  is kept);
- ``_read(fn, *args)``: run ``fn`` on a read connection, off the event loop;
- ``_submit(fn, *args)``: queue a write without waiting (a ``concurrent.futures.Future``);
- ``flush``, ``ready``, ``close``.

``db/sqlite/`` is the embedded backend. Every backend passes ``tests/test_db_contract*.py``.

Timestamps in and out are ISO-8601 UTC strings (``2026-01-18T10:00:00.123Z``). Every method
is a coroutine (except :meth:`submit_interaction` and :meth:`close`); :attr:`sync` runs them
from code without an event loop (the CLI).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

from db.records import Client, IngestResult, JobResult, LeadFields, NewMessage, Row

DEFAULT_WRITE_TIMEOUT = 8.0


class Store:
    """One process's access to the database. See the module docstring."""

    backend = "abstract"
    ops: Any = None

    def __init__(self, *, write_timeout: float = DEFAULT_WRITE_TIMEOUT) -> None:
        self.write_timeout = write_timeout
        self.applied_migrations: list[str] = []  # by this open, oldest first
        self._sync: _SyncStore | None = None

    # -- transport (the backend's) --------------------------------------------------------

    async def _write(self, fn: Callable[..., Any], *args: Any, timeout: float | None) -> Any:
        raise NotImplementedError

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        raise NotImplementedError

    def _submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        raise NotImplementedError

    async def write_op(self, name: str, *args: Any, timeout: float | None = None) -> Any:
        return await self._write(getattr(self.ops, name), *args, timeout=self._t(timeout))

    async def read_op(self, name: str, *args: Any) -> Any:
        return await self._read(getattr(self.ops, name), *args)

    def _t(self, timeout: float | None) -> float:
        return self.write_timeout if timeout is None else timeout

    # -- lifecycle --------------------------------------------------------------------------

    async def ready(self) -> None:
        """Raise :class:`DatabaseUnavailable` unless the database takes a write now."""
        raise NotImplementedError

    async def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until every write submitted so far (:meth:`submit_interaction`) is committed."""
        raise NotImplementedError

    def close(self) -> None:
        """Commit what is queued and release every connection."""
        if self._sync is not None:
            self._sync.close()

    @property
    def sync(self) -> Any:
        """The same operations as blocking calls: ``store.sync.list_clients()``."""
        if self._sync is None:
            self._sync = _SyncStore(self)
        return self._sync

    # -- clients ----------------------------------------------------------------------------

    async def create_client(self, *, name: str, now: str, **ids: str | None) -> tuple[Client, str]:
        """Add a client with a new token (or ``token=``); returns it and the token, which is
        stored only hashed. ``ids``: ``ghl_location_id``, ``unipile_account_id``,
        ``email_workspace_id``. :class:`DuplicateWorkspace` when one is taken."""
        return await self.write_op("create_client", name, now, ids)

    async def list_clients(self) -> list[Client]:
        return await self.read_op("list_clients")

    async def get_client(self, client_id: int) -> Client | None:
        return await self.read_op("get_client", client_id)

    async def client_by_token_hash(self, token_hash: str) -> Client | None:
        """The client whose token has this SHA-256 hash (compared in constant time)."""
        return await self.read_op("client_by_token_hash", token_hash)

    async def client_by_workspace(self, column: str, value: str) -> Client | None:
        """The client with ``ghl_location_id``/``unipile_account_id``/``email_workspace_id``."""
        return await self.read_op("client_by_workspace", column, value)

    async def rotate_token(self, client_id: int, *, now: str) -> str | None:
        """A new token for the client (the old one stops working at once); None if no client."""
        return await self.write_op("rotate_token", client_id, now)

    # -- ingest -----------------------------------------------------------------------------

    async def ingest(
        self,
        client_id: int,
        token_hash: str,
        message: NewMessage,
        lead: LeadFields,
        *,
        timeout: float | None = None,
    ) -> IngestResult:
        """Store a delivered message exactly once, with its lead and post-process job.

        In one transaction: the token is checked again (:class:`TokenRevoked`), the lead is
        matched or created, the message inserted unless its dedupe value is stored (then the
        delivery is a duplicate), and the job created or healed (DESIGN's state table).
        :class:`DedupeConflict` when the value is another client's.
        """
        args = (client_id, token_hash, message, lead)
        return await self.write_op("ingest", *args, timeout=timeout)

    async def unsubscribe(
        self,
        client_id: int,
        token_hash: str,
        lead: LeadFields,
        now: str,
        *,
        timeout: float | None = None,
    ) -> int:
        """Blacklist the client's lead (created if unknown) and reject its pending drafts;
        returns the lead's id. Idempotent. The token is checked as in :meth:`ingest`."""
        args = (client_id, token_hash, lead, now)
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
        """Set the lead's tag and status from ``message_id``'s sentiment, unless the lead is
        blacklisted (and the tag is not Blacklist) or has a newer inbound message."""
        args = (lead_id, tag, status, now, message_id)
        return await self.write_op("set_lead_sentiment", *args, timeout=30.0)

    async def get_draft(self, message_id: int, channel: str) -> Row | None:
        return await self.read_op("get_draft", message_id, channel)

    async def insert_draft(
        self, client_id: int, lead_id: int, message_id: int, channel: str, body: str, *, now: str
    ) -> tuple[int, bool]:
        """The draft for (message, channel) unless one exists: ``(draft_id, created)``."""
        args = (client_id, lead_id, message_id, channel, body, now)
        return await self.write_op("insert_draft", *args, timeout=30.0)

    async def set_lead_score(
        self, lead_id: int, fit: int, intent: int, overall: int, reasoning: str, *, now: str
    ) -> bool:
        args = (lead_id, fit, intent, overall, reasoning, now)
        return await self.write_op("set_lead_score", *args, timeout=30.0)

    async def finish_inbound(self, message: Row, *, now: str) -> tuple[int | None, bool]:
        """After an inbound message's post-processing: advance the lead's roll-ups and
        enqueue its ``LEAD_SCORING_POST_PROCESS`` job; returns ``(job_id, enqueued)``."""
        return await self.write_op("finish_inbound", message, now, timeout=10.0)

    # -- background jobs --------------------------------------------------------------------

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
        """Create the message's job of this type, or heal it (DESIGN's state table)."""
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

    async def prune_jobs(self, *, before: str, batch: int) -> int:
        return await self.write_op("prune_jobs", before, batch, timeout=60.0)

    # -- AI telemetry -----------------------------------------------------------------------

    def submit_interaction(self, row: Row) -> Future:
        """Queue an ``ai_interactions`` row without waiting for its commit."""
        return self._submit(self.ops.record_interaction, row)

    async def record_interaction(self, row: Row) -> int:
        return await self.write_op("record_interaction", row)

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


class _SyncStore:
    """Blocking calls of a store's coroutine methods, run on a private event loop thread."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._store, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            coro = method(*args, **kwargs)
            return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

        return call

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
