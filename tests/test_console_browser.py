"""The console in a real browser: Debian's Chromium driven by playwright (never
``playwright install``). Login and logout, each page with seeded data and its figures checked
against the database, retry, discard and retry-all (the filter kept), draft approval, a
cross-site POST refused, and on every page: no request to another host, no JavaScript error.
The screenshots of the overview and the AI page in README.md are made here."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console_helpers import ADMIN_TOKEN, seed

CHROMIUM = Path("/usr/bin/chromium")
IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def _chromium_installed() -> None:
    """Skipped without chromium on a developer's machine; under CI=true that is a failure."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI needs /usr/bin/chromium (.ci/run installs it)")
        pytest.skip("needs Debian's chromium: apt-get install chromium (make test does it as root)")


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


class Watched:
    """A page whose requests and JavaScript errors are recorded."""

    def __init__(self, context, base_url: str) -> None:
        self.base_url = base_url
        self.page = context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", self._console)
        self.failed: list[str] = []  # assets and htmx requests that failed (not documents)
        self.page.on(
            "response",
            lambda r: (
                self.failed.append(f"{r.status} {r.url}")
                if r.status >= 400 and r.request.resource_type != "document"
                else None
            ),
        )

    def _console(self, message) -> None:
        # A page answered 401/403/409 on purpose is logged as "Failed to load resource";
        # assets and htmx requests are checked by their responses instead.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def go(self, path: str):
        response = self.page.goto(self.base_url + path)
        self.page.wait_for_load_state("networkidle")
        return response

    def check_clean(self) -> None:
        foreign = [u for u in self.requests if not u.startswith((self.base_url, "data:"))]
        assert foreign == [], f"requests to another host: {foreign}"
        assert self.errors == [], f"JavaScript errors: {self.errors}"
        assert self.failed == [], f"failed requests: {self.failed}"


@pytest.fixture
def site(serve, store, browser):
    """A console server with seeded data, and a browser page in New York time."""
    seeded = seed(store)
    live = serve(admin_token=ADMIN_TOKEN, scheduler_enabled=False)
    context = browser.new_context(
        timezone_id="America/New_York", viewport={"width": 1280, "height": 900}
    )
    watched = Watched(context, live.url)
    yield watched, seeded, live
    watched.check_clean()
    context.close()


def login(watched: Watched) -> None:
    watched.go("/console")
    page = watched.page
    assert "/console/login" in page.url
    page.fill("#token", ADMIN_TOKEN)
    page.click("[data-testid=login]")
    page.wait_for_url(watched.base_url + "/console")


def one(database, sql: str, params: tuple = ()):
    return database.execute(sql, params).fetchone()[0]


def test_login_and_logout(site):
    watched, _, _ = site
    page = watched.page
    watched.go("/console/jobs?status=FAILED")
    page.fill("#token", "not-the-token")
    page.click("[data-testid=login]")
    assert "not the admin token" in page.inner_text("[data-testid=login-error]")
    page.fill("#token", ADMIN_TOKEN)
    page.click("[data-testid=login]")
    page.wait_for_url("**/console/jobs?status=FAILED")
    [cookie] = page.context.cookies()
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/console")
    page.click("[data-testid=logout]")
    page.wait_for_url("**/console/login")
    assert page.context.cookies() == []
    watched.go("/console")
    assert "/console/login" in page.url


def test_the_overview_shows_the_database_s_figures(site, database):
    watched, _, _ = site
    login(watched)
    page = watched.page
    assert page.inner_text("[data-testid=messages-total]") == str(
        one(database, "SELECT COUNT(*) FROM messages")
    )
    for status in ("PENDING", "RUNNING", "SUCCEEDED", "FAILED"):
        expected = one(database, "SELECT COUNT(*) FROM background_jobs WHERE status = ?", (status,))
        assert page.inner_text(f"[data-testid=jobs-{status}]") == str(expected)
    today = page.inner_text("[data-testid=ai-cost-today]")
    cost = one(
        database,
        "SELECT SUM(cost_usd) FROM ai_interactions"
        " WHERE created_at >= strftime('%Y-%m-%dT00:00:00.000Z', 'now')",
    )
    assert today == f"${cost:,.6f}"
    assert page.inner_text("[data-testid=failed-24h]") == "7"
    # Times are in the viewer's zone, UTC on hover.
    stamp = page.locator("main time").first
    assert "UTC" in stamp.get_attribute("title") and "E" in stamp.inner_text()  # EST or EDT
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / "console-overview.png"), full_page=True)


