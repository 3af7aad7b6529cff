"""The storage contract of the lead state rules (issue #9), through :class:`db.Store` only:
the opt-out and its guards, the way back (``opt_in_lead``), what a duplicate may change,
the provider's raw timestamp, and one job per message and type, ever (``prune_jobs``)."""

from __future__ import annotations

import pytest

import db
from db.vocab import (
    EMAIL_INBOUND_POST_PROCESS,
    LEAD_SCORING_POST_PROCESS,
    OPTED_OUT_SCORES,
    SMS_INBOUND_POST_PROCESS,
    STATUS_BY_TAG,
    is_sms_opt_out,
)

T0 = "2026-01-18T10:00:00.000Z"
T1 = "2026-01-18T10:00:01.000Z"
T2 = "2026-01-18T10:00:02.000Z"
LATER = "2026-02-20T10:00:00.000Z"
DANA = db.LeadFields(ghl_contact_id="c-1", first_name="Dana")


def message(client_id: int, key: str, **overrides) -> db.NewMessage:
    values = dict(
        client_id=client_id,
        channel="sms",
        direction="inbound",
        body="Sounds good",
        sent_at=T0,
        received_at=T0,
        source="test",
        dedupe_column="ghl_id",
        dedupe_value=key,
        job_type=SMS_INBOUND_POST_PROCESS,
    )
    values.update(overrides)
    return db.NewMessage(**values)


@pytest.fixture
def client(backend_store):
    found, token = backend_store.sync.create_client(name="Acme", now=T0, ghl_location_id="loc")
    return found, db.hash_token(token)


@pytest.fixture
def ingest(backend_store, client):
    found, token_hash = client

    def store(key: str = "m1", lead: db.LeadFields = DANA, **overrides) -> db.IngestResult:
        new = message(found.id, key, **overrides)
        return backend_store.sync.ingest(found.id, token_hash, new, lead)

    return store


def state(store, lead_id: int) -> tuple:
    lead = store.sync.get_lead(lead_id)
    return lead["status"], lead["sentiment_tag"], lead["opted_out_at"]


OPTED_OUT = ("blacklisted", "Blacklist")


# -- the opt-out ---------------------------------------------------------------------------


def test_unsubscribe_opts_out_keeps_the_first_time_and_rejects_pending_drafts(
    backend_store, client, ingest
):
    found, token_hash = client
    stored = ingest()
    draft_id, _ = backend_store.sync.insert_draft(
        found.id, stored.lead_id, stored.message_id, "sms", "Hi!", now=T0
    )
    assert backend_store.sync.unsubscribe(found.id, token_hash, DANA, T1) == stored.lead_id
    assert backend_store.sync.unsubscribe(found.id, token_hash, DANA, T2) == stored.lead_id
    assert state(backend_store, stored.lead_id) == (*OPTED_OUT, T1)
    assert backend_store.sync.get_draft(stored.message_id, "sms")["status"] == "rejected"
    assert draft_id == backend_store.sync.get_draft(stored.message_id, "sms")["id"]


@pytest.mark.parametrize(
    ("body", "opts_out"),
    [
        ("STOP", True),
        (" stop. ", True),
        ("Quit!", True),
        ("'Unsubscribe'", True),
        ("StopAll", True),
        ("cancel", True),
        ("END", True),
        ("stop it, please", False),
        ("please stop", False),
        ("Stopping by later", False),
    ],
)
def test_an_inbound_sms_carrier_keyword_opts_out_when_it_is_stored(
    backend_store, ingest, body, opts_out
):
    assert is_sms_opt_out(body) is opts_out
    stored = ingest(body=body)
    expected = (*OPTED_OUT, T0) if opts_out else ("new", None, None)
    assert state(backend_store, stored.lead_id) == expected
    assert stored.job_enqueued  # the job still runs (and finds nothing to pay for)


def test_only_an_inbound_sms_keyword_decides_at_ingest(backend_store, ingest):
    outbound = ingest("m1", body="STOP", direction="outbound", job_type=None)
    email = ingest("m2", body="STOP", channel="email")  # left to the job's fast path
    assert state(backend_store, outbound.lead_id) == ("new", None, None)
    assert email.lead_id == outbound.lead_id


