"""What the operator console and the day-two commands need from the schema (as SQLite's
m009): ``clients.disabled_at``, the console's indexes, ``lead_changes`` kept by a trigger,
and the AI spend roll-ups ``ai_usage_hourly`` / ``ai_latency_daily`` kept by a trigger on
insert (and filled from the rows already there).

Postgres specifics: the triggers are PL/pgSQL functions; ``hour`` is a ``timestamptz``
truncated to the UTC hour and ``day`` a ``date`` (UTC); a change of ``opted_out_at`` is kept
in ``lead_changes`` as the same ISO text SQLite keeps (``leadhook_iso``). The latency
buckets are the same rows as SQLite's.
"""

from __future__ import annotations

import psycopg

from db.postgres.migrations._registry import migration

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
_CHANGED_FIELDS = (
    "status",
    "sentiment_tag",
    "opted_out_at",
    "fit_score",
    "intent_score",
    "overall_score",
)
_DIMENSIONS = (
    ("source", "COALESCE({r}.source, '')"),
    ("feature", "{r}.feature_id"),
    ("model", "{r}.model"),
    ("client", "COALESCE({r}.client_id, 0)::text"),
)
_BUCKET = (
    "(SELECT max(lower_ms) FROM ai_latency_buckets WHERE lower_ms <= GREATEST({r}.latency_ms, 0))"
)


def _text(field: str, row: str) -> str:
    if field == "opted_out_at":
        return f"leadhook_iso({row}.{field})"
    return f"{row}.{field}::text"


def _lead_changes_trigger() -> str:
    checks = "".join(
        f"""
    IF OLD.{f} IS DISTINCT FROM NEW.{f} THEN
        INSERT INTO lead_changes (lead_id, client_id, changed_at, field, old_value, new_value)
        VALUES (NEW.id, NEW.client_id, NEW.updated_at, '{f}', {_text(f, "OLD")}, {_text(f, "NEW")});
    END IF;"""
        for f in _CHANGED_FIELDS
    )
    return f"""
CREATE FUNCTION leads_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN{checks}
    RETURN NULL;
END $$;
CREATE TRIGGER leads_changed AFTER UPDATE ON leads FOR EACH ROW EXECUTE FUNCTION leads_changed();
"""


def _rollup_trigger() -> str:
    sums = ", ".join(_SUMS)
    updates = ", ".join(f"{c} = u.{c} + EXCLUDED.{c}" for c in _SUMS)
    latency_rows = ",\n            ".join(
        f"('{name}', call_day, {group.format(r='NEW')}, bucket, 1)" for name, group in _DIMENSIONS
    )
    return f"""
CREATE FUNCTION ai_interactions_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bucket integer;
    call_day date := (NEW.created_at AT TIME ZONE 'UTC')::date;
BEGIN
    INSERT INTO ai_usage_hourly AS u (hour, source, feature_id, model, client_id, {sums})
    VALUES (date_trunc('hour', NEW.created_at, 'UTC'), COALESCE(NEW.source, ''),
            NEW.feature_id, NEW.model, COALESCE(NEW.client_id, 0), 1,
            (NEW.status = 'error')::int, COALESCE(NEW.input_tokens, 0),
            COALESCE(NEW.cached_input_tokens, 0), COALESCE(NEW.output_tokens, 0),
            COALESCE(NEW.reasoning_tokens, 0), COALESCE(NEW.total_tokens, 0),
            COALESCE(NEW.cost_usd, 0), (NEW.cost_usd IS NULL)::int)
    ON CONFLICT (hour, source, feature_id, model, client_id) DO UPDATE SET {updates};
    IF NEW.latency_ms IS NOT NULL THEN
        bucket := {_BUCKET.format(r="NEW")};
        INSERT INTO ai_latency_daily AS d (dimension, day, grp, lower_ms, calls)
        VALUES {latency_rows}
        ON CONFLICT (dimension, day, grp, lower_ms) DO UPDATE SET calls = d.calls + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER ai_interactions_rollup AFTER INSERT ON ai_interactions
    FOR EACH ROW EXECUTE FUNCTION ai_interactions_rollup();
"""