def test_jobs_filters_running_lease_and_the_job_page_retry(site, database):
    watched, seeded, _ = site
    login(watched)
    page = watched.page
    watched.go("/console/jobs?status=FAILED&type=EMAIL_INBOUND_POST_PROCESS")
    rows = page.locator("[data-testid=jobs-table] tbody tr")
    assert rows.count() == len(seeded.failed_email)
    watched.go("/console/jobs?status=RUNNING")
    running = page.inner_text(f"[data-testid=job-row-{seeded.running}]")
    assert "on seed:1, lease" in running and "old" in running
    watched.go("/console/jobs?error=401")
    errors = one(database, "SELECT COUNT(*) FROM background_jobs WHERE last_error LIKE '%401%'")
    assert page.locator("[data-testid=jobs-table] tbody tr").count() == errors

    job = seeded.failed_sms[0]
    watched.go(f"/console/jobs/{job}")
    assert "AIRetryableError" in page.inner_text("[data-testid=job-error]") or "401" in (
        page.inner_text("[data-testid=job-error]")
    )
    assert "Reply" in page.inner_text("[data-testid=job-message]")
    ai_rows = one(database, "SELECT COUNT(*) FROM ai_interactions WHERE background_job_id = ?",
                  (job,))  # fmt: skip
    assert ai_rows > 0
    assert page.locator("[data-testid=job-ai-rows] tbody tr").count() == ai_rows
    page.click("[data-testid=job-retry]")
    page.wait_for_selector("[data-testid=notice]")
    assert f"Job {job} is PENDING again" in page.inner_text("[data-testid=notice]")
    assert one(database, "SELECT status FROM background_jobs WHERE id = ?", (job,)) == "PENDING"
    assert page.locator("[data-testid=job-retry]").count() == 0


def test_discard_in_a_row_swaps_only_that_row(site, database):
    watched, seeded, _ = site
    login(watched)
    page = watched.page
    job = seeded.failed_email[0]
    watched.go("/console/jobs?status=FAILED")
    url = page.url
    page.click(f"[data-testid=row-discard-{job}]")
    page.wait_for_selector(f"[data-testid=row-note-{job}]")
    assert page.inner_text(f"[data-testid=row-note-{job}]") == "discarded"
    assert page.url == url
    error = one(database, "SELECT last_error FROM background_jobs WHERE id = ?", (job,))
    assert error.startswith("discarded by operator")


def test_retry_all_confirms_the_count_and_keeps_the_filter(site, database):
    watched, seeded, _ = site
    login(watched)
    page = watched.page
    watched.go("/console/jobs?status=FAILED&type=SMS_INBOUND_POST_PROCESS")
    page.click("[data-testid=retry-all]")
    page.wait_for_selector("[data-testid=retry-all-count]")
    assert page.inner_text("[data-testid=retry-all-count]") == str(len(seeded.failed_sms))
    page.click("[data-testid=retry-all-confirm]")
    page.wait_for_selector("[data-testid=notice]")
    assert "status=FAILED" in page.url and "type=SMS_INBOUND_POST_PROCESS" in page.url
    n = len(seeded.failed_sms)
    assert f"{n} failed jobs retried ({n} were counted" in page.inner_text("[data-testid=notice]")
    statuses = dict(database.execute("SELECT id, status FROM background_jobs").fetchall())
    assert {statuses[j] for j in seeded.failed_sms} == {"PENDING"}
    assert {statuses[j] for j in seeded.failed_email} == {"FAILED"}
    assert statuses[seeded.discarded] == "FAILED"
    # Left on the page of the same filter: only the discarded job is still FAILED there.
    rows = page.locator("[data-testid=jobs-table] tbody tr")
    assert rows.count() == 1 and "discarded" in rows.first.inner_text()


