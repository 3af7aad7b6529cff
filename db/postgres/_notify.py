"""``LISTEN leadhook_jobs`` on a connection of its own, in a thread: every ``NOTIFY`` sent by
a commit that made a job due (any process, any host) calls the callback (the runner's wake,
which is safe from any thread). After a lost connection it reconnects (backing off up to
:data:`MAX_BACKOFF` seconds) and calls the callback once, since a notification may have been
missed meanwhile; the runner's poll covers the gap too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

from db.errors import DatabaseError
from db.postgres._sql import JOBS_CHANNEL
from db.postgres._transport import connect, redact

log = logging.getLogger("leadhook.db")
WAIT_SECONDS = 0.5
MAX_BACKOFF = 10.0


class JobListener:
    def __init__(self, url: str, callback: Callable[[], None]) -> None:
        self.url = url
        self.callback = callback
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leadhook-pg-listen", daemon=True)
        self.listening = threading.Event()  # set while LISTEN is in force (tests wait on it)
        self.notifications = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._listen()
                backoff = 0.5
            except (psycopg.Error, DatabaseError) as exc:
                self.listening.clear()
                if self._stop.is_set():
                    return
                log.warning(
                    "job notifications from %s interrupted (%s); the poll runs jobs meanwhile",
                    redact(self.url),
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                )
                self._stop.wait(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)

    def _listen(self) -> None:
        conn = connect(self.url)
        try:
            conn.execute(f"LISTEN {JOBS_CHANNEL}")
            self.listening.set()
            self._wake()  # anything committed while not listening
            while not self._stop.is_set():
                woken = False
                for _ in conn.notifies(timeout=WAIT_SECONDS):
                    self.notifications += 1
                    woken = True
                    break  # one wake for a burst: drain the rest on the next turn
                if woken:
                    self._wake()
        finally:
            self.listening.clear()
            conn.close()

    def _wake(self) -> None:
        try:
            self.callback()
        except Exception:  # a closed loop at shutdown: never kill the listener
            log.debug("job wake-up callback failed", exc_info=True)
