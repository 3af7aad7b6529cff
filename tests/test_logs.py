"""The process's logs as an operator reads them: a real ``leadhook serve`` and its stderr.

In ``json`` every line is one JSON object, from leadhook, Litestar and uvicorn alike; at INFO a
delivery is one line (route, client, outcome, status, message id, duration) and so is a job
attempt (type, job id, attempt, outcome, duration, AI calls and cost); no line carries a
token, a query string, a message body or an API key; APScheduler's and the HTTP client's
chatter stays below INFO. In ``console`` every record is one line."""

from __future__ import annotations

import io
import json
import logging
import re
import sqlite3
import subprocess
import time
from contextlib import redirect_stderr
from pathlib import Path

import httpx
import pytest

import ai
from monitoring.logs import configure_logging, flush_logs
from tests.conftest import free_port, load_payload
from tests.fake_openai import FakeOpenAI
from tests.process_helpers import ROOT, command, environment

pytestmark = pytest.mark.slow

ADMIN = "admin-token-of-the-logs-test-0123456789"
API_KEY = "sk-the-openai-key-of-the-logs-test"
GHL = "/api/webhooks/ghl/sms"
BODY = "Yes, I'm interested. Can we talk Thursday?"  # examples/ghl_sms_demo.json
CONSOLE_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[(debug|info|warning|error|critical) *\] \S"
)


