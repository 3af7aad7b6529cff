"""Job notifications between processes: :class:`JobNotifier` sends ``NOTIFY leadhook_jobs``
after commits that made a job due; :class:`JobListener` hears them in every process.

- :class:`JobNotifier`: one thread and one connection per store; :meth:`JobNotifier.request`
  (called by the transport after such a commit) only sets an event, and the thread sends one
  NOTIFY per burst of requests (a request arriving while one is sent gets one more), so the
  webhook's path never waits for it;
- :class:`JobListener`: ``LISTEN`` on a connection of its own, in a thread: every
  notification (any process, any host) calls the callback (the runner's wake, which is safe
  from any thread). After a lost connection it reconnects (backing off up to
  :data:`MAX_BACKOFF` seconds) and calls the callback once, since a notification may have
  been missed meanwhile; the runner's poll covers the gap too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

from db.errors import DatabaseError
from db.postgres._sql import JOBS_CHANNEL, NOTIFY_JOBS
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


class JobNotifier:
    def __init__(self, url: str) -> None:
        self.url = url
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leadhook-pg-notify", daemon=True)
        self._started = False
        self._lock = threading.Lock()
        self.sent = 0

    def request(self) -> None:
        """Ask for a NOTIFY soon (from any thread; never blocks)."""
        if not self._started:
            with self._lock:
                if not self._started and not self._stop.is_set():
                    self._started = True
                    self._thread.start()
        self._wanted.set()

    def stop(self) -> None:
        """Send what was asked for, then stop."""
        self._stop.set()
        self._wanted.set()
        if self._started:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        conn = None
        while True:
            self._wanted.wait()
            self._wanted.clear()
            try:
                if conn is None or conn.closed:
                    conn = connect(self.url)
                conn.execute(NOTIFY_JOBS)
                self.sent += 1
            except (psycopg.Error, DatabaseError) as exc:
                log.debug("job notification not sent (%s); the poll finds the job", exc)
                if conn is not None:
                    conn.close()
                conn = None
                if not self._stop.is_set():
                    self._stop.wait(0.5)
            if self._stop.is_set() and not self._wanted.is_set():
                break
        if conn is not None:
            conn.close()
