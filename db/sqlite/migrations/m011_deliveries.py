"""The delivery ledger: ``deliveries``, one row per request that reached a webhook route.

Columns (docs/deliveries.md): ``received_at``, ``route`` (the path, never the query string),
``client_id`` (NULL when the request had no valid token), ``status_code``, ``outcome``
(``stored|deduped|ignored|rejected``), ``error`` (a rejected request's error, an ignored
event's reason), ``event_type``, ``message_id`` and ``dedupe_key`` (of the message it stored
or matched), ``duration_ms`` (from its arrival to its write), ``body_bytes``,
``body_sha256`` (of the raw body), ``body`` (the raw body with every secret redacted; NULL
once pruned or when bodies are not kept), ``answer`` (the JSON answered), ``replay_of`` (the
delivery this one replayed, ``leadhook deliveries replay``).

Lists are ordered newest received first (``received_at DESC, id DESC``; keyset pages).
Indexes, each for a reader: ``(received_at, route, outcome)`` for retention, time windows,
the route filter and the console's deliveries per hour (covering); ``(client_id,
received_at)`` and ``(outcome, received_at)`` for those filters; ``dedupe_key`` and
``message_id`` (partial: rows that have one) for look-ups by provider id and from a message;
``replay_of``; and ``(received_at) WHERE body IS NOT NULL`` so pruning bodies reads only
rows that still have one.
"""

from __future__ import annotations

from sqlite_utils import Database

from db.sqlite.migrations._registry import migrations

# Frozen copy of db.vocab.DELIVERY_OUTCOMES as of this migration.
_OUTCOMES = "'stored', 'deduped', 'ignored', 'rejected'"


@migrations()
def m011_deliveries(db: Database) -> None:
    db.executescript(
        f"""
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            received_at TEXT NOT NULL,
            route TEXT NOT NULL,
            client_id INTEGER REFERENCES clients(id),
            status_code INTEGER NOT NULL CHECK (status_code BETWEEN 100 AND 599),
            outcome TEXT NOT NULL CHECK (outcome IN ({_OUTCOMES})),
            error TEXT,
            event_type TEXT,
            message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
            dedupe_key TEXT,
            duration_ms REAL,
            body_bytes INTEGER,
            body_sha256 TEXT,
            body TEXT,
            answer TEXT,
            replay_of INTEGER REFERENCES deliveries(id) ON DELETE SET NULL
        );
        CREATE INDEX deliveries_received_at ON deliveries (received_at, route, outcome);
        CREATE INDEX deliveries_client_received_at ON deliveries (client_id, received_at);
        CREATE INDEX deliveries_outcome_received_at ON deliveries (outcome, received_at);
        CREATE INDEX deliveries_dedupe_key ON deliveries (dedupe_key)
            WHERE dedupe_key IS NOT NULL;
        CREATE INDEX deliveries_message_id ON deliveries (message_id)
            WHERE message_id IS NOT NULL;
        CREATE INDEX deliveries_replay_of ON deliveries (replay_of) WHERE replay_of IS NOT NULL;
        CREATE INDEX deliveries_body_kept ON deliveries (received_at) WHERE body IS NOT NULL;
        """
    )
