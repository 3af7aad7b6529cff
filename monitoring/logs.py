"""One log format for everything the process writes (leadhook, Litestar, uvicorn, APScheduler,
httpx, openai), through structlog's ``ProcessorFormatter`` on the root logger.

:func:`configure_logging` (``app.create_app`` and ``leadhook serve`` call it) replaces the
handler it installed before, if any, and leaves other handlers alone (a test's capture):

- ``LEADHOOK_LOG_FORMAT=console`` (the default): one readable line a record,
  ``2026-01-18T10:00:00.123Z [info     ] /api/webhooks/ghl/sms stored 200 client=1 message=7
  3.1 ms [leadhook.webhooks]``, then the context as ``key=value``; ``json``: one JSON object a
  line with ``timestamp``, ``level``, ``logger``, ``event`` (the message), the context and the
  line's fields. A traceback (unexpected errors; a failed job's at DEBUG) is the
  ``exception`` field of its JSON object, and follows its line in the console format.
- Every line carries the telemetry context it was written in: ``source``
  (:func:`ai.current_source`: a webhook's path, ``background_job:<TYPE>``) and ``job_id``,
  ``job_type``, ``attempt`` (:func:`ai.current_job`). Fields a line passes as ``extra`` (of
  :data:`FIELDS`: ``route``, ``outcome``, ``duration_ms``, ...) are keys of their own.
- The level is ``LEADHOOK_LOG_LEVEL``. Below INFO whatever it is: APScheduler's per-run lines
  (``Running job``, ``Added job``: WARNING unless the level is DEBUG) and the HTTP clients'
  (``httpx``/``httpx2``, ``httpcore``/``httpcore2``, ``openai``: always WARNING; an INFO line
  per request, and DEBUG output that would carry prompts and request bodies).
- Writing never blocks the event loop: records are queued (context and message taken when the
  line is logged) and written by one thread to ``sys.stderr``; the queue is drained at exit, at
  SIGTERM (:func:`flush_at_termination`, ``app.serve``), before a reconfiguration and by
  :func:`flush_logs`; a SIGKILL loses what was still queued.

What leadhook itself writes at INFO (one line per delivery, one per job attempt, never a
token, a query string or a message body) is decided where it logs: ``handlers/metrics.py``,
``scheduler/_attempt.py``.
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import Any

import structlog

from ai import current_job, current_source

__all__ = [
    "FIELDS",
    "FORMATS",
    "configure_logging",
    "flush_at_termination",
    "flush_logs",
    "formatter",
]

FORMATS = ("console", "json")
# Fields a leadhook line may pass as ``extra``, shown as keys of their own.
FIELDS = (
    "route",
    "client_id",
    "outcome",
    "status",
    "message_id",
    "duration_ms",
    "error",
    "job_id",
    "job_type",
    "attempt",
    "ai_calls",
    "ai_cost_usd",
)
# Loggers kept quiet at INFO: (name, level at INFO and above, level at DEBUG).
QUIET = (
    ("apscheduler", logging.WARNING, logging.DEBUG),
    ("httpx", logging.WARNING, logging.WARNING),
    ("httpx2", logging.WARNING, logging.WARNING),  # openai 3's HTTP client
    ("httpcore", logging.WARNING, logging.WARNING),
    ("httpcore2", logging.WARNING, logging.WARNING),
    ("openai", logging.WARNING, logging.WARNING),
)
_CONTEXT = "_leadhook_context"


def _timestamp(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """When the record was made (not when the writer thread got to it), UTC, milliseconds."""
    record = event.get("_record")
    created = record.created if record is not None else datetime.now(UTC).timestamp()
    moment = datetime.fromtimestamp(created, UTC)
    event["timestamp"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return event


def _context(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """The telemetry context taken when the line was logged (:class:`_QueueHandler`), unless
    the line names its own."""
    record = event.get("_record")
    for key, value in getattr(record, _CONTEXT, ()):
        if value is not None:
            event.setdefault(key, value)
    return event


def formatter(fmt: str, *, colors: bool = False) -> logging.Formatter:
    """The formatter of ``fmt`` (:data:`FORMATS`) for stdlib records: structlog's
    (:func:`structlog_formatter`), with the lines it formats most (no traceback, no colours)
    made by :class:`_PlainLines` instead, the same text in a fraction of the time (it runs
    on the log thread, but under the same GIL as the event loop)."""
    slow = structlog_formatter(fmt, colors=colors)
    return slow if colors else _PlainLines(fmt, slow)


def structlog_formatter(fmt: str, *, colors: bool = False) -> structlog.stdlib.ProcessorFormatter:
    """structlog's formatter of ``fmt`` (:data:`FORMATS`) for stdlib records."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    pre_chain: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _timestamp,
        structlog.stdlib.ExtraAdder(allow=FIELDS),
        _context,
    ]
    processors: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if fmt == "json":
        pre_chain.append(structlog.processors.format_exc_info)
        processors.append(
            structlog.processors.JSONRenderer(
                serializer=lambda obj, **_: json.dumps(obj, default=str, ensure_ascii=False)
            )
        )
    else:
        # The message states the fields already; the context (source, job) stays.
        processors.append(_without_fields)
        # The plain traceback: structlog's default (rich, when installed) shows local
        # variables, which may hold a token or a message.
        processors.append(
            structlog.dev.ConsoleRenderer(
                colors=colors, pad_event_to=0, exception_formatter=structlog.dev.plain_traceback
            )
        )
    return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=pre_chain, processors=processors)


