"""Runner ids, which runners are alive, taking back their jobs, and renewing leases.

A runner's id is ``<hostname>:<pid>:<random hex>``; every :class:`scheduler.Runner` of this
process is in :data:`LIVE_RUNNERS` from its creation until it stops. :func:`recover` takes
back RUNNING jobs

- at once, of a runner on this host whose process is gone, or that names this very process
  but is not one of its live runners (an earlier server with the same pid, e.g. pid 1 in a
  restarted container);
- of any other runner (another host) once its lease (``locked_at``, renewed by live runners
  every lease/3 through :func:`renew_leases`) is older than ``settings.job_lease_seconds``.

A job taken back is PENDING again (its attempt counted), or FAILED when it has no attempts
left (the store decides). The writes are retried a few times while the database is busy
(:func:`scheduler._retry.write_retrying`), then :class:`db.DatabaseUnavailable` is raised.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable, Container, Iterable, Mapping
from datetime import datetime, timedelta
from functools import partial

import db
from scheduler._retry import write_retrying

log = logging.getLogger("leadhook.jobs")


class LiveRunners:
    """The ids of this process's running runners: never taken for abandoned."""

    def __init__(self) -> None:
        self._ids: set[str] = set()

    def add(self, runner_id: str) -> None:
        self._ids.add(runner_id)

    def discard(self, runner_id: str) -> None:
        self._ids.discard(runner_id)

    def __contains__(self, runner_id: object) -> bool:
        return runner_id in self._ids


# One per process: runners of one process (e.g. two in two threads) must see each other.
LIVE_RUNNERS = LiveRunners()


def new_runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's process: alive
        return True
    return True


def abandoned_runners(
    lockers: Iterable[str],
    *,
    live: Container[str],
    host: str | None = None,
    pid: int | None = None,
    alive: Callable[[int], bool] = pid_alive,
) -> list[str]:
    """The runner ids among ``lockers`` known to be dead without waiting for their lease
    (see the module docstring); ``live`` are this process's live runners."""
    host = socket.gethostname() if host is None else host
    pid = os.getpid() if pid is None else pid
    dead = []
    for locker in lockers:
        if locker in live:
            continue
        parts = locker.rsplit(":", 2)
        if len(parts) != 3 or parts[0] != host:
            continue
        try:
            locker_pid = int(parts[1])
        except ValueError:
            continue
        if locker_pid == pid or not alive(locker_pid):
            dead.append(locker)
    return dead


async def recover(
    store: db.Store,
    *,
    now: datetime,
    lease_seconds: float,
    live: Container[str],
    keep_ids: Iterable[int],
) -> dict[str, list[int]]:
    """Take back RUNNING jobs of dead runners and jobs whose lease expired, except
    ``keep_ids`` (the caller's own claims); returns ``{"released": [...], "failed": [...]}``."""
    dead = abandoned_runners(await store.running_lockers(), live=live)
    recovered = await write_retrying(
        partial(
            store.recover_jobs,
            now=db.iso(now),
            dead_runners=dead,
            locked_before=db.iso(now - timedelta(seconds=lease_seconds)),
            keep_ids=list(keep_ids),
        )
    )
    if recovered["released"] or recovered["failed"]:
        log.warning(
            "took back jobs of stopped runners: %d pending again %s, %d failed %s",
            len(recovered["released"]),
            recovered["released"][:20],
            len(recovered["failed"]),
            recovered["failed"][:20],
        )
    return recovered


async def renew_leases(
    store: db.Store, *, runner_id: str, running: Mapping[int, dict], now: str
) -> None:
    """Move ``locked_at`` of ``running`` (the runner's claims, a live mapping) to ``now``;
    log the claims found lost (taken back by another runner's recovery)."""
    ids = list(running)
    if not ids:
        return
    renewed = await write_retrying(
        partial(store.renew_leases, runner_id=runner_id, job_ids=ids, now=now)
    )
    lost = set(ids) - set(renewed)
    lost &= set(running)  # those finished meanwhile are not lost
    if lost:
        log.warning("job runner %s lost its claim on jobs %s", runner_id, sorted(lost))
