"""``leadhook leads``: what an operator does to a lead.

``opt-in`` is the only way back from an opt-out (an unsubscribe event, an SMS "STOP", a
Blacklist reply): it lifts ``status``, ``sentiment_tag`` and ``opted_out_at`` and says what
it lifted. It refuses (exit status 1, with the reason) a lead that does not exist or has not
opted out, and a database file that does not exist (it never creates one).
"""

from __future__ import annotations

from pathlib import Path

import click

import db
from cli._output import emit
from cli._output import open_store as _open_store
from config import Settings

_FIELDS = ("status", "sentiment_tag", "opted_out_at")


@click.group(name="leads")
def leads_group() -> None:
    """Leads: lift an opt-out.

    \b
    Example:
        leadhook leads opt-in 42
    """


@leads_group.command(name="opt-in")
@click.argument("lead_id", type=int)
@click.option("--json", "as_json", is_flag=True, help='Print {"id", "before", "after"}.')
def leads_opt_in(lead_id: int, as_json: bool) -> None:
    """Lift a lead's opt-out: status new, no sentiment tag, opted_out_at cleared.

    Only do this when the person asked to hear from you again: an opt-out (an unsubscribe,
    an SMS STOP, a reply asking to stop) is otherwise final. Rejected drafts stay rejected;
    the lead's next reply is classified, drafted and scored as usual.

    \b
    Example:
        leadhook leads opt-in 42
        leadhook leads opt-in 42 --json
    """
    settings = Settings.from_env()
    if not Path(settings.db_path).exists():
        raise click.ClickException(
            f"no database at {settings.db_path} (set LEADHOOK_DB to the leadhook file)"
        )
    with _open_store(settings) as store:
        before, after = store.sync.opt_in_lead(lead_id, now=db.iso(db.utcnow()))
    if before is None:
        raise click.ClickException(f"no lead {lead_id}")
    if after is None:
        raise click.ClickException(
            f"lead {lead_id} has not opted out (status {before['status']}, tag "
            f"{before['sentiment_tag'] or '-'}): nothing to lift"
        )
    lines = [f"lead {lead_id}: opt-out lifted"]
    lines += [f"  {name}: {before[name] or '-'} → {after[name] or '-'}" for name in _FIELDS]
    data = {
        "id": lead_id,
        "before": {name: before[name] for name in _FIELDS},
        "after": {name: after[name] for name in _FIELDS},
    }
    emit(data, as_json, "\n".join(lines))
