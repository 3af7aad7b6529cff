"""What the operator console and the day-two commands need from the schema.

- ``clients.disabled_at``: a disabled client's token is refused (401) by the token lookup and
  by the token re-check inside every write; ``NULL`` means enabled.
- ``lead_changes``: one row per change of a lead's ``status``, ``sentiment_tag``,
  ``opted_out_at`` or scores,
  written by triggers whatever code (or shell session) made the change: the lead timeline.
- ``ai_usage_hourly`` and ``ai_latency_daily``: roll-ups of ``ai_interactions``, kept by a
  trigger on insert (and filled from the rows already there), so the console's spend page
  reads a few thousand rows for any window instead of a million. ``ai_usage_hourly`` sums
  calls, errors, tokens, cost (priced rows) and unpriced calls per hour, telemetry source,
  feature, model and client. ``ai_latency_daily`` counts calls per UTC day, dimension
  (``source``, ``feature``, ``model``, ``client``), group and latency bucket; the buckets are
  the rows of ``ai_latency_buckets`` (1 ms wide up to 10 ms, then 10 % wider each), so a
  percentile read from them is within 5 % of the exact one. Pruning ``ai_interactions``
  leaves the roll-ups alone: they are the spend history. In the roll-ups a call without a
  source has ``source = ''`` and one without a client ``client_id = 0`` (key columns cannot
  be NULL).
- Indexes for the console's filters, each read newest first by keyset (``id < ?``).
"""

from __future__ import annotations

from sqlite_utils import Database

from db.sqlite.migrations._registry import migrations

LATENCY_LINEAR_MS = 10
LATENCY_GROWTH = 1.1
LATENCY_MAX_MS = 3_600_000


def latency_bounds() -> list[int]:
    """The lower bounds of the latency buckets: 0..10 ms one by one, then 10 % wider each."""
    bounds = list(range(LATENCY_LINEAR_MS + 1))
    value = float(LATENCY_LINEAR_MS)
    while bounds[-1] < LATENCY_MAX_MS:
        value *= LATENCY_GROWTH
        bound = round(value)
        if bound > bounds[-1]:
            bounds.append(bound)
    return bounds


_SUMS = (
    "calls",
    "errors",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_usd",
    "unpriced_calls",
)

_HOURLY_VALUES = """
    substr(NEW.created_at, 1, 13) || ':00:00.000Z', COALESCE(NEW.source, ''), NEW.feature_id,
    NEW.model, COALESCE(NEW.client_id, 0), 1, NEW.status = 'error',
    COALESCE(NEW.input_tokens, 0), COALESCE(NEW.cached_input_tokens, 0),
    COALESCE(NEW.output_tokens, 0), COALESCE(NEW.reasoning_tokens, 0),
    COALESCE(NEW.total_tokens, 0), COALESCE(NEW.cost_usd, 0), NEW.cost_usd IS NULL
"""

_BUCKET = "(SELECT MAX(lower_ms) FROM ai_latency_buckets WHERE lower_ms <= MAX(NEW.latency_ms, 0))"


def _latency_insert(dimension: str, group: str) -> str:
    return f"""
        INSERT INTO ai_latency_daily (dimension, day, grp, lower_ms, calls)
        SELECT '{dimension}', substr(NEW.created_at, 1, 10), {group}, {_BUCKET}, 1
         WHERE NEW.latency_ms IS NOT NULL
        ON CONFLICT (dimension, day, grp, lower_ms) DO UPDATE SET calls = calls + 1;"""


_DIMENSIONS = (
    ("source", "COALESCE(NEW.source, '')"),
    ("feature", "NEW.feature_id"),
    ("model", "NEW.model"),
    ("client", "CAST(COALESCE(NEW.client_id, 0) AS TEXT)"),
)


