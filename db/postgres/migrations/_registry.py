"""The ordered list every Postgres migration module registers into."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class Migration:
    name: str
    fn: Callable[[psycopg.Connection], None]


MIGRATIONS: list[Migration] = []


def migration(fn: Callable[[psycopg.Connection], None]) -> Callable[[psycopg.Connection], None]:
    """Register ``fn`` under its own name (registration order is application order)."""
    MIGRATIONS.append(Migration(fn.__name__, fn))
    return fn


def in_list(values: tuple[str, ...]) -> str:
    """``('a', 'b')`` as the SQL list of a ``CHECK (column IN ...)``."""
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"
