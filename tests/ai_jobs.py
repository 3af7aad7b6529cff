"""Helpers of the black-box AI tests: a server whose jobs call the fake OpenAI server, run by
the in-process runner or by the cron route, and what they left in the database."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import load_payload, rows

GHL = "/api/webhooks/ghl/sms"
CRON = "/api/cron/background-jobs"
CRON_SECRET = "cron-secret-for-ai-tests-0123456789"
SMS_JOB = "SMS_INBOUND_POST_PROCESS"
MODES = ("runner", "cron")


class Jobs:
    """A leadhook server on the test's database whose jobs run in ``mode``: ``runner`` (the
    in-process scheduler) or ``cron`` (scheduler off; each :meth:`wait_for` round calls the
    cron route once)."""

    def __init__(self, serve, database, fake, mode: str, **settings: Any) -> None:
        self.mode = mode
        self.database = database
        self.fake = fake
        self.live = serve(
            ai_provider="openai",
            openai_base_url=fake.base_url,
            openai_api_key="sk-test",
            scheduler_enabled=mode == "runner",
            cron_secret=CRON_SECRET,
            job_poll_seconds=0.1,
            **settings,
        )
        self.http = httpx.Client(base_url=self.live.url, timeout=30)

    def close(self) -> None:
        self.http.close()

    def deliver(self, workspace, body: str | None = None) -> dict:
        """A GoHighLevel SMS reply (the example payload, ``body`` if given), answered 200."""
        payload = load_payload("ghl_sms_workflow.json")
        if body is not None:
            payload["message"]["body"] = payload["customData"]["Message"] = body
        response = self.http.post(GHL, json=payload, headers=workspace.auth)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_for(self, predicate: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            if self.mode == "cron":
                answer = self.http.post(CRON, headers={"Authorization": f"Bearer {CRON_SECRET}"})
                assert answer.status_code == 200, answer.text
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(0.05)

    # -- what is stored ---------------------------------------------------------------------

    def job(self, job_type: str = SMS_JOB) -> dict | None:
        found = rows(self.database, "SELECT * FROM background_jobs WHERE type = ?", (job_type,))
        return found[0] if found else None

    def attempt_written(self, attempts: int, job_type: str = SMS_JOB) -> Callable[[], Any]:
        """The job once the result of its ``attempts``-th attempt is written."""

        def check() -> dict | None:
            job = self.job(job_type)
            if job and job["attempts"] >= attempts and job["status"] != "RUNNING":
                return job
            return None

        return check

    def status_is(self, status: str, job_type: str = SMS_JOB) -> Callable[[], Any]:
        def check() -> dict | None:
            job = self.job(job_type)
            return job if job and job["status"] == status else None

        return check

    def ai_rows(self) -> list[dict]:
        return rows(self.database, "SELECT * FROM ai_interactions ORDER BY id")


class Captured(logging.Handler):
    """Records of one logger and below, whatever the app's logging config does to the root
    logger (Litestar replaces its handlers at start-up, so ``caplog`` sees nothing)."""

    def __init__(self, name: str = "leadhook", level: int = logging.DEBUG) -> None:
        super().__init__(level)
        self.logger = logging.getLogger(name)
        self.records: list[logging.LogRecord] = []
        self._level = self.logger.level

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> Captured:
        self.logger.addHandler(self)
        self.logger.setLevel(min(self.level, self.logger.getEffectiveLevel()))
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self._level)

    def lines(self, level: int = logging.WARNING) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= level]
