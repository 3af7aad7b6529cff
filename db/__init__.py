"""The database layer: every SQL statement of leadhook lives in this package.

Public surface: :class:`Store` (the process's writer and readers), :func:`connect`,
:func:`migrate`, the modules ``clients``, ``leads``, ``messages``, ``jobs``, and the errors.
"""

from db import ai, clients, jobs, leads, messages
from db._connection import connect, write_probe
from db._errors import DatabaseError, DatabaseUnavailable
from db._migrations import migrate
from db._store import Store
from db._time import iso, parse_iso, utcnow

__all__ = [
    "DatabaseError",
    "DatabaseUnavailable",
    "Store",
    "ai",
    "clients",
    "connect",
    "iso",
    "jobs",
    "leads",
    "messages",
    "migrate",
    "parse_iso",
    "utcnow",
    "write_probe",
]
