"""What every ``leadhook`` command shares: opening the store, printing, formatting.

- :func:`open_store` (``with open_store() as store:``) opens the store of ``$LEADHOOK_DB``
  and always closes it, also when the command fails. An error of :mod:`db` raised inside
  becomes a :class:`click.ClickException` with the error's own message (exit status 1,
  no traceback). :func:`call` runs one ``store.sync`` operation that way.
- :func:`emit` prints a command's result: ``--json`` gives JSON (indent 2; values JSON
  does not know, such as datetimes, as ``str``), otherwise the command's text.
- :func:`table`, :func:`age` and :func:`one_line` format text output.

Commands use only :mod:`db`'s public interface and :class:`config.Settings` (no driver).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

import db
from config import Settings

__all__ = ["age", "call", "emit", "one_line", "open_store", "table"]


@contextmanager
def open_store(settings: Settings | None = None) -> Iterator[db.Store]:
    """The store of ``settings.db_path`` (default: from the environment), closed on exit."""
    path = (settings or Settings.from_env()).db_path
    try:
        store = db.open_store(path)
        try:
            yield store
        finally:
            store.close()
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
    seconds = int(max(0, seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def one_line(text: str | None, width: int = 60) -> str:
    """``text`` with its whitespace collapsed, cut to ``width`` characters (``…`` marks a cut)."""
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"
