"""Reading the delivery ledger in tests: rejected requests' rows are written without anyone
waiting for them, so a test waits for the count it expects."""

from __future__ import annotations

import time

from tests.conftest import rows


def ledger_rows(database, count: int | None = None, *, timeout: float = 10.0) -> list[dict]:
    """Every ``deliveries`` row, oldest first; with ``count``, once there are that many (the
    test fails if there are more, or fewer after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        found = rows(database, "SELECT * FROM deliveries ORDER BY id")
        if count is None or len(found) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if count is not None:
        assert len(found) == count, [(r["status_code"], r["outcome"], r["error"]) for r in found]
    return found


def last_row(database, count: int) -> dict:
    return ledger_rows(database, count)[-1]
