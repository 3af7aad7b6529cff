"""The fast line maker of monitoring/logs.py (issue 15) writes, for every record it takes,
exactly the text structlog's formatter writes, in both formats; records with a traceback or
a stack go to structlog itself."""

from __future__ import annotations

import itertools
import logging
import queue
import sys
from datetime import UTC, datetime

import pytest

from ai import JobContext, ai_telemetry_source, job_context
from monitoring.logs import FIELDS, _PlainLines, _QueueHandler, formatter

MESSAGES = [
    ("%s %s %d client=%s message=%s %.1f ms", ("/api/webhooks/ghl/sms", "stored", 200, 1, 7, 3.1)),
    ("plain words", None),
    ("", None),
    ("quotes ' and \" = and\ttabs\nand lines", None),
    ("unicode é ✓ %s", ("naïve",)),
    ("%(name)s by mapping", ({"name": "value"},)),
]
EXTRAS = [
    {},
    {"route": "/x", "client_id": None, "outcome": "rejected", "status": 401, "error": "bad = x"},
    {"job_id": 5, "job_type": "post_process_inbound", "attempt": 2, "ai_cost_usd": 0.0012},
    {"duration_ms": 1.5, "message_id": 9, "ai_calls": 3, "unlisted": "not a field"},
    {"error": datetime(2026, 1, 2, tzinfo=UTC)},  # not JSON: written with str()
]
CONTEXTS = [
    (None, None),
    ("/api/webhooks/ghl/sms", None),
    ("background_job:score lead", JobContext(11, "score_lead", 1, 3)),
    ("a='quoted'", JobContext(12, "t", 2)),
    *((f"one{c}two", None) for c in " \t=\r\n\"'"),  # each makes the console quote it
]
LEVELS = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL, 5, 25]
LOGGERS = ["leadhook.webhooks", "uvicorn.error", "root"]


def prepared(level, name, message, args, extra, source, job) -> logging.LogRecord:
    record = logging.getLogger(name).makeRecord(name, level, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    with ai_telemetry_source(source), job_context(job):
        return _QueueHandler(queue.SimpleQueue()).prepare(record)


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_every_plain_line_is_the_text_structlog_writes(fmt):
    fast = formatter(fmt)
    assert isinstance(fast, _PlainLines)
    cases = itertools.product(LEVELS, LOGGERS, MESSAGES, EXTRAS, CONTEXTS)
    compared = 0
    for level, name, (message, args), extra, (source, job) in cases:
        record = prepared(level, name, message, args, extra, source, job)
        assert fast.format(record) == fast.slow.format(record), (level, name, message, extra)
        compared += 1
    assert compared == 7 * 3 * 6 * 5 * 11
    assert set(FIELDS) >= {k for extra in EXTRAS for k in extra} - {"unlisted"}


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_a_record_with_a_traceback_is_written_by_structlog(fmt):
    fast = formatter(fmt)
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.getLogger("x").makeRecord(
        "x", logging.ERROR, __file__, 1, "failed", None, exc_info
    )
    with ai_telemetry_source("/src"):
        record = _QueueHandler(queue.SimpleQueue()).prepare(record)
    line = fast.format(record)
    assert line == fast.slow.format(record)
    assert "ValueError: boom" in line


def test_colours_are_left_to_structlog():
    assert not isinstance(formatter("console", colors=True), _PlainLines)
