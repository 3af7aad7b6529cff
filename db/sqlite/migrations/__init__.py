"""Versioned schema migrations (sqlite-utils ``Migrations``), one module each.

Each migration runs once, in its own transaction, recorded in ``_sqlite_migrations``, in the
order its module is imported below. Never edit a migration once it is released: add a new
module. Migrations never drop data.

A migration that writes a vocabulary into a ``CHECK`` holds a frozen copy of it, as of that
migration (:mod:`db.vocab` holds the live lists); a later change of a list needs a migration
of its own. ``tests/test_migrations.py`` checks that the live lists and the schema agree.
"""

from __future__ import annotations

from sqlite_utils import Database

from db.sqlite.migrations._registry import migrations

# Registration order is application order.
from db.sqlite.migrations import m001_initial  # noqa: F401  isort: skip
from db.sqlite.migrations import m002_jobs_snoozes  # noqa: F401  isort: skip
from db.sqlite.migrations import m003_ai_report  # noqa: F401  isort: skip
from db.sqlite.migrations import m004_lead_state  # noqa: F401  isort: skip
from db.sqlite.migrations import m005_per_client_dedupe  # noqa: F401  isort: skip
from db.sqlite.migrations import m006_readiness  # noqa: F401  isort: skip
from db.sqlite.migrations import m007_ai_prices  # noqa: F401  isort: skip
from db.sqlite.migrations import m008_message_sentiments  # noqa: F401  isort: skip
from db.sqlite.migrations import m009_console  # noqa: F401  isort: skip
from db.sqlite.migrations import m010_job_metrics  # noqa: F401  isort: skip
from db.sqlite.migrations import m011_deliveries  # noqa: F401  isort: skip

__all__ = ["migrate", "migrations"]


def migrate(db: Database) -> list[str]:
    """Apply pending migrations; return the names applied."""
    pending = [m.name for m in migrations.pending(db)]
    migrations.apply(db)
    return pending
