"""What every ``leadhook`` command shares: settings, opening the store, printing, formatting.

- :func:`read_settings` reads the environment; a value it does not accept is a
  :class:`ConfigProblem` (one line naming the variable, exit status 78: EX_CONFIG).
- :func:`open_store` (``with open_store() as store:``) opens the store of ``$LEADHOOK_DB``
  and always closes it, also when the command fails. It never creates a database: a file
  that does not exist is refused with one line saying which file and how to create it
  (``create=True`` is for ``serve`` and ``db migrate`` only). An error of :mod:`db` raised
  inside becomes a :class:`click.ClickException` with the error's own message (exit status
  1, no traceback). :func:`call` runs one ``store.sync`` operation that way.
- :func:`emit` prints a command's result: ``--json`` gives JSON (indent 2; values JSON
  does not know, such as datetimes, as ``str``), otherwise the command's text.
- :func:`table`, :func:`age` and :func:`one_line` format text output.

Commands use only :mod:`db`'s public interface and :class:`config.Settings` (no driver).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

import db
from config import ConfigError, Settings

__all__ = [
    "ConfigProblem",
    "age",
    "call",
    "emit",
    "missing_database",
    "one_line",
    "open_store",
    "read_settings",
    "table",
]
EX_CONFIG = 78  # sysexits.h: a configuration error (systemd: RestartPreventExitStatus=78)


class ConfigProblem(click.ClickException):
    """A setting leadhook does not accept: one line, exit status 78."""

    exit_code = EX_CONFIG


def read_settings() -> Settings:
    """The settings of the environment, or :class:`ConfigProblem`."""
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise ConfigProblem(str(exc)) from None


def missing_database(path: str) -> str:
    """One line: which file is missing, where it was looked for, how to create it."""
    raw = os.environ.get("LEADHOOK_DB", "").strip()
    if db.is_database_url(path):
        return (
            f"no leadhook schema in {db.redact(path)}: create it with `leadhook db migrate` "
            "(or copy a SQLite database there with `leadhook db copy --to URL`)"
        )
    where = f"LEADHOOK_DB={raw}" if raw else f"LEADHOOK_DB is unset: the default {path}"
    return (
        f"no database at {Path(path).resolve()} ({where}, in {Path.cwd()}): set "
        "LEADHOOK_DB to the existing file, or create one with `leadhook db migrate`"
    )


@contextmanager
def open_store(
    config: Settings | None = None, *, create: bool = False, migrate: bool = True
) -> Iterator[db.Store]:
    """The store of ``config.db_path`` (default: from the environment), closed on exit.
    Refuses a file that does not exist unless ``create``; ``migrate=False`` leaves the
    schema as it is (``db check``, ``db backup``)."""
    path = (config or read_settings()).db_path
    try:
        store = db.open_store(path, create=create, apply_migrations=migrate)
        try:
            yield store
        finally:
            store.close()
    except db.DatabaseMissing:
        raise click.ClickException(missing_database(path)) from None
    except db.DatabaseError as exc:
        raise click.ClickException(str(exc)) from None


def call(operation: str, *args: Any, **kwargs: Any) -> Any:
    """Run ``store.sync.<operation>(*args, **kwargs)`` on a store opened for this call only."""
    with open_store() as store:
        return getattr(store.sync, operation)(*args, **kwargs)


def emit(data: object, as_json: bool, text: str) -> None:
    """Print ``data`` as JSON when ``as_json``, else ``text``."""
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


def table(rows: list[list[str]], *, min_width: int = 0) -> list[str]:
    """``rows`` as aligned lines: the first column left-aligned, the others right-aligned
    and at least ``min_width`` wide; columns two spaces apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    widths[1:] = [max(width, min_width) for width in widths[1:]]

    def line(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))
        return "  ".join([first, *rest])

    return [line(row) for row in rows]


def age(seconds: float) -> str:
    """A duration in its two largest units: ``2d 3h``, ``1h 05m``, ``5m 00s``, ``7s``."""
    return db.time.span(seconds)


def one_line(text: str | None, width: int = 60) -> str:
    """``text`` with its whitespace collapsed, cut to ``width`` characters (``…`` marks a cut)."""
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"
