"""The SQLite backend's operations, by the names of :class:`db.Store`'s methods.

Each is a unit of work ``fn(database, *args)`` run in the writer's transaction (writes) or on
a reader's connection (reads). ``tests/test_db_contract.py`` checks that every method of the
interface has its operation here.
"""

from __future__ import annotations

import sys
from typing import Any

from db import _compose
from db.sqlite.clients import (
    client_by_token_hash,
    client_by_workspace,
    create_client,
    disable_client,
    enable_client,
    get_client,
    list_clients,
    rotate_token,
    update_client,
)
from db.sqlite.console import (
    approve_draft,
    console_overview,
    count_retryable,
    database_about,
    discard_job,
    find_jobs,
    get_draft_by_id,
    job_detail,
    lead_timeline,
    list_drafts,
    list_leads,
    reject_draft,
    retry_failed_jobs,
)
from db.sqlite.deliveries import (
    deliveries_per_hour,
    delivery_detail,
    find_deliveries,
    get_delivery,
    prune_deliveries,
    prune_delivery_bodies,
    record_deliveries,
    record_delivery,
    record_ignored,
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
from db.sqlite.metrics import job_gauges
from db.sqlite.sentiments import get_sentiment, record_sentiment
from db.sqlite.spend import ai_spend, ai_spend_series

__all__ = [
    "ai_report",
    "ai_spend",
    "ai_spend_series",
    "approve_draft",
    "backup",
    "check",
    "claim_jobs",
    "client_by_token_hash",
    "client_by_workspace",
    "console_overview",
    "count_due",
    "count_retryable",
    "create_client",
    "database_about",
    "deliveries_per_hour",
    "delivery_detail",
    "disable_client",
    "discard_job",
    "enable_client",
    "enqueue_job",
    "find_deliveries",
    "find_jobs",
    "finish_inbound",
    "finish_job",
    "get_client",
    "get_delivery",
    "get_draft",
    "get_draft_by_id",
    "get_job",
    "get_lead",
    "get_message",
    "get_sentiment",
    "has_due",
    "inbound_context",
    "ingest",
    "insert_draft",
    "job_detail",
    "job_gauges",
    "job_stats",
    "lead_timeline",
    "list_clients",
    "list_drafts",
    "list_interactions",
    "list_jobs",
    "list_leads",
    "opt_in_lead",
    "prune_deliveries",
    "prune_delivery_bodies",
    "prune_interactions",
    "prune_jobs",
    "recent_transcript",
    "record_deliveries",
    "record_delivery",
    "record_ignored",
    "record_interaction",
    "record_interactions",
    "record_sentiment",
    "recover_jobs",
    "reject_draft",
    "release_jobs",
    "renew_leases",
    "retry_failed_jobs",
    "retry_job",
    "rotate_token",
    "running_lockers",
    "scoring_context",
    "set_lead_score",
    "set_lead_sentiment",
    "unattributed_interactions",
    "unsubscribe",
    "update_client",
]


def inbound_context(database: Any, message_id: int, transcript_limit: int) -> dict:
    return _compose.inbound_context(sys.modules[__name__], database, message_id, transcript_limit)


def scoring_context(database: Any, lead_id: int, transcript_limit: int) -> dict:
    return _compose.scoring_context(sys.modules[__name__], database, lead_id, transcript_limit)