def test_a_blacklist_sentiment_wins_whatever_the_order_and_nothing_undoes_it(backend_store, ingest):
    newer = ingest("m1", sent_at=T2)
    older = ingest("m2", sent_at=T0)
    lead_id = newer.lead_id
    sync = backend_store.sync
    assert sync.set_lead_sentiment(
        lead_id, "Interested", "qualified", now=T1, message_id=newer.message_id
    )
    # Older than the newest message, yet it opts out.
    assert sync.set_lead_sentiment(
        lead_id, "Blacklist", "blacklisted", now=T1, message_id=older.message_id
    )
    assert state(backend_store, lead_id) == (*OPTED_OUT, T1)
    newest = ingest("m3", sent_at=LATER, received_at=LATER)
    assert not sync.set_lead_sentiment(
        lead_id, "Meeting Booked", "meeting-booked", now=LATER, message_id=newest.message_id
    )
    assert not sync.set_lead_sentiment(lead_id, "Interested", "qualified", now=LATER)
    assert state(backend_store, lead_id) == (*OPTED_OUT, T1)


def test_a_draft_for_an_opted_out_lead_is_stored_rejected(backend_store, client, ingest):
    found, token_hash = client
    stored = ingest()
    backend_store.sync.unsubscribe(found.id, token_hash, DANA, T1)
    draft_id, created = backend_store.sync.insert_draft(
        found.id, stored.lead_id, stored.message_id, "sms", "Hi!", now=T2
    )
    assert created
    draft = backend_store.sync.get_draft(stored.message_id, "sms")
    assert (draft["id"], draft["status"]) == (draft_id, "rejected")


def test_a_score_for_an_opted_out_lead_is_the_disqualified_score(backend_store, client, ingest):
    found, token_hash = client
    stored = ingest()
    sync = backend_store.sync
    assert sync.set_lead_score(stored.lead_id, 3, 4, 4, "keen", now=T1)
    sync.unsubscribe(found.id, token_hash, DANA, T1)
    assert sync.set_lead_score(stored.lead_id, 4, 4, 4, "computed before the opt-out", now=T2)
    lead = sync.get_lead(stored.lead_id)
    scores = (lead["fit_score"], lead["intent_score"], lead["overall_score"])
    assert (*scores, lead["score_reasoning"]) == OPTED_OUT_SCORES
    assert lead["scored_at"] == T2
    assert not sync.set_lead_score(424242, 1, 1, 1, "no lead", now=T2)


def test_opt_in_lifts_an_opt_out_and_refuses_otherwise(backend_store, client, ingest):
    found, token_hash = client
    stored = ingest()
    sync = backend_store.sync
    before, after = sync.opt_in_lead(stored.lead_id, now=T1)
    assert (before["status"], after) == ("new", None)
    assert sync.opt_in_lead(424242, now=T1) == (None, None)
    sync.unsubscribe(found.id, token_hash, DANA, T1)
    before, after = sync.opt_in_lead(stored.lead_id, now=T2)
    assert (before["status"], before["sentiment_tag"], before["opted_out_at"]) == (*OPTED_OUT, T1)
    assert (after["status"], after["sentiment_tag"], after["opted_out_at"]) == ("new", None, None)
    assert state(backend_store, stored.lead_id) == ("new", None, None)
    assert sync.set_lead_sentiment(stored.lead_id, "Interested", "qualified", now=T2)


# -- what a delivery may change -------------------------------------------------------------


def test_a_duplicate_changes_no_lead_field(backend_store, ingest):
    first = ingest("m1", lead=db.LeadFields(ghl_contact_id="c-1"))
    before = backend_store.sync.get_lead(first.lead_id)
    again = ingest(
        "m1",
        lead=db.LeadFields(ghl_contact_id="c-1", first_name="Dana", email="dana@example.com"),
        sent_at=LATER,
        received_at=LATER,
    )
    assert (again.deduped, again.message_id) == (True, first.message_id)
    assert backend_store.sync.get_lead(first.lead_id) == before


