"""The storage interface, part 5: the database as a whole (backup, check, whose turn the
daily maintenance is)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any


class MaintenanceOperations:
    """A consistent copy of the database while it is in use, and its health."""

    read_op: Any

    async def backup(self, path: str | Path) -> dict[str, Any]:
        """Write a consistent copy of the database to ``path``, a file that must not exist
        (created readable by its owner only); returns ``{"path", "bytes", "pages"}``. Safe
        while a server runs and writes: the copy is one snapshot."""
        return await self.read_op("backup", str(path))

    async def check(self) -> dict[str, Any]:
        """Integrity, foreign keys and migrations: ``{"integrity": [...], "foreign_keys":
        [...], "migrations": {"applied", "pending", "unknown"}, "problems": [...]}``, where
        ``problems`` is empty exactly when the database is sound and up to date."""
        return await self.read_op("check")

    @contextlib.asynccontextmanager
    async def maintenance_turn(self, *, now: str, every_seconds: float) -> AsyncIterator[bool]:
        """``async with store.maintenance_turn(now=..., every_seconds=...) as mine:`` —
        ``mine`` is True in the one process that should run the daily maintenance now: with
        several processes on one database (Postgres) the one holding the maintenance lock,
        when the last run recorded is at least ``every_seconds`` old (the run is recorded
        when the block ends without an error). A database one process owns (SQLite): always
        True."""
        yield True
