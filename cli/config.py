"""``leadhook config``: the effective settings, where each comes from, secrets masked.

Reads the environment exactly as ``serve`` does, so a value ``serve`` would refuse is
refused here too (one line, exit status 78): run it to check a configuration before a
start. Secrets (``LEADHOOK_CRON_SECRET``, ``LEADHOOK_ADMIN_TOKEN``, ``OPENAI_API_KEY``, the
password of a database URL) are shown only as set or unset. Also lists ``LEADHOOK_*``
variables leadhook does not know (typos), with the closest known name.
"""

from __future__ import annotations

import os
import re
from typing import Any

import click

from cli._output import emit, read_settings
from config import VARIABLES, Settings, unknown_variables

MASK = "********"


def effective(config: Settings) -> dict[str, dict[str, Any]]:
    """``{VARIABLE: {"value": ..., "source": "environment"|"default"}}``, secrets masked."""
    shown: dict[str, dict[str, Any]] = {}
    for var in VARIABLES:
        value = getattr(config, var.field)
        source = "environment" if (os.environ.get(var.name) or "").strip() else "default"
        if var.secret and value:
            value = MASK
        elif var.field == "db_path":
            value = re.sub(r"(://[^:/@]*:)[^@]*@", rf"\1{MASK}@", value)
        if var.field == "ai_provider" and source == "default":
            source = "default (OPENAI_API_KEY is set)" if value == "openai" else "default"
        shown[var.name] = {"value": value, "source": source}
    return shown


def _text(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def config(as_json: bool) -> None:
    """Print the effective settings (secrets masked) and check them.

    \b
    Example:
        leadhook config
        LEADHOOK_JOB_CONCURRENCY=8 leadhook config --json
    """
    shown = effective(read_settings())
    unknown = unknown_variables()
    width = max(len(name) for name in shown)
    values = {name: _text(item["value"]) for name, item in shown.items()}
    value_width = min(48, max(len(v) for v in values.values()))
    lines = [
        f"{name.ljust(width)}  {values[name].ljust(value_width)}  {item['source']}"
        for name, item in shown.items()
    ]
    for name, close in unknown.items():
        hint = f" (did you mean {close}?)" if close else ""
        lines.append(f"warning: {name} is not a leadhook variable and is ignored{hint}")
    data = {**shown, "unknown_variables": unknown} if unknown else shown
    emit(data, as_json, "\n".join(lines))
