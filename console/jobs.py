"""``/console/jobs``: jobs by filter, one job, retry, discard, and retry-all.

Filters are query parameters, kept in every link and after every action: ``status``
(``?status=FAILED``), ``type``, ``client`` (a client id) and ``error`` (text in
``last_error``); ``before`` pages back (keyset). RUNNING jobs show their runner and lease
age (time since the lease was last renewed). Actions are POSTs (CSRF-checked by the guard):
``/console/jobs/<id>/retry`` (FAILED → PENDING), ``/console/jobs/<id>/discard`` (a PENDING or
FAILED job set aside: ``Store.discard_job``), and retry-all: ``GET /console/jobs/retry-all``
shows the count of FAILED jobs matching the filter and asks to confirm; its POST retries
those jobs (up to the highest id counted, so a failure that arrives meanwhile is not
included) and says how many were retried. Row actions answer an htmx request with the row.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

import db
from console._pages import SECURITY_HEADERS, back_to, int_param, is_htmx, now_of, page, query
from db.vocab import DISCARDED, JOB_STATUSES, JOB_TYPES

PAGE_SIZE = 50
_REFUSALS = {
    "PENDING": "it is already queued (PENDING); nothing to do",
    "RUNNING": "it is RUNNING now; retrying it would run it twice at once",
    "SUCCEEDED": "it SUCCEEDED; running it again would repeat its work and its AI spend",
}


def filters_of(source: Any) -> dict[str, Any]:
    """The filter as the page shows it (``status``, ``type``, ``client``, ``error``) from
    query parameters or a form; unknown statuses are refused."""
    status = (source.get("status") or "").strip().upper()
    if status and status not in JOB_STATUSES:
        raise ClientException(f"status must be one of {', '.join(JOB_STATUSES)}")
    client = int_param(source.get("client"), "client")
    return {
        "status": status,
        "type": (source.get("type") or "").strip().upper(),
        "client": "" if client is None else str(client),
        "error": (source.get("error") or "").strip()[:200],
    }


def store_filters(shown: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": shown["status"] or None,
        "type": shown["type"] or None,
        "client_id": int(shown["client"]) if shown["client"] else None,
        "error": shown["error"] or None,
    }


def with_ages(jobs: list[dict], now_iso: str) -> list[dict]:
    now = db.parse_iso(now_iso)
    for job in jobs:
        locked = job.get("locked_at")
        job["lease_age"] = (now - db.parse_iso(locked)).total_seconds() if locked else None
        job["discarded"] = bool(job["last_error"] and job["last_error"].startswith(DISCARDED))
        job["failures"] = job["attempts"] - job.get("snoozes", 0)
    return jobs


class JobsController(Controller):
    path = "/jobs"
    include_in_schema = False

    @get("/")
    async def jobs(self, request: Request) -> Template:
        state = request.app.state
        shown = filters_of(request.query_params)
        before = int_param(request.query_params.get("before"), "before")
        found = await state.store.find_jobs(store_filters(shown), before_id=before, limit=PAGE_SIZE)
        now = db.iso(now_of(request))
        retryable = None
        if shown["status"] == "FAILED":
            retryable = await state.store.count_retryable(store_filters(shown))
        return page(
            request,
            "jobs.html",
            active="jobs",
            jobs=with_ages(found, now),
            shown=shown,
            before=before,
            older=found[-1]["id"] if len(found) == PAGE_SIZE else None,
            retryable=retryable,
            clients=await state.store.list_clients(),
            statuses=JOB_STATUSES,
            types=JOB_TYPES,
            here=request.url.path + ("?" + request.url.query if request.url.query else ""),
        )

    @get("/retry-all")
    async def retry_all_confirm(self, request: Request) -> Template:
        shown = {**filters_of(request.query_params), "status": "FAILED"}
        counted = await request.app.state.store.count_retryable(store_filters(shown))
        return page(request, "retry_all.html", active="jobs", shown=shown, counted=counted)

    @post("/retry-all", status_code=303)
    async def retry_all(self, request: Request) -> Response:
        form = await request.form()
        shown = {**filters_of(form), "status": "FAILED"}
        upto = int_param(form.get("upto_id"), "upto_id")
        expected = int_param(form.get("expected"), "expected") or 0
        retried = 0
        if upto is not None:
            retried = await request.app.state.store.retry_failed_jobs(
                store_filters(shown), upto_id=upto, now=db.iso(now_of(request))
            )
            if retried:
                request.app.state.jobs.wake()
        target = "/console/jobs?" + query(shown, done="retried-all", n=retried, of=expected)
        return Redirect(target, status_code=303, headers=dict(SECURITY_HEADERS))

    @get("/{job_id:int}")
    async def job(self, request: Request, job_id: FromPath[int]) -> Template:
        detail = await request.app.state.store.job_detail(job_id)
        if detail is None:
            raise NotFoundException(f"No job {job_id}.")
        now = db.iso(now_of(request))
        [job] = with_ages([detail["job"]], now)
        return page(request, "job.html", active="jobs", job=job, detail=detail)

    @post("/{job_id:int}/retry", status_code=303)
    async def retry(self, request: Request, job_id: FromPath[int]) -> Response:
        store = request.app.state.store
        job, retried = await store.retry_job(job_id, now=db.iso(now_of(request)))
        if job is None:
            raise NotFoundException(f"No job {job_id}.")
        refusal = None
        if retried:
            request.app.state.jobs.wake()
        else:
            refusal = _REFUSALS.get(job["status"], f"its status is {job['status']}")
        return await self._answer(request, job_id, "retried", refusal)

    @post("/{job_id:int}/discard", status_code=303)
    async def discard(self, request: Request, job_id: FromPath[int]) -> Response:
        store = request.app.state.store
        job, refusal = await store.discard_job(job_id, now=db.iso(now_of(request)))
        if job is None:
            raise NotFoundException(f"No job {job_id}.")
        return await self._answer(request, job_id, "discarded", refusal)

    async def _answer(
        self, request: Request, job_id: int, done: str, refusal: str | None
    ) -> Response:
        form = await request.form()
        detail = await request.app.state.store.job_detail(job_id)
        [job] = with_ages([detail["job"]], db.iso(now_of(request)))
        if is_htmx(request):
            note = f"not {done}: {refusal}" if refusal else done
            return page(request, "_job_row.html", job=job, note=note, here=back_to(form, ""))
        if refusal:
            text = f"Job {job_id} was not {done}: {refusal}."
            return page(request, "job.html", 409, active="jobs", job=job, detail=detail,
                        refusal=text)  # fmt: skip
        target = back_to(form, f"/console/jobs/{job_id}")
        target += ("&" if "?" in target else "?") + query({}, done=done, id=job_id)
        return Redirect(target, status_code=303, headers=dict(SECURITY_HEADERS))
