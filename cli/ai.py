"""``leadhook ai``: the AI spend report and the prices calls are charged at.

``ai report`` reads the same report as ``GET /api/telemetry/ai`` (``store.ai_report``) and
prints it as a table (:func:`format_report`) or as JSON. A ``--since`` that is not an
ISO-8601 time, or an unknown ``--by``, is a usage error (exit status 2). A group whose calls
all lack a cost (an unpriced model, failures without usage) shows ``-`` (JSON ``null``) as
its cost, never 0.

``ai prices [MODEL]`` prints what a call would be charged now, per million tokens, and where
the price comes from (``LEADHOOK_AI_PRICES_JSON`` or the genai-prices catalogue and its
version), for MODEL, or for the configured model and every model the environment prices. It
reads the settings only (no database). An invalid ``LEADHOOK_AI_PRICES_JSON`` exits 1 with
what is wrong.
"""

from __future__ import annotations

from typing import Any

import click

import ai
import db
from ai import prices as ai_prices
from cli._output import call, emit, table
from config import Settings

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


_UNPRICED = "unpriced: calls are stored with cost_usd NULL"


def _price_row(model: str, price: ai.Price | None, configured: bool) -> dict[str, Any]:
    return {
        "model": model,
        "configured": configured,
        "priced": price is not None,
        "input_per_mtok": price.input if price else None,
        "cached_input_per_mtok": price.cached_input if price else None,
        "output_per_mtok": price.output if price else None,
        "source": price.source if price else None,
    }


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


@ai_group.command()
@click.argument("model", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the prices as JSON.")
def prices(model: str | None, as_json: bool) -> None:
    """What an AI call is charged now (USD per million tokens) and where the price is from.

    Without MODEL: the configured model ($LEADHOOK_AI_MODEL; "offline" costs 0) and every
    model $LEADHOOK_AI_PRICES_JSON prices. Prices come from $LEADHOOK_AI_PRICES_JSON first,
    then from the genai-prices catalogue bundled with this version (never fetched). A model
    neither knows is unpriced: its calls have no cost (NULL), never 0.

    \b
    Example:
        leadhook ai prices
        leadhook ai prices gpt-4o-2024-05-13 --json
    """
    settings = Settings.from_env()
    provider = (settings.ai_provider or "offline").strip().lower()
    try:
        table_ = ai.PriceTable.from_json(settings.ai_prices_json, base_url=settings.openai_base_url)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    found: list[dict[str, Any]] = []
    if model:
        found.append(_price_row(model, table_.lookup(model), model == settings.ai_model))
    else:
        if provider == "offline":
            found.append(_price_row("offline", ai_prices.OFFLINE_PRICE, True))
        else:
            found.append(_price_row(settings.ai_model, table_.lookup(settings.ai_model), True))
        for name in sorted(table_.overridden()):
            if name != settings.ai_model or provider == "offline":
                found.append(_price_row(name, table_.lookup(name), False))
    catalogue = f"{ai_prices.CATALOGUE} {ai_prices.catalogue_version()}"
    data = {"provider": provider, "catalogue": catalogue, "prices": found}
    emit(data, as_json, _prices_text(provider, catalogue, found))


def _prices_text(provider: str, catalogue: str, found: list[dict[str, Any]]) -> str:
    header = ["MODEL", "INPUT", "CACHED_INPUT", "OUTPUT"]
    body = [
        [
            row["model"] + (" (configured)" if row["configured"] else ""),
            _number(row["input_per_mtok"]),
            _number(row["cached_input_per_mtok"]),
            _number(row["output_per_mtok"]),
        ]
        for row in found
    ]
    sources = ["SOURCE", *(row["source"] or _UNPRICED for row in found)]
    lines = table([header, *body])
    title = f"AI prices, USD per million tokens (provider {provider}; catalogue {catalogue})"
    return "\n".join([title, *(f"{line}  {src}" for line, src in zip(lines, sources, strict=True))])