def _without_fields(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in FIELDS:
        event.pop(key, None)
    return event


# ConsoleRenderer without colours: the level padded to its longest name ("exception"), and
# the characters that make it show a string value as its repr.
_LEVEL_WIDTH = 9
_QUOTED = frozenset(" \t=\r\n\"'")


def _console_value(value: object) -> str:
    if isinstance(value, str):
        return repr(value) if _QUOTED.intersection(value) else value
    return repr(value)


class _PlainLines(logging.Formatter):
    """Makes the line of a record without traceback or stack (the lines written most: one
    per delivery, one per job attempt) as ``slow`` (structlog's formatter of ``fmt``, with
    the processors of :func:`structlog_formatter`) makes it, step for step, without its
    processor chain; any other record goes to ``slow``. tests/test_logs_fast.py compares
    both on many records."""

    def __init__(self, fmt: str, slow: logging.Formatter) -> None:
        super().__init__()
        self.json = fmt == "json"
        self.slow = slow

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info or hasattr(record, "_logger"):
            return self.slow.format(record)
        level = record.levelname.lower()
        event: dict[str, Any] = {
            "event": record.getMessage(),
            "level": "warning" if level == "warn" else "error" if level == "exception" else level,
            "logger": record.name,
        }
        moment = datetime.fromtimestamp(record.created, UTC)
        event["timestamp"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        attributes = record.__dict__
        for key in FIELDS:
            if key in attributes:
                event[key] = attributes[key]
        for key, value in getattr(record, _CONTEXT, ()):
            if value is not None:
                event.setdefault(key, value)
        if self.json:
            return json.dumps(event, default=str, ensure_ascii=False)
        for key in FIELDS:
            event.pop(key, None)
        parts = [
            str(event.pop("timestamp")),
            f"[{event.pop('level'):<{_LEVEL_WIDTH}}]",
            str(event.pop("event")),
            f"[{event.pop('logger')}]",
        ]
        parts += [f"{key}={_console_value(event[key])}" for key in sorted(event)]
        return " ".join(part for part in parts if part).rstrip(" ")


class _StderrHandler(logging.Handler):
    """Writes each line to the ``sys.stderr`` of :func:`configure_logging`'s call; should that
    stream be closed meanwhile (a test's capture ended), to the ``sys.stderr`` of the moment."""

    def __init__(self) -> None:
        super().__init__()
        self.stream = sys.stderr

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
            try:
                self.stream.write(line)
            except ValueError:  # I/O operation on closed file
                self.stream = sys.stderr
                self.stream.write(line)
            self.stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


class _QueueHandler(logging.handlers.QueueHandler):
    """Queues a copy of the record with its message made and its telemetry context taken now
    (the writer thread has neither). The traceback travels as it is (an in-process queue)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        original, record = record, logging.LogRecord.__new__(type(record))
        record.__dict__.update(original.__dict__)  # what copy.copy does, without its machinery
        record.msg = record.getMessage()
        record.args = None
        job = current_job()
        context = [("source", current_source())]
        if job is not None:
            context += [("job_id", job.job_id), ("job_type", job.job_type)]
            context.append(("attempt", job.attempt))
        setattr(record, _CONTEXT, context)
        return record


class _Installed:
    """The handler and writer thread :func:`configure_logging` installed last."""

    lock = threading.Lock()
    handler: logging.Handler | None = None
    listener: logging.handlers.QueueListener | None = None


def _uninstall() -> None:
    root = logging.getLogger()
    if _Installed.handler is not None:
        root.removeHandler(_Installed.handler)
        _Installed.handler = None
    if _Installed.listener is not None:
        _Installed.listener.stop()  # writes what is queued
        _Installed.listener = None


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    """Route every record of the process through one handler on the root logger, in ``fmt``
    (``console`` or ``json``) at ``level`` (see the module docstring)."""
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}")
    writer = _StderrHandler()
    writer.setFormatter(formatter(fmt, colors=fmt == "console" and sys.stderr.isatty()))
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = _QueueHandler(records)
    listener = logging.handlers.QueueListener(records, writer, respect_handler_level=False)
    with _Installed.lock:
        _uninstall()
        root = logging.getLogger()
        root.setLevel(numeric)
        root.addHandler(handler)
        listener.start()
        _Installed.handler, _Installed.listener = handler, listener
    for name, quiet, at_debug in QUIET:
        logging.getLogger(name).setLevel(at_debug if numeric <= logging.DEBUG else quiet)
    # Litestar's and uvicorn's loggers write through the root's handler (uvicorn runs with
    # log_config=None: app.server); none keeps a handler of its own.
    for name in ("litestar", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        for own in list(logger.handlers):
            logger.removeHandler(own)
        logger.propagate = True


def flush_logs() -> None:
    """Write every line queued so far (then keep writing)."""
    with _Installed.lock:
        listener = _Installed.listener
        if listener is not None:
            listener.stop()
            listener.start()


def flush_at_termination() -> None:
    """Make SIGTERM write the queued lines before the process ends by it (uvicorn handles the
    signal, shuts down, then raises it again with the handler found before it: this one). The
    process still ends by the signal, as a service manager expects. Main thread only; a handler
    someone else installed is kept."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _drain_then_end)


def _drain_then_end(signum: int, _: object) -> None:
    _drain()
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


def _drain() -> None:
    with _Installed.lock:
        _uninstall()


atexit.register(_drain)