def test_a_sentiment_hint_applies_to_a_duplicate_under_the_opt_out_rule(
    backend_store, client, ingest
):
    found, token_hash = client
    first = ingest("r1", dedupe_column="email_reply_id", channel="email")
    hinted = ingest(
        "r1", dedupe_column="email_reply_id", channel="email", sentiment_hint="Interested"
    )
    assert hinted.deduped
    lead = backend_store.sync.get_lead(first.lead_id)
    assert (lead["sentiment_tag"], lead["status"]) == ("Interested", STATUS_BY_TAG["Interested"])
    backend_store.sync.unsubscribe(found.id, token_hash, DANA, T1)
    ingest("r1", dedupe_column="email_reply_id", channel="email", sentiment_hint="Interested")
    assert state(backend_store, first.lead_id) == (*OPTED_OUT, T1)


def test_the_providers_raw_timestamp_is_kept(backend_store, ingest):
    stored = ingest(provider_sent_at="1/18/2026 3:04 PM")
    plain = ingest("m2")
    assert backend_store.sync.get_message(stored.message_id)["provider_sent_at"] == (
        "1/18/2026 3:04 PM"
    )
    assert backend_store.sync.get_message(plain.message_id)["provider_sent_at"] is None


def test_repeats_of_a_content_key_take_the_next_suffix(backend_store, ingest):
    def repeat(at: str) -> db.IngestResult:
        return ingest(
            "ghl_sms:k",
            dedupe_column="webhook_dedupe_key",
            received_at=at,
            sent_at=at,
            repeat_window_seconds=60,
        )

    first, second = repeat(T0), repeat("2026-01-18T10:05:00.000Z")
    within = repeat("2026-01-18T10:05:30.000Z")
    assert (second.deduped, within.deduped, within.message_id) == (False, True, second.message_id)
    keys = [
        backend_store.sync.get_message(r.message_id)["webhook_dedupe_key"] for r in (first, second)
    ]
    assert keys == ["ghl_sms:k", "ghl_sms:k#2"]


# -- one job per message and type, ever ------------------------------------------------------


def _finish(store, job_id: int, status: str) -> None:
    [claimed] = store.sync.claim_jobs(runner_id="r", now=T1, limit=1)
    assert claimed["id"] == job_id
    result = db.JobResult(status, None if status == "SUCCEEDED" else "boom")
    assert store.sync.finish_job(claimed, result, runner_id="r", now=T1) == (True, [])


def test_a_job_pruned_after_success_is_never_created_again(backend_store, client, ingest):
    found, _ = client
    stored = ingest(dedupe_column="email_reply_id", job_type=EMAIL_INBOUND_POST_PROCESS)
    _finish(backend_store, stored.job_id, "SUCCEEDED")
    assert backend_store.sync.prune_jobs(before=LATER, batch=100, now=LATER) == 1

    again = ingest(dedupe_column="email_reply_id", job_type=EMAIL_INBOUND_POST_PROCESS)
    assert (again.deduped, again.job_id, again.job_enqueued) == (True, None, False)
    direct = backend_store.sync.enqueue_job(
        job_type=EMAIL_INBOUND_POST_PROCESS,
        client_id=found.id,
        lead_id=stored.lead_id,
        message_id=stored.message_id,
        now=LATER,
    )
    assert direct == (None, False)
    assert backend_store.sync.list_jobs() == []
    # Another type of the same message is another job.
    scoring = backend_store.sync.enqueue_job(
        job_type=LEAD_SCORING_POST_PROCESS,
        client_id=found.id,
        lead_id=stored.lead_id,
        message_id=stored.message_id,
        now=LATER,
    )
    assert scoring[1] is True


def test_a_job_pruned_after_failure_is_healed_like_a_failed_one(backend_store, ingest):
    stored = ingest()
    _finish(backend_store, stored.job_id, "FAILED")
    assert backend_store.sync.prune_jobs(before=LATER, batch=100) == 1
    healed = ingest()
    assert (healed.deduped, healed.job_enqueued) == (True, True)
    job = backend_store.sync.get_job(healed.job_id)
    assert (job["status"], job["attempts"]) == ("PENDING", 0)
    # It succeeds this time, is pruned again, and then stays done.
    _finish(backend_store, healed.job_id, "SUCCEEDED")
    assert backend_store.sync.prune_jobs(before=LATER, batch=100) == 1
    assert ingest().job_enqueued is False
