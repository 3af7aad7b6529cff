"""``leadhook leads``: the leads of the workspaces, one lead's timeline, and lifting an opt-out.

``list`` reads newest first (``--before ID`` gives the next page); ``show`` prints the lead,
its newest messages, the changes of its status, sentiment and scores, its drafts and the AI
spent on it (the console's lead page, as text); an unknown lead exits with status 1.

``opt-in`` is the only way back from an opt-out (an unsubscribe event, an SMS "STOP", a
Blacklist reply): it lifts ``status``, ``sentiment_tag`` and ``opted_out_at`` and says what
it lifted. It refuses (exit status 1, with the reason) a lead that does not exist or has not
opted out, and a database file that does not exist (it never creates one).
"""

from __future__ import annotations

from pathlib import Path

import click

import db
from cli._output import call, emit, one_line, table
from cli._output import open_store as _open_store
from config import Settings
from db.vocab import LEAD_STATUSES

_FIELDS = ("status", "sentiment_tag", "opted_out_at")


@click.group(name="leads")
def leads_group() -> None:
    """Leads: list them, show one's timeline, lift an opt-out.

    \b
    Example:
        leadhook leads list --status qualified
        leadhook leads show 12
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
    if not db.is_database_url(settings.db_path) and not Path(settings.db_path).exists():
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


def _name(lead: dict) -> str:
    name = " ".join(p for p in (lead.get("first_name"), lead.get("last_name")) if p)
    contact = lead.get("email") or lead.get("phone") or lead.get("ghl_contact_id")
    contact = contact or lead.get("linkedin_url") or lead.get("linkedin_id") or "-"
    return f"{name} <{contact}>" if name else contact


@leads_group.command(name="list")
@click.option("--client", "client_id", type=int, help="Only this client's leads.")
@click.option("--status", type=click.Choice(LEAD_STATUSES), help="Only leads in this status.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500))
@click.option("--before", "before_id", type=int, help="The next page: leads older than this id.")
@click.option("--json", "as_json", is_flag=True)
def leads_list(
    client_id: int | None, status: str | None, limit: int, before_id: int | None, as_json: bool
) -> None:
    """List leads, newest first.

    \b
    Example:
        leadhook leads list --client 1 --status meeting-requested
        leadhook leads list --before 1200 --json
    """
    found = call(
        "list_leads", {"client_id": client_id, "status": status}, before_id=before_id, limit=limit
    )
    if not found:
        emit(found, as_json, "no leads")
        return
    rows = [["ID", "CLIENT", "LEAD", "STATUS", "SENTIMENT", "SCORE", "LAST MESSAGE"]]
    rows += [
        [
            str(lead["id"]),
            lead["client_name"],
            _name(lead),
            lead["status"],
            lead["sentiment_tag"] or "-",
            str(lead["overall_score"] or "-"),
            lead["last_message_at"] or "-",
        ]
        for lead in found
    ]
    lines = table(rows)
    if len(found) == limit:
        lines.append(f"more: leadhook leads list --before {found[-1]['id']}")
    emit(found, as_json, "\n".join(lines))


@leads_group.command(name="show")
@click.argument("lead_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def leads_show(lead_id: int, as_json: bool) -> None:
    """Show a lead: its fields, newest messages, changes, drafts and AI spend.

    \b
    Example:
        leadhook leads show 12
        leadhook leads show 12 --json
    """
    timeline = call("lead_timeline", lead_id)
    if timeline is None:
        raise click.ClickException(f"no lead {lead_id}")
    emit(timeline, as_json, _timeline_text(timeline))


def _timeline_text(timeline: dict) -> str:
    lead = timeline["lead"]
    lines = [
        f"lead {lead['id']} of client {lead['client_id']} ({lead['client_name']}): {_name(lead)}",
        f"status {lead['status']}, sentiment {lead['sentiment_tag'] or '-'}, scores fit/intent/"
        f"overall {lead['fit_score'] or '-'}/{lead['intent_score'] or '-'}/"
        f"{lead['overall_score'] or '-'}",
    ]
    if lead["score_reasoning"]:
        lines.append(f"score reasoning: {one_line(lead['score_reasoning'], 100)}")
    lines.append(f"messages (newest first, {len(timeline['messages'])} shown):")
    lines += [
        f"  {m['sent_at']}  {m['channel']:<8} {m['direction']:<8} #{m['id']}  {one_line(m['body'])}"
        for m in timeline["messages"]
    ] or ["  none"]
    lines.append("changes (newest first):")
    lines += [
        f"  {c['changed_at']}  {c['field']}: {c['old_value'] or '-'} -> {c['new_value'] or '-'}"
        for c in timeline["changes"]
    ] or ["  none"]
    lines.append("drafts (newest first):")
    lines += [
        f"  #{d['id']}  {d['status']:<8} {d['channel']:<8} {one_line(d['body'])}"
        for d in timeline["drafts"]
    ] or ["  none"]
    lines.append("AI spent on this lead:")
    lines += [
        f"  {s['feature_id']}: {s['calls']} calls, {s['errors']} errors, {s['total_tokens']} "
        f"tokens, ${s['cost_usd']:.6f}"
        + (f" (+{s['unpriced_calls']} unpriced)" if s["unpriced_calls"] else "")
        for s in timeline["spend"]
    ] or ["  none"]
    return "\n".join(lines)
