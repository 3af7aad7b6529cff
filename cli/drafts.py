"""``leadhook drafts``: the AI reply drafts, approved or rejected by a person.

Only a ``pending`` draft changes; approving is refused for a lead who opted out
(blacklisted), checked in the same transaction as the change. Refusals exit with status 1
and the reason. The console's approve/reject buttons are the same operations.
"""

from __future__ import annotations

import click

import db
from cli._output import call, emit, one_line, table
from db.vocab import DRAFT_STATUSES


@click.group(name="drafts")
def drafts_group() -> None:
    """AI reply drafts: list, approve, reject.

    \b
    Example:
        leadhook drafts list
        leadhook drafts approve 7
    """


@drafts_group.command(name="list")
@click.option("--status", type=click.Choice(DRAFT_STATUSES), default="pending", show_default=True)
@click.option("--client", "client_id", type=int, help="Only this client's drafts.")
@click.option("--lead", "lead_id", type=int, help="Only this lead's drafts.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500))
@click.option("--before", "before_id", type=int, help="The next page: drafts older than this id.")
@click.option("--json", "as_json", is_flag=True)
def drafts_list(
    status: str,
    client_id: int | None,
    lead_id: int | None,
    limit: int,
    before_id: int | None,
    as_json: bool,
) -> None:
    """List drafts, newest first (pending ones unless --status says otherwise).

    \b
    Example:
        leadhook drafts list --client 1
        leadhook drafts list --status approved --json
    """
    filters = {"status": status, "client_id": client_id, "lead_id": lead_id}
    found = call("list_drafts", filters, before_id=before_id, limit=limit)
    if not found:
        emit(found, as_json, f"no {status} drafts")
        return
    rows = [["ID", "CLIENT", "LEAD", "CHANNEL", "STATUS", "CREATED", "DRAFT"]]
    rows += [
        [
            str(d["id"]),
            d["client_name"],
            str(d["lead_id"]),
            d["channel"],
            d["status"],
            d["created_at"],
            one_line(d["body"], 50),
        ]
        for d in found
    ]
    lines = table(rows)
    if len(found) == limit:
        lines.append(f"more: leadhook drafts list --status {status} --before {found[-1]['id']}")
    emit(found, as_json, "\n".join(lines))


def _decide(operation: str, draft_id: int, as_json: bool) -> None:
    draft, refusal = call(operation, draft_id, now=db.iso(db.utcnow()))
    if refusal is not None:
        raise click.ClickException(
            refusal if draft is None else f"draft {draft_id} unchanged: {refusal}"
        )
    emit(draft, as_json, f"draft {draft_id} (lead {draft['lead_id']}) is {draft['status']}")


@drafts_group.command(name="approve")
@click.argument("draft_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def drafts_approve(draft_id: int, as_json: bool) -> None:
    """Approve a pending draft (refused when the lead opted out).

    \b
    Example:
        leadhook drafts approve 7
    """
    _decide("approve_draft", draft_id, as_json)


@drafts_group.command(name="reject")
@click.argument("draft_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def drafts_reject(draft_id: int, as_json: bool) -> None:
    """Reject a pending draft.

    \b
    Example:
        leadhook drafts reject 7
    """
    _decide("reject_draft", draft_id, as_json)