def test_the_ai_page_charts_and_figures(site, database):
    watched, _, _ = site
    login(watched)
    page = watched.page
    watched.go("/console/ai?window=7d&by=source")
    calls, cost, unpriced = database.execute(
        "SELECT COUNT(*), SUM(cost_usd), SUM(cost_usd IS NULL) FROM ai_interactions"
    ).fetchone()
    assert page.inner_text("[data-testid=ai-total-calls]") == f"{calls:,}"
    assert page.inner_text("[data-testid=ai-total-cost]") == f"${cost:,.6f}"
    assert f"{unpriced} unpriced" in page.inner_text("main")
    source = "background_job:LEAD_SCORING_POST_PROCESS"
    expected = one(
        database, "SELECT SUM(cost_usd) FROM ai_interactions WHERE source = ?", (source,)
    )
    assert page.inner_text(f"[data-testid='ai-cost-{source}']") == f"${expected:,.6f}"
    for chart in ("chart-cost", "chart-calls"):
        page.wait_for_selector(f"[data-testid={chart}] canvas")
    page.screenshot(path=str(IMAGES / "console-ai.png"), full_page=True)
    watched.go("/console/ai?window=today&by=client")
    assert page.locator("[data-testid=ai-groups] tbody tr").count() == 3  # 2 clients + total


def test_the_lead_page_and_approving_a_draft(site, database):
    watched, seeded, _ = site
    login(watched)
    page = watched.page
    watched.go(f"/console/leads/{seeded.lead_id}")
    timeline = page.inner_text("[data-testid=timeline]")
    assert "sentiment tag: – → Interested" in timeline
    assert "overall 4" in timeline
    cost = one(database, "SELECT SUM(cost_usd) FROM ai_interactions WHERE lead_id = ?",
               (seeded.lead_id,))  # fmt: skip
    assert page.inner_text("[data-testid=lead-ai-cost]").startswith(f"${cost:,.6f}")
    page.click(f"[data-testid=draft-approve-{seeded.draft_id}]")
    page.wait_for_selector(f"[data-testid=draft-note-{seeded.draft_id}]")
    assert page.inner_text(f"[data-testid=draft-status-{seeded.draft_id}]") == "approved"
    assert one(database, "SELECT status FROM ai_drafts WHERE id = ?", (seeded.draft_id,)) == (
        "approved"
    )
    for path in ("/console/leads", "/console/drafts?status=approved", "/console/about"):
        assert watched.go(path).status == 200
    migrations = one(database, "SELECT COUNT(*) FROM _sqlite_migrations")
    assert page.locator("[data-testid=migrations] tbody tr").count() == migrations


@pytest.fixture
def other_site() -> Iterator[str]:
    """A page on another host (localhost, not 127.0.0.1) that posts to the console."""
    pages: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, b"")
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.pages = pages  # type: ignore[attr-defined]
    yield server
    server.shutdown()
    server.server_close()


def test_a_cross_site_post_is_refused(site, other_site, database):
    watched, seeded, live = site
    login(watched)
    job = seeded.failed_sms[1]
    form = (
        f'<form id="f" method="post" action="{live.url}/console/jobs/{job}/retry">'
        '<input name="_csrf" value="guessed"></form><button id="go">go</button>'
    )
    port = other_site.server_address[1]
    for host in ("localhost", "127.0.0.1"):  # another site; the same site, another origin
        other_site.pages[f"/{host}"] = form.replace("<button", "<button form=f").encode()
        attacker = watched.page.context.new_page()
        attacker.goto(f"http://{host}:{port}/{host}")
        with attacker.expect_navigation():
            attacker.click("#go")
        assert attacker.url.startswith(live.url)
        assert "Refused" in attacker.inner_text("body") or "/console/login" in attacker.url
        attacker.close()
    assert one(database, "SELECT status FROM background_jobs WHERE id = ?", (job,)) == "FAILED"