@migrations()
def m009_console(db: Database) -> None:
    db.executescript(
        """
        ALTER TABLE clients ADD COLUMN disabled_at TEXT;  -- NULL: enabled

        CREATE INDEX background_jobs_status_id ON background_jobs (status, id);
        CREATE INDEX background_jobs_client_id ON background_jobs (client_id, id);
        CREATE INDEX background_jobs_with_error ON background_jobs (id)
            WHERE last_error IS NOT NULL;
        CREATE INDEX leads_client_id ON leads (client_id, id);
        CREATE INDEX leads_status_id ON leads (status, id);
        CREATE INDEX ai_interactions_lead ON ai_interactions (lead_id, created_at)
            WHERE lead_id IS NOT NULL;
        CREATE INDEX ai_drafts_lead ON ai_drafts (lead_id);
        CREATE INDEX ai_drafts_status_id ON ai_drafts (status, id);

        CREATE TABLE lead_changes (
            id INTEGER PRIMARY KEY,
            lead_id INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
            client_id INTEGER NOT NULL,
            changed_at TEXT NOT NULL,           -- the lead's updated_at of the change
            field TEXT NOT NULL,                -- status, sentiment_tag, opted_out_at, ...
            old_value TEXT,
            new_value TEXT
        );
        CREATE INDEX lead_changes_lead ON lead_changes (lead_id, id);
        """
    )
    fields = ("status", "sentiment_tag", "opted_out_at", "fit_score", "intent_score")
    for field in (*fields, "overall_score"):
        db.execute(
            f"""
            CREATE TRIGGER leads_{field}_changed AFTER UPDATE OF {field} ON leads
            FOR EACH ROW WHEN OLD.{field} IS NOT NEW.{field}
            BEGIN
                INSERT INTO lead_changes (lead_id, client_id, changed_at, field, old_value,
                                          new_value)
                VALUES (NEW.id, NEW.client_id, NEW.updated_at, '{field}', OLD.{field},
                        NEW.{field});
            END"""
        )
    sums = ", ".join(_SUMS)
    db.executescript(
        """
        CREATE TABLE ai_usage_hourly (
            hour TEXT NOT NULL,                 -- 2026-01-18T10:00:00.000Z
            source TEXT NOT NULL,               -- '' when the call had no source
            feature_id TEXT NOT NULL,
            model TEXT NOT NULL,
            client_id INTEGER NOT NULL,         -- 0 when the call had no client
            calls INTEGER NOT NULL,
            errors INTEGER NOT NULL,
            input_tokens INTEGER NOT NULL,
            cached_input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            reasoning_tokens INTEGER NOT NULL,
            total_tokens INTEGER NOT NULL,
            cost_usd REAL NOT NULL,             -- sum over priced calls
            unpriced_calls INTEGER NOT NULL,    -- calls whose cost_usd is NULL
            PRIMARY KEY (hour, source, feature_id, model, client_id)
        ) WITHOUT ROWID;

        CREATE TABLE ai_latency_buckets (
            lower_ms INTEGER PRIMARY KEY,       -- a call of latency_ms >= lower_ms and
            upper_ms INTEGER                    -- < upper_ms (NULL: no upper bound)
        );

        CREATE TABLE ai_latency_daily (
            dimension TEXT NOT NULL CHECK (dimension IN ('source', 'feature', 'model', 'client')),
            day TEXT NOT NULL,                  -- 2026-01-18 (UTC)
            grp TEXT NOT NULL,                  -- the source, feature, model or client id
            lower_ms INTEGER NOT NULL REFERENCES ai_latency_buckets(lower_ms),
            calls INTEGER NOT NULL,
            PRIMARY KEY (dimension, day, grp, lower_ms)
        ) WITHOUT ROWID;
        """
    )
    bounds = latency_bounds()
    uppers = [*bounds[1:], None]
    db.conn.executemany(
        "INSERT INTO ai_latency_buckets (lower_ms, upper_ms) VALUES (?, ?)",
        list(zip(bounds, uppers, strict=True)),
    )
    latency = "".join(_latency_insert(name, group) for name, group in _DIMENSIONS)
    db.execute(
        f"""
        CREATE TRIGGER ai_interactions_rollup AFTER INSERT ON ai_interactions
        BEGIN
            INSERT INTO ai_usage_hourly (hour, source, feature_id, model, client_id, {sums})
            VALUES ({_HOURLY_VALUES})
            ON CONFLICT (hour, source, feature_id, model, client_id) DO UPDATE SET
                {", ".join(f"{c} = {c} + excluded.{c}" for c in _SUMS)};
            {latency}
        END"""
    )
    _backfill(db)


def _backfill(db: Database) -> None:
    """The roll-ups of the ``ai_interactions`` rows stored before this migration."""
    db.execute(
        f"""
        INSERT INTO ai_usage_hourly (hour, source, feature_id, model, client_id, {", ".join(_SUMS)})
        SELECT substr(created_at, 1, 13) || ':00:00.000Z', COALESCE(source, ''), feature_id,
               model, COALESCE(client_id, 0), COUNT(*), SUM(status = 'error'),
               COALESCE(SUM(input_tokens), 0), COALESCE(SUM(cached_input_tokens), 0),
               COALESCE(SUM(output_tokens), 0), COALESCE(SUM(reasoning_tokens), 0),
               COALESCE(SUM(total_tokens), 0), COALESCE(SUM(cost_usd), 0),
               SUM(cost_usd IS NULL)
          FROM ai_interactions
         GROUP BY 1, 2, 3, 4, 5
        """
    )
    for dimension, group in _DIMENSIONS:
        column = group.replace("NEW.", "")
        db.execute(
            f"""
            INSERT INTO ai_latency_daily (dimension, day, grp, lower_ms, calls)
            SELECT '{dimension}', substr(created_at, 1, 10), {column},
                   (SELECT MAX(lower_ms) FROM ai_latency_buckets
                     WHERE lower_ms <= MAX(ai_interactions.latency_ms, 0)),
                   COUNT(*)
              FROM ai_interactions
             WHERE latency_ms IS NOT NULL
             GROUP BY 1, 2, 3, 4
            """
        )
