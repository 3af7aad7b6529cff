"""What the SQLite backend's readiness looks at, besides a real write (the probe).

- :class:`WriterHealth`: the writer's record of writes the database refused (locked, full,
  I/O) since the last one that committed; three in a row, the last within
  :data:`FAILING_WINDOW_SECONDS`, make the writer "failing".
- :func:`probe`: the unit of work readiness commits: it records the check in
  ``_leadhook_readiness`` (one row: a real write through the writer, so a lock another
  process holds, a read-only file or a failing disk shows) and reads the file's page counts
  on the writer's own connection (``max_page_count`` is per connection).
- :func:`disk_problem`: free space on the file's filesystem, and room left under the
  database's size limit.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlite_utils import Database

FAILURES_IN_A_ROW = 3
FAILING_WINDOW_SECONDS = 30.0
# A filesystem with less free space than this is full for leadhook: the WAL alone grows by
# megabytes between checkpoints, and one batch may carry hundreds of 256 KiB bodies.
DISK_FREE_MIN_BYTES = 64 * 1024 * 1024
# Room under PRAGMA max_page_count (free pages inside the file count) below which the
# database is full: a few of the largest webhook bodies.
ROOM_MIN_BYTES = 1024 * 1024
MIB = 1024 * 1024


@dataclass
class WriterHealth:
    """Written by the writer thread, read by readiness (plain attributes: no lock needed)."""

    failed_in_a_row: int = 0
    last_error: str = ""
    failing_since: float = 0.0  # wall clock, for the message
    last_failure: float = field(default=0.0)  # monotonic

    def failed(self, count: int, error: BaseException) -> None:
        if self.failed_in_a_row == 0:
            self.failing_since = time.time()
        self.failed_in_a_row += count
        self.last_error = str(error)
        self.last_failure = time.monotonic()

    def succeeded(self) -> None:
        self.failed_in_a_row = 0

    def problem(self) -> str | None:
        """What is wrong with the writer, or None."""
        if self.failed_in_a_row < FAILURES_IN_A_ROW:
            return None
        if time.monotonic() - self.last_failure > FAILING_WINDOW_SECONDS:
            return None  # no write since then: the probe and the disk check speak for it
        since = time.strftime("%H:%M:%S", time.gmtime(self.failing_since))
        return (
            f"failing: the last {self.failed_in_a_row} writes were refused "
            f"(since {since} UTC): {self.last_error}"
        )


@dataclass(frozen=True)
class FileFacts:
    page_size: int
    page_count: int
    freelist_count: int
    max_page_count: int

    @property
    def room_bytes(self) -> int:
        return (self.max_page_count - self.page_count + self.freelist_count) * self.page_size


def probe(database: Database, checked_at: str) -> FileFacts:
    """The readiness probe's unit of work (see the module docstring)."""
    database.execute(
        """INSERT INTO _leadhook_readiness (id, checked_at, pid, host) VALUES (1, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at,
               pid = excluded.pid, host = excluded.host""",
        (checked_at, os.getpid(), socket.gethostname()),
    )

    def pragma(name: str) -> int:
        return int(database.execute(f"PRAGMA {name}").fetchone()[0])

    return FileFacts(
        pragma("page_size"),
        pragma("page_count"),
        pragma("freelist_count"),
        pragma("max_page_count"),
    )


probe.readiness_probe = True  # type: ignore[attr-defined]  (not counted in WriterHealth)


def disk_problem(
    path: str | Path, facts: FileFacts | None, free_min_bytes: int = DISK_FREE_MIN_BYTES
) -> str | None:
    """Why the database has no room to grow, or None."""
    folder = Path(path).resolve().parent
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    if free < free_min_bytes:
        return (
            f"full: {free // MIB} MiB free on the filesystem of {folder} "
            f"(at least {free_min_bytes // MIB} MiB needed)"
        )
    if facts is not None and facts.room_bytes < ROOM_MIN_BYTES:
        return (
            f"full: the database reached its size limit (PRAGMA max_page_count = "
            f"{facts.max_page_count} pages of {facts.page_size} bytes)"
        )
    return None
