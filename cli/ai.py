"""``leadhook ai``: the AI spend report from the command line.

``ai report`` reads the same report as ``GET /api/telemetry/ai`` (``store.ai_report``) and
prints it as a table (:func:`format_report`) or as JSON. A ``--since`` that is not an
ISO-8601 time, or an unknown ``--by``, is a usage error (exit status 2).
"""

from __future__ import annotations

from typing import Any

import click

import db
from cli._output import call, emit, table

_COLUMNS = (
    ("calls", "CALLS"),
    ("errors", "ERRORS"),
    ("input_tokens", "INPUT"),
    ("cached_input_tokens", "CACHED"),
    ("output_tokens", "OUTPUT"),
    ("reasoning_tokens", "REASONING"),
    ("total_tokens", "TOTAL"),
    ("cost_usd", "COST_USD"),
    ("unpriced_calls", "UNPRICED"),
    ("latency_p50_ms", "P50_MS"),
    ("latency_p95_ms", "P95_MS"),
)


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "cost_usd":
        return f"{value:.6f}"
    return str(value)


def format_report(result: dict[str, Any]) -> str:
    """The report as an aligned text table, the total last."""
    header = [result["by"].upper(), *(title for _, title in _COLUMNS)]
    body = [[g["group"], *(_cell(k, g[k]) for k, _ in _COLUMNS)] for g in result["groups"]]
    total = result["total"]
    footer = ["total", *(_cell(k, total[k]) for k, _ in _COLUMNS)]
    first, *rows, last = table([header, *body, footer])
    rule = "-" * len(first)
    since = f" since {result['since']}" if result["since"] else " (all time)"
    return "\n".join([f"AI calls by {result['by']}{since}", first, rule, *rows, rule, last])


@click.group(name="ai")
def ai_group() -> None:
    """AI telemetry: every call is a row of ai_interactions.

    \b
    Example:
        leadhook ai report --since 2026-01-12
    """


@ai_group.command()
@click.option(
    "--by",
    type=click.Choice(sorted(db.vocab.REPORT_DIMENSIONS)),
    default="source",
    show_default=True,
    help="Group by telemetry source (job type, route), feature_id or requested model.",
)
@click.option(
    "--since",
    metavar="ISO",
    help="Only calls made at or after this time, e.g. 2026-01-18 or 2026-01-18T10:00:00Z (UTC).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def report(by: str, since: str | None, as_json: bool) -> None:
    """Calls, errors, tokens by type, cost, unpriced calls and latency p50/p95 per group.

    Cost is the sum over priced calls; UNPRICED counts calls with no cost (a model without
    a price, or no usage reported). Latency percentiles are nearest-rank over every call
    of the group. Calls without a source are the group "unattributed".

    \b
    Example:
        leadhook ai report --by source --since 2026-01-12
        leadhook ai report --by model --json
    """
    try:
        since_iso = db.normalize_time(since, "since")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    result = call("ai_report", by, since_iso)
    emit(result, as_json, format_report(result))