@migration
def m009_console(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        ALTER TABLE clients ADD COLUMN disabled_at timestamptz;

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

        CREATE FUNCTION leadhook_iso(moment timestamptz) RETURNS text
            LANGUAGE sql IMMUTABLE STRICT
            RETURN to_char(moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');

        CREATE TABLE lead_changes (
            id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            lead_id bigint NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
            client_id bigint NOT NULL,
            changed_at timestamptz NOT NULL,
            field text NOT NULL,
            old_value text,
            new_value text
        );
        CREATE INDEX lead_changes_lead ON lead_changes (lead_id, id);

        CREATE TABLE ai_usage_hourly (
            hour timestamptz NOT NULL,
            source text NOT NULL,
            feature_id text NOT NULL,
            model text NOT NULL,
            client_id bigint NOT NULL,
            calls bigint NOT NULL,
            errors bigint NOT NULL,
            input_tokens bigint NOT NULL,
            cached_input_tokens bigint NOT NULL,
            output_tokens bigint NOT NULL,
            reasoning_tokens bigint NOT NULL,
            total_tokens bigint NOT NULL,
            cost_usd double precision NOT NULL,
            unpriced_calls bigint NOT NULL,
            PRIMARY KEY (hour, source, feature_id, model, client_id)
        );

        CREATE TABLE ai_latency_buckets (
            lower_ms integer PRIMARY KEY,
            upper_ms integer
        );

        CREATE TABLE ai_latency_daily (
            dimension text NOT NULL CHECK (dimension IN ('source', 'feature', 'model', 'client')),
            day date NOT NULL,
            grp text NOT NULL,
            lower_ms integer NOT NULL REFERENCES ai_latency_buckets(lower_ms),
            calls bigint NOT NULL,
            PRIMARY KEY (dimension, day, grp, lower_ms)
        );
        """
    )
    conn.execute(_lead_changes_trigger())
    bounds = latency_bounds()
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO ai_latency_buckets (lower_ms, upper_ms) VALUES (%s, %s)",
            list(zip(bounds, [*bounds[1:], None], strict=True)),
        )
    conn.execute(_rollup_trigger())
    _backfill(conn)


def _backfill(conn: psycopg.Connection) -> None:
    """The roll-ups of the ``ai_interactions`` rows stored before this migration."""
    conn.execute(
        f"""
        INSERT INTO ai_usage_hourly (hour, source, feature_id, model, client_id, {", ".join(_SUMS)})
        SELECT date_trunc('hour', created_at, 'UTC'), COALESCE(source, ''), feature_id, model,
               COALESCE(client_id, 0), COUNT(*), COUNT(*) FILTER (WHERE status = 'error'),
               COALESCE(SUM(input_tokens), 0), COALESCE(SUM(cached_input_tokens), 0),
               COALESCE(SUM(output_tokens), 0), COALESCE(SUM(reasoning_tokens), 0),
               COALESCE(SUM(total_tokens), 0), COALESCE(SUM(cost_usd), 0),
               COUNT(*) FILTER (WHERE cost_usd IS NULL)
          FROM ai_interactions
         GROUP BY 1, 2, 3, 4, 5
        """
    )
    for dimension, group in _DIMENSIONS:
        conn.execute(
            f"""
            INSERT INTO ai_latency_daily (dimension, day, grp, lower_ms, calls)
            SELECT '{dimension}', (created_at AT TIME ZONE 'UTC')::date, {group.format(r="a")},
                   {_BUCKET.format(r="a")}, COUNT(*)
              FROM ai_interactions AS a
             WHERE latency_ms IS NOT NULL
             GROUP BY 1, 2, 3, 4
            """
        )
