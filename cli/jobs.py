"""``leadhook jobs``: what is queued, running and failed; retry a failed job.

These commands open the database directly (not through a server), so they work whether or
not the server runs. Attempts are shown as two counts: *failures* (attempts that failed; they
count toward the job's ``max_attempts``) and *snoozes* (attempts put off without being a
failure: a rate limit, a shutdown). ``retry`` refuses (exit status 1, with the reason) a job
that is not FAILED or does not exist; an unknown ``--status`` is a usage error (exit status 2).
"""

from __future__ import annotations

import click

import db
from cli._output import age, call, emit, one_line, table
from db.vocab import JOB_STATUSES

# Wide enough for every status name, so the count columns line up under them.
_COUNT_WIDTH = 9
_ATTEMPT_COLUMNS = {"failures": "FAILURES", "snoozes": "SNOOZES"}


@click.group(name="jobs")
def jobs_group() -> None:
    """Background jobs: counts, listing, retrying a failed one.

    \b
    Example:
        leadhook jobs stats
        leadhook jobs list --status FAILED
    """


@jobs_group.command(name="stats")
@click.option("--json", "as_json", is_flag=True)
def jobs_stats(as_json: bool) -> None:
    """Count jobs by type and status; show how long the oldest due job has waited.

    \b
    Example:
        leadhook jobs stats
        leadhook jobs stats --json
    """
    now = db.utcnow()
    stats = call("job_stats", now=db.iso(now))
    by_type: dict[str, dict[str, int]] = {}
    attempts: dict[str, dict[str, int]] = {}
    for row in stats["counts"]:
        by_type.setdefault(row["type"], dict.fromkeys(JOB_STATUSES, 0))[row["status"]] = row["jobs"]
        tried = attempts.setdefault(row["type"], {"failures": 0, "snoozes": 0})
        tried["failures"] += row.get("failures") or 0
        tried["snoozes"] += row.get("snoozes") or 0
    oldest = stats["oldest_due"]
    oldest_due = None
    if oldest is not None:
        waited = (now - db.parse_iso(oldest["run_at"])).total_seconds()
        oldest_due = {**oldest, "age_seconds": round(waited, 3)}
    data = {
        "now": db.iso(now),
        "by_type": by_type,
        "by_status": stats["by_status"],
        "total": sum(stats["by_status"].values()),
        "attempts_by_type": attempts,
        "attempts": {
            key: sum(tried[key] for tried in attempts.values()) for key in ("failures", "snoozes")
        },
        "oldest_due": oldest_due,
    }
    emit(data, as_json, _stats_text(by_type, stats["by_status"], data, oldest_due))


def _stats_text(
    by_type: dict[str, dict[str, int]],
    by_status: dict[str, int],
    data: dict,
    oldest_due: dict | None,
) -> str:
    tried, total = data["attempts_by_type"], data["attempts"]
    rows = [["TYPE", *JOB_STATUSES, *_ATTEMPT_COLUMNS.values()]]
    rows += [
        [t, *(str(counts[s]) for s in JOB_STATUSES), *(str(tried[t][k]) for k in _ATTEMPT_COLUMNS)]
        for t, counts in sorted(by_type.items())
    ]
    rows.append(
        [
            "total",
            *(str(by_status[s]) for s in JOB_STATUSES),
            *(str(total[k]) for k in _ATTEMPT_COLUMNS),
        ]
    )
    lines = table(rows, min_width=_COUNT_WIDTH)
    lines.append(
        "FAILURES: attempts that failed (they count toward max_attempts); "
        "SNOOZES: attempts put off by a rate limit or a shutdown (not failures)"
    )
    if oldest_due is None:
        lines.append("no job is due")
    else:
        lines.append(
            f"oldest due job: {oldest_due['id']} {oldest_due['type']}, due since "
            f"{oldest_due['run_at']} ({age(oldest_due['age_seconds'])} ago)"
        )
    return "\n".join(lines)


@jobs_group.command(name="list")
@click.option(
    "--status",
    type=click.Choice(JOB_STATUSES, case_sensitive=False),
    help="Only jobs in this status.",
)
@click.option("--type", "job_type", help="Only jobs of this type, e.g. SMS_INBOUND_POST_PROCESS.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True)
def jobs_list(status: str | None, job_type: str | None, limit: int, as_json: bool) -> None:
    """List jobs, newest first, with their failed attempts and their snoozes apart.

    "failures 1/5" is one failed attempt of the five the job may fail; "snoozes 2" are
    attempts put off by a rate limit or a shutdown, which do not count.

    \b
    Example:
        leadhook jobs list --status FAILED
        leadhook jobs list --type LEAD_SCORING_POST_PROCESS --limit 10 --json
    """
    found = call(
        "list_jobs",
        status=status.upper() if status else None,
        job_type=job_type.strip().upper() if job_type else None,
        limit=limit,
    )
    lines = [
        f"{j['id']}\t{j['type']}\t{j['status']}\tfailures {j['failures']}/{j['max_attempts']}"
        f"\tsnoozes {j['snoozes']}\trun_at={j['run_at']}\tmessage={j['message_id']}"
        + (f"\terror={one_line(j['last_error'])}" if j["last_error"] else "")
        for j in found
    ]
    emit(found, as_json, "\n".join(lines) or "no jobs")


_REFUSALS = {
    "PENDING": "it is already queued (PENDING, due {run_at}); nothing to do",
    "RUNNING": "it is RUNNING now; retrying it would run it twice at once",
    "SUCCEEDED": "it SUCCEEDED; running it again would repeat its work and its AI spend",
}


@jobs_group.command(name="retry")
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
    job, retried = call("retry_job", job_id, now=now)
    if job is None:
        raise click.ClickException(f"no job {job_id}")
    if not retried:
        reason = _REFUSALS.get(job["status"], "its status is {status}").format(**job)
        raise click.ClickException(f"job {job_id} not retried: {reason}")
    emit(
        job,
        as_json,
        f"job {job_id} ({job['type']}) is PENDING again, due now; attempts reset",
    )
