"""The SQLite backend's operations, by the names of :class:`db.Store`'s methods.

Each is a unit of work ``fn(database, *args)`` run in the writer's transaction (writes) or on
a reader's connection (reads). ``tests/test_db_contract.py`` checks that every method of the
interface has its operation here.
"""

from __future__ import annotations

from db.sqlite.clients import (
    client_by_token_hash,
    client_by_workspace,
    create_client,
    get_client,
    list_clients,
    rotate_token,
)
from db.sqlite.drafts import get_draft, insert_draft
from db.sqlite.interactions import (
    ai_report,
    list_interactions,
    prune_interactions,
    record_interaction,
    record_interactions,
    unattributed_interactions,
)
from db.sqlite.job_runs import (
    claim_jobs,
    count_due,
    finish_job,
    has_due,
    recover_jobs,
    release_jobs,
    renew_leases,
    running_lockers,
)
from db.sqlite.jobs import (
    enqueue_job,
    finish_inbound,
    get_job,
    job_stats,
    list_jobs,
    prune_jobs,
    retry_job,
)
from db.sqlite.leads import (
    get_lead,
    opt_in_lead,
    recent_transcript,
    set_lead_score,
    set_lead_sentiment,
)
from db.sqlite.maintenance import backup, check
from db.sqlite.messages import get_message, ingest, unsubscribe
from db.sqlite.sentiments import get_sentiment, record_sentiment

__all__ = [
    "ai_report",
    "backup",
    "check",
    "claim_jobs",
    "client_by_token_hash",
    "client_by_workspace",
    "count_due",
    "create_client",
    "enqueue_job",
    "finish_inbound",
    "finish_job",
    "get_client",
    "get_draft",
    "get_job",
    "get_lead",
    "get_message",
    "get_sentiment",
    "has_due",
    "ingest",
    "insert_draft",
    "job_stats",
    "list_clients",
    "list_interactions",
    "list_jobs",
    "opt_in_lead",
    "prune_interactions",
    "prune_jobs",
    "recent_transcript",
    "record_interaction",
    "record_interactions",
    "record_sentiment",
    "recover_jobs",
    "release_jobs",
    "renew_leases",
    "retry_job",
    "rotate_token",
    "running_lockers",
    "set_lead_score",
    "set_lead_sentiment",
    "unattributed_interactions",
    "unsubscribe",
]