class Serving:
    """``leadhook serve --demo`` in the background, with ``env``; stderr kept in a file."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.db_path = tmp_path / "data" / "leadhook.db"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr_path = tmp_path / "serve.err"
        with open(tmp_path / "serve.out", "w") as out, open(self.stderr_path, "w") as err:
            self.process = subprocess.Popen(
                command("serve", "--demo", "--port", str(self.port)),
                cwd=ROOT,
                env=environment(self.db_path, LEADHOOK_ADMIN_TOKEN=ADMIN, **env),
                stdout=out,
                stderr=err,
            )
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, self.stderr_path.read_text()
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.05)
        self.token = (self.db_path.parent / "demo-token.txt").read_text().strip()

    def jobs(self) -> list[tuple[str, str]]:
        with sqlite3.connect(self.db_path) as conn:
            return conn.execute("SELECT type, status FROM background_jobs ORDER BY id").fetchall()

    def wait_for_jobs(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while [status for _, status in self.jobs()] != ["SUCCEEDED"] * count:
            assert time.monotonic() < deadline, self.jobs()
            time.sleep(0.1)

    def stop(self) -> list[str]:
        """Stop it (SIGTERM, a clean shutdown) and return its stderr lines."""
        self.process.terminate()
        assert self.process.wait(timeout=30) == -15  # uvicorn ends by the signal it handled
        lines = self.stderr_path.read_text().splitlines()
        assert "Finished server process" in lines[-1]  # nothing queued was lost
        return lines


def deliver(live: Serving) -> list[httpx.Response]:
    """Stored (token as ?token=), deduped, rejected twice (wrong token, empty body)."""
    payload = load_payload("ghl_sms_demo.json")
    bearer = {"Authorization": f"Bearer {live.token}"}
    with httpx.Client(base_url=live.url, timeout=30) as http:
        return [
            http.post(GHL, json=payload, params={"token": live.token}),
            http.post(GHL, json=payload, headers=bearer),
            http.post(GHL, json=payload, params={"token": "lh_not-the-token"}),
            http.post(GHL, content=b"", headers=bearer),
        ]


def test_json_lines_carry_each_delivery_and_attempt_and_no_secret(tmp_path):
    with FakeOpenAI() as fake:
        fake.fail_once(500, call=1, message="The server had an error")
        live = Serving(
            tmp_path,
            LEADHOOK_LOG_FORMAT="json",
            LEADHOOK_AI_PROVIDER="openai",
            OPENAI_BASE_URL=fake.base_url,
            OPENAI_API_KEY=API_KEY,
        )
        try:
            answers = deliver(live)
            live.wait_for_jobs(2)  # the inbound job (retried once) and its scoring job
            assert httpx.get(live.url + "/metrics", headers={"Authorization": f"Bearer {ADMIN}"})
        finally:
            lines = live.stop()
    assert [a.status_code for a in answers] == [200, 200, 401, 400]

    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"timestamp", "level", "logger", "event"} <= r.keys() for r in records)
    assert any(r["logger"] == "uvicorn.error" for r in records)  # uvicorn's lines too
    deliveries = [r for r in records if r["logger"] == "leadhook.webhooks" and "outcome" in r]
    assert [(r["outcome"], r["status"]) for r in deliveries] == [
        ("stored", 200),
        ("deduped", 200),
        ("rejected", 401),
        ("rejected", 400),
    ]
    message_id = answers[0].json()["messageId"]
    assert [r["message_id"] for r in deliveries] == [message_id, message_id, None, None]
    assert [r["client_id"] is None for r in deliveries] == [False, False, True, False]
    assert all(r["route"] == GHL and r["duration_ms"] >= 0 for r in deliveries)
    assert all(r["level"] == "info" for r in deliveries)
    assert len([r for r in records if r["logger"] == "leadhook.webhooks"]) == len(deliveries)

    attempts = [r for r in records if r["logger"] == "leadhook.jobs" and "outcome" in r]
    assert [(r["job_type"], r["attempt"], r["outcome"], r["level"]) for r in attempts] == [
        ("SMS_INBOUND_POST_PROCESS", 1, "retried", "warning"),
        ("SMS_INBOUND_POST_PROCESS", 2, "succeeded", "info"),
        ("LEAD_SCORING_POST_PROCESS", 1, "succeeded", "info"),
    ]
    with sqlite3.connect(live.db_path) as conn:
        spent = dict(
            conn.execute(
                "SELECT background_job_id || ':' || job_attempt, COUNT(*) FROM ai_interactions"
                " GROUP BY 1"
            ).fetchall()
        )
        costs = dict(
            conn.execute(
                "SELECT background_job_id || ':' || job_attempt, SUM(COALESCE(cost_usd, 0))"
                " FROM ai_interactions GROUP BY 1"
            ).fetchall()
        )
    for r in attempts:
        key = f"{r['job_id']}:{r['attempt']}"
        assert r["ai_calls"] == spent[key] and r["ai_cost_usd"] == pytest.approx(costs[key])
        assert r["duration_ms"] >= 0
    assert "HTTP 500" in attempts[0]["event"] and "The server had an error" in attempts[0]["event"]

    text = "\n".join(lines)
    for secret in (live.token, ADMIN, API_KEY, "token=", BODY, "Thursday"):
        assert secret not in text, secret
    chatty = [
        r for r in records if r["logger"].startswith(("apscheduler", "httpx", "httpcore", "openai"))
    ]
    assert [r for r in chatty if r["level"] in ("debug", "info")] == []


def test_console_lines_are_one_line_each(tmp_path):
    live = Serving(tmp_path)
    try:
        answers = deliver(live)
        live.wait_for_jobs(2)
    finally:
        lines = live.stop()
    assert [a.status_code for a in answers] == [200, 200, 401, 400]
    assert lines and all(CONSOLE_LINE.match(line) for line in lines), lines
    delivered = [line for line in lines if f" {GHL} " in line and "[leadhook.webhooks]" in line]
    assert [line.split()[4:6] for line in delivered] == [
        ["stored", "200"],
        ["deduped", "200"],
        ["rejected", "401"],
        ["rejected", "400"],
    ]
    assert sum(" attempt 1 succeeded " in line for line in lines) == 2
    assert not any(live.token in line or "token=" in line or BODY in line for line in lines)


def test_every_line_carries_the_telemetry_context_it_was_written_in():
    stream = io.StringIO()
    try:
        with redirect_stderr(stream):
            configure_logging("INFO", "json")
            log = logging.getLogger("leadhook.test")
            job = ai.JobContext(job_id=41, job_type="SMS_INBOUND_POST_PROCESS", attempt=2)
            with ai.ai_telemetry_source("background_job:SMS_INBOUND_POST_PROCESS"):
                with ai.job_context(job):
                    log.warning("inside %s", "the job")
                log.info("in the source only")
            log.info("outside", extra={"route": "/x", "outcome": "stored", "color": "red"})
            logging.getLogger("apscheduler.scheduler").info("Added job")
            logging.getLogger("httpx").info("HTTP Request: POST https://example.com")
            flush_logs()
    finally:
        configure_logging("INFO", "console")
    inside, source_only, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["event"] == "inside the job" and inside["level"] == "warning"
    assert (inside["source"], inside["job_id"], inside["job_type"], inside["attempt"]) == (
        "background_job:SMS_INBOUND_POST_PROCESS",
        41,
        "SMS_INBOUND_POST_PROCESS",
        2,
    )
    assert source_only["source"] == "background_job:SMS_INBOUND_POST_PROCESS"
    assert "job_id" not in source_only
    assert (outside["route"], outside["outcome"]) == ("/x", "stored")
    assert "source" not in outside and "color" not in outside  # only leadhook's fields


def test_an_exception_is_one_json_line_with_its_traceback():
    stream = io.StringIO()
    try:
        with redirect_stderr(stream):
            configure_logging("INFO", "json")
            try:
                raise ValueError("boom")
            except ValueError:
                logging.getLogger("leadhook.test").exception("it failed")
            flush_logs()
    finally:
        configure_logging("INFO", "console")
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["event"] == "it failed" and record["level"] == "error"
    assert "ValueError: boom" in record["exception"] and "Traceback" in record["exception"]
