"""Lead state: ``leads.opted_out_at``, ``messages.provider_sent_at``, and ``pruned_jobs``."""

from __future__ import annotations

from sqlite_utils import Database

from db.sqlite.migrations._registry import in_list as _in
from db.sqlite.migrations._registry import migrations

# Frozen copy as of this migration (db.vocab.FINISHED_JOB_STATUSES holds the live list).
FINISHED_JOB_STATUSES = ("SUCCEEDED", "FAILED")


@migrations()
def m004_lead_state(db: Database) -> None:
    """An opt-out that stays, the provider's own timestamp, and jobs remembered after pruning.

    - ``leads.opted_out_at``: when the lead opted out (an unsubscribe event, an SMS carrier
      keyword, a Blacklist sentiment); NULL while it has not. Leads already ``blacklisted``
      get their ``updated_at`` and the tag ``Blacklist`` (the rule "an opt-out is final"
      then holds for them too).
    - ``messages.provider_sent_at``: the provider's timestamp, raw, when ``sent_at`` is not
      it (outside 5 minutes ahead / 30 days behind the receipt, or unreadable).
    - ``pruned_jobs``: one row per job deleted by retention, under its dedupe key, with how
      it ended: a redelivery never creates a job again whose key is here as ``SUCCEEDED``
      (one job per message and type, ever); a ``FAILED`` one may be created again (and its
      row here goes). Rows go with their message (``ON DELETE CASCADE``).
    """
    db.executescript(
        f"""
        ALTER TABLE leads ADD COLUMN opted_out_at TEXT;
        UPDATE leads SET opted_out_at = updated_at, sentiment_tag = 'Blacklist'
         WHERE status = 'blacklisted';

        ALTER TABLE messages ADD COLUMN provider_sent_at TEXT;

        CREATE TABLE pruned_jobs (
            dedupe_key TEXT PRIMARY KEY,      -- {{client_id}}:{{message_id}}:{{type}}
            type TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN {_in(FINISHED_JOB_STATUSES)}),
            client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
            message_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            finished_at TEXT,
            pruned_at TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX pruned_jobs_message ON pruned_jobs (message_id);
        """
    )
