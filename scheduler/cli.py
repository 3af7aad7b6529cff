"""``leadhook jobs``: what is queued, running and failed; retry a failed job.

These commands open the database directly (not through a server), so they work whether or
not the server runs.
"""

from __future__ import annotations

import json

import click

import db
from config import Settings

STATUSES = db.vocab.JOB_STATUSES


def _call(operation: str, *args, **kwargs):
    """Run one store operation against ``$LEADHOOK_DB`` and close the store."""
    store = db.open_store(Settings.from_env().db_path)
    try:
        return getattr(store.sync, operation)(*args, **kwargs)
    finally:
        store.close()


def _emit(data: object, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


def _age(seconds: float) -> str:
    seconds = int(max(0, seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _one_line(text: str | None, width: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


@click.group(name="jobs")
def jobs() -> None:
    """Background jobs: counts, listing, retrying a failed one."""


@jobs.command(name="stats")
@click.option("--json", "as_json", is_flag=True)
def jobs_stats(as_json: bool) -> None:
    """Count jobs by type and status; show how long the oldest due job has waited.

    \b
    Example:
        leadhook jobs stats
        leadhook jobs stats --json
    """
    now = db.utcnow()
    stats = _call("job_stats", now=db.iso(now))
    by_type: dict[str, dict[str, int]] = {}
    for row in stats["counts"]:
        by_type.setdefault(row["type"], dict.fromkeys(STATUSES, 0))[row["status"]] = row["jobs"]
    oldest = stats["oldest_due"]
    oldest_due = None
    if oldest is not None:
        age = (now - db.parse_iso(oldest["run_at"])).total_seconds()
        oldest_due = {**oldest, "age_seconds": round(age, 3)}
    data = {
        "now": db.iso(now),
        "by_type": by_type,
        "by_status": stats["by_status"],
        "total": sum(stats["by_status"].values()),
        "oldest_due": oldest_due,
    }
    width = max([len("TYPE"), len("total"), *map(len, by_type)])
    lines = [f"{'TYPE':<{width}}  " + "  ".join(f"{s:>9}" for s in STATUSES)]
    for job_type, counts in sorted(by_type.items()):
        lines.append(f"{job_type:<{width}}  " + "  ".join(f"{counts[s]:>9}" for s in STATUSES))
    lines.append(
        f"{'total':<{width}}  " + "  ".join(f"{stats['by_status'][s]:>9}" for s in STATUSES)
    )
    if oldest_due is None:
        lines.append("no job is due")
    else:
        lines.append(
            f"oldest due job: {oldest_due['id']} {oldest_due['type']}, due since "
            f"{oldest_due['run_at']} ({_age(oldest_due['age_seconds'])} ago)"
        )
    _emit(data, as_json, "\n".join(lines))


@jobs.command(name="list")
@click.option(
    "--status",
    type=click.Choice(STATUSES, case_sensitive=False),
    help="Only jobs in this status.",
)
@click.option("--type", "job_type", help="Only jobs of this type, e.g. SMS_INBOUND_POST_PROCESS.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True)
def jobs_list(status: str | None, job_type: str | None, limit: int, as_json: bool) -> None:
    """List jobs, newest first.

    \b
    Example:
        leadhook jobs list --status FAILED
        leadhook jobs list --type LEAD_SCORING_POST_PROCESS --limit 10 --json
    """
    found = _call(
        "list_jobs",
        status=status.upper() if status else None,
        job_type=job_type.strip().upper() if job_type else None,
        limit=limit,
    )
    lines = [
        f"{j['id']}\t{j['type']}\t{j['status']}\tattempt {j['attempts']}/{j['max_attempts']}"
        f"\trun_at={j['run_at']}\tmessage={j['message_id']}"
        + (f"\terror={_one_line(j['last_error'])}" if j["last_error"] else "")
        for j in found
    ]
    _emit(found, as_json, "\n".join(lines) or "no jobs")


_REFUSALS = {
    "PENDING": "it is already queued (PENDING, due {run_at}); nothing to do",
    "RUNNING": "it is RUNNING now; retrying it would run it twice at once",
    "SUCCEEDED": "it SUCCEEDED; running it again would repeat its work and its AI spend",
}


@jobs.command(name="retry")
@click.argument("job_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def jobs_retry(job_id: int, as_json: bool) -> None:
    """Put a FAILED job back in the queue, due now, with its attempts reset.

    Only FAILED jobs can be retried. A running server picks the job up within a second.

    \b
    Example:
        leadhook jobs list --status FAILED
        leadhook jobs retry 42
    """
    now = db.iso(db.utcnow())
    job, retried = _call("retry_job", job_id, now=now)
    if job is None:
        raise click.ClickException(f"no job {job_id}")
    if not retried:
        reason = _REFUSALS.get(job["status"], "its status is {status}").format(**job)
        raise click.ClickException(f"job {job_id} not retried: {reason}")
    _emit(
        job,
        as_json,
        f"job {job_id} ({job['type']}) is PENDING again, due now; attempts reset",
    )
