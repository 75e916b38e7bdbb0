"""Real-browser tests: headless Chromium (Playwright) against a live system.

One layer starts a ZEO server, a Zope WSGI instance with the Plone site and
the ZMI queue (``dev`` bootstrap), and the headless browser. Each
flow starts the real worker process it needs and stops it by PID. The runs
also refresh the screenshots in docs/screenshots/.

Without /usr/bin/chromium, or when Playwright cannot start it, every test
here skips and says why.
"""

import time
import unittest
import urllib.parse
from pathlib import Path

from collective.asyncreports.dev.bootstrap import plone_installed
from tests.browser import chromium
from tests.browser.chromium import screenshot
from tests.layers import ADMIN_PASSWORD
from tests.layers import MEMBER
from tests.layers import MEMBER_PASSWORD
from tests.layers import PLONE_QUEUE
from tests.layers import SITE_MANAGER
from tests.layers import SITE_MANAGER_PASSWORD
from tests.layers import ZMI_QUEUE_ID
from tests.layers import LiveSiteLayer
from tests.processes import pdf_text
from tests.processes import queue_in


TIMEOUT = 30_000  # ms, for every Playwright wait
JOB_TIMEOUT = 90_000  # ms, for a job to be run by a worker that has to boot first
PLAIN_QUEUE = "asyncreports"  # the ZMI queue the bootstrap adds (ZMIFlowTests adds another)


class BrowserTestCase(unittest.TestCase):
    layer = LiveSiteLayer

    def setUp(self):
        if self.layer.unavailable:
            self.skipTest(self.layer.unavailable)
        self.instance = self.layer.instance
        self.url = self.layer.url

    def context(self, user=None, password=None):
        """A fresh browser context (own cookies), with HTTP basic auth if ``user``."""
        options = {"viewport": chromium.VIEWPORT, "accept_downloads": True}
        if user:
            options["http_credentials"] = {
                "username": user, "password": password, "send": "always"}
        context = self.layer.browser.new_context(**options)
        context.set_default_timeout(TIMEOUT)
        self.addCleanup(context.close)
        return context

    def start_worker(self, queue_path, name):
        """A long-running real worker for one queue, stopped by PID after the test."""
        worker = self.instance.start_worker("--queue", queue_path, name=name)
        self.addCleanup(self.instance.stop, worker)
        return worker

    def worker_log(self, name):
        path = self.layer.home / "var" / "log" / f"{name}.out"
        return path.read_text()[-3000:] if path.exists() else "(no log)"

    def wait_for_state(self, locator, text, worker_name, timeout=JOB_TIMEOUT):
        """Wait for the page to show ``text`` in ``locator``; on timeout show the worker's log."""
        from playwright.sync_api import expect

        try:
            expect(locator).to_have_text(text, timeout=timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- {worker_name} log ---\n"
                                 f"{self.worker_log(worker_name)}") from None

    def watch(self, page, read, until, worker_name, on_change=None, timeout=JOB_TIMEOUT):
        """What ``read`` (a JS function) gives, sampled every 200 ms until
        ``until`` (a locator) is there: each change, in order, also given to
        ``on_change``."""
        samples = []
        deadline = time.monotonic() + timeout / 1000
        while True:
            sample = page.evaluate(read)
            if not samples or sample != samples[-1]:
                samples.append(sample)
                if on_change is not None:
                    on_change(sample)
            if until.count():
                return samples
            self.assertLess(time.monotonic(), deadline,
                            f"{samples}\n--- {worker_name} log ---\n{self.worker_log(worker_name)}")
            page.wait_for_timeout(200)  # the page's own timers run meanwhile

    def assert_moved_in_steps(self, samples, steps):
        """The bar's value went up at least twice on its way to 100, never
        back, and its message changed with it ("step N of STEPS")."""
        values = [sample["value"] for sample in samples]
        self.assertEqual(values, sorted(values), samples)
        self.assertGreaterEqual(len({value for value in values if 0 < value < 100}), 2, samples)
        self.assertEqual(values[-1], 100, samples)
        messages = [sample["message"] for sample in samples if sample["message"]]
        self.assertGreaterEqual(len(set(messages)), 2, samples)
        for message in messages:
            self.assertRegex(message, rf"^step [1-{steps}] of {steps}$")

    def mark_page(self, page):
        """Remember this page load: see page_was_not_reloaded."""
        page.evaluate("window.asyncreportsTestMarker = 'still the same page'")
        navigations = []
        page.on("framenavigated",
                lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
        return navigations

    def assert_not_reloaded(self, page, navigations):
        self.assertEqual(navigations, [], "the page navigated")
        self.assertEqual(page.evaluate("window.asyncreportsTestMarker"), "still the same page",
                         "the page was reloaded")


class ZMIFlowTests(BrowserTestCase):
    """The ZMI: add a queue, submit a report, watch the Queue tab, get the PDF."""

    def test_add_queue_submit_watch_queue_tab_to_done_and_download(self):
        from playwright.sync_api import expect

        page = self.context("admin", ADMIN_PASSWORD).new_page()
        page.goto(self.url + "/manage_main")

        # Add an Async Report Queue from the Add menu (a modal dialog in Zope 5).
        page.select_option("#addItemSelect", label="Async Report Queue")
        modal = page.locator("#zmi-modal")
        modal.get_by_label("Id").fill(ZMI_QUEUE_ID)
        modal.get_by_label("Title").fill("Reports from the browser")
        screenshot(page, "zmi-add-queue")
        with page.expect_navigation():
            modal.get_by_role("button", name="Add").click()
        expect(page.get_by_text("Async Report Queue added.")).to_be_visible()
        with page.expect_navigation():
            page.click(f"a[href='{ZMI_QUEUE_ID}/manage_workspace']")
        self.assertTrue(page.url.endswith(f"/{ZMI_QUEUE_ID}/manage_queue"), page.url)
        expect(page.get_by_text("No jobs.")).to_be_visible()

        # The Submit tab: a form made from the report's parameter schema.
        with page.expect_navigation():
            page.get_by_role("link", name="Submit", exact=True).click()
        with page.expect_navigation():
            page.select_option("#report-choice", label="Object inventory")
        page.get_by_label("Target path").fill("/docs")
        page.get_by_label("Depth").fill("2")
        screenshot(page, "zmi-submit")
        with page.expect_navigation():
            page.get_by_role("button", name="Queue report").click()
        self.assertIn("/manage_queue", page.url)
        row = page.locator("#asyncreports-jobs tbody tr")
        expect(row).to_have_count(1)
        job_id = row.get_attribute("data-job")
        expect(page.get_by_text(f"Queued job {job_id}.")).to_be_visible()
        state = row.locator("[data-field=state]")
        expect(state).to_have_text("queued")
        screenshot(page, "zmi-queue-queued")
        navigations = self.mark_page(page)

        # A ticked box is never thrown away: no refresh while one is ticked,
        # even once the job is done in the database.
        checkbox = row.locator("input[type=checkbox]")
        checkbox.check()
        self.start_worker(f"/{ZMI_QUEUE_ID}", "zmi-worker")
        deadline = time.monotonic() + JOB_TIMEOUT / 1000
        while self.layer.job_state(f"/{ZMI_QUEUE_ID}", job_id) != "done":
            self.assertLess(time.monotonic(), deadline, self.worker_log("zmi-worker"))
            page.wait_for_timeout(200)  # let the page's own timers run meanwhile
        expect(checkbox).to_be_checked()
        expect(state).to_have_text("queued")

        # Untick: the tab updates itself to done, without a reload.
        checkbox.uncheck()
        self.wait_for_state(state, "done", "zmi-worker", timeout=TIMEOUT)
        pdf_link = row.locator("[data-field=links] a", has_text="PDF")
        expect(pdf_link).to_be_visible()
        expect(page.locator("#asyncreports-stats")).to_contain_text("done: 1")
        expect(page.locator("#asyncreports-jobs")).to_have_attribute("data-active", "0")
        self.assert_not_reloaded(page, navigations)
        screenshot(page, "zmi-queue-done")

        # The PDF, fetched with the same credentials.
        response = page.request.get(pdf_link.get_attribute("href"))
        self.assertEqual(response.status, 200)
        self.assertEqual(response.headers["content-type"], "application/pdf")
        text = pdf_text(response.body())
        for expected in ("Object inventory", "agenda.txt", "minutes/2026-01.txt",
                         "January minutes", "1234"):
            self.assertIn(expected, text)


# A report of tests/addons/progressreport that calls api.current_job().progress()
# at every step ("step N of STEPS"); a step lasts longer than the pages' polls.
STEPS = 5
SECONDS = 15


class ZMIJobPageProgressTests(BrowserTestCase):
    """The ZMI job page follows a running report's progress bar to its PDF."""

    READ = """() => {
      const part = document.getElementById("asyncreports-job-summary");
      const message = part.querySelector("[data-field=progress_message]");
      return {value: part.querySelector("progress").value,
              message: message ? message.textContent.trim() : "",
              state: part.querySelector("[data-field=state]").textContent.trim(),
              history: document.querySelectorAll("#asyncreports-job-history tbody tr").length};
    }"""

    def test_job_page_shows_the_progress_bar_move_then_the_pdf(self):
        from playwright.sync_api import expect

        page = self.context("admin", ADMIN_PASSWORD).new_page()
        page.goto(f"{self.url}/{PLAIN_QUEUE}/manage_submitForm")
        with page.expect_navigation():
            page.select_option("#report-choice", label="Progress in steps")
        page.get_by_label("Target path").fill("/docs")
        page.get_by_label("Seconds to run").fill(str(SECONDS))
        page.get_by_label("Steps").fill(str(STEPS))
        with page.expect_navigation():
            page.get_by_role("button", name="Queue report").click()
        job_id = page.locator("#asyncreports-jobs tbody tr").first.get_attribute("data-job")
        expect(page.get_by_text(f"Queued job {job_id}.")).to_be_visible()
        with page.expect_navigation():
            page.locator(f"a[href$='manage_job?job_id={job_id}']").click()
        summary = page.locator("#asyncreports-job-summary")
        expect(summary).to_have_attribute("data-active", "1")
        expect(summary.locator("progress")).to_have_attribute("value", "0")
        navigations = self.mark_page(page)

        self.start_worker(f"/{PLAIN_QUEUE}", "zmi-progress-worker")
        pdf_link = summary.locator("[data-field=links] a", has_text="PDF")
        shot = []

        def screenshot_once_halfway(sample):
            if not shot and 40 <= sample["value"] < 100:
                shot.append(screenshot(page, "zmi-job", full_page=True))

        samples = self.watch(page, self.READ, pdf_link, "zmi-progress-worker",
                             on_change=screenshot_once_halfway)
        self.assert_moved_in_steps(samples, STEPS)
        self.assertEqual(samples[-1]["state"], "done", samples)
        self.assertGreater(samples[-1]["history"], samples[0]["history"], samples)
        self.assertTrue(shot, "no screenshot of the running job")

        # Ended: the bar full, the PDF, the finished time and its history,
        # no Cancel; the page stopped asking (no script once reloaded either).
        expect(summary).to_have_attribute("data-active", "0")
        expect(summary).to_contain_text("Finished")
        expect(page.locator("#asyncreports-job-buttons button[value=cancel]")).to_have_count(0)
        self.assert_not_reloaded(page, navigations)
        response = page.request.get(pdf_link.get_attribute("href"))
        self.assertEqual(response.headers["content-type"], "application/pdf")
        self.assertIn(f"job={job_id} attempt=1 owner=admin", pdf_text(response.body()))


@unittest.skipUnless(plone_installed(), "the [plone] extra is not installed")
class PloneTestCase(BrowserTestCase):
    def plone_page(self, user, password):
        """A page of a new context, logged in through Plone's login form."""
        page = self.context().new_page()
        page.goto(self.url + "/Plone/login")
        page.get_by_label("Login name").fill(user)
        page.get_by_label("Password").fill(password)
        with page.expect_navigation():
            page.get_by_role("button", name="Log in").click()
        self.assertNotIn("/login", page.url, f"{user} could not log in")
        return page

    def generate(self, page, folder, report, **fields):
        """Generate report on ``folder`` through its Actions menu; return the job id."""
        page.goto(f"{self.url}/Plone/{folder}")
        page.locator("#plone-contentmenu-actions > a").click()
        with page.expect_navigation():
            page.get_by_role("link", name="Generate report").click()
        with page.expect_navigation():
            page.locator(".asyncreports-choices").get_by_role("link", name=report).click()
        for label, value in fields.items():
            control = page.get_by_label(label)
            if isinstance(value, bool):
                control.set_checked(value)
            else:
                control.fill(value)
        return page

    def queue_report(self, page):
        with page.expect_navigation():
            page.get_by_role("button", name="Queue report").click()
        self.assertIn("/@@my-reports", page.url)
        return urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)["job"][0]


class PloneFlowTests(PloneTestCase):
    """An Editor queues a report, follows it in My reports, and alone gets the PDF."""

    def test_editor_generates_a_report_watches_it_finish_and_only_they_get_it(self):
        from playwright.sync_api import expect

        page = self.plone_page("editor", self.instance.editor_password())
        self.generate(page, "demo", "Content inventory")
        expect(page.get_by_role("heading", name="Content inventory")).to_be_visible()
        screenshot(page, "plone-generate-report", full_page=True)
        job_id = self.queue_report(page)

        # My reports: queued, then done once a worker has run it, without a reload.
        expect(page.get_by_role("heading", name="My reports")).to_be_visible()
        row = page.locator(f"tr[data-job='{job_id}']")
        state = row.locator("[data-field=state]")
        expect(state).to_contain_text("queued")
        navigations = self.mark_page(page)
        self.start_worker(PLONE_QUEUE, "plone-worker")
        self.wait_for_state(state, "done", "plone-worker")
        pdf_link = row.locator("[data-field=links] a", has_text="PDF")
        expect(pdf_link).to_be_visible()
        expect(row.locator(".progress-bar")).to_have_text("100%")
        expect(row.locator("input[name='job_ids:list']")).to_have_count(1)  # may be deleted
        self.assert_not_reloaded(page, navigations)
        screenshot(page, "plone-my-reports")

        with page.expect_download() as download:
            pdf_link.click()
        data = Path(download.value.path()).read_bytes()
        text = pdf_text(data)
        for title in ("Welcome", "Annual plan", "Meeting notes", "News"):
            self.assertIn(title, text)
        pdf_url = pdf_link.get_attribute("href")

        # Another member of the site, and an anonymous visitor, are refused it.
        intruder = self.plone_page(MEMBER, MEMBER_PASSWORD)
        intruder.goto(pdf_url)
        self.assertIn("insufficient-privileges", intruder.url)
        expect(intruder.get_by_role("heading", name="Insufficient Privileges")).to_be_visible()
        screenshot(intruder, "plone-member-refused")
        for request in (intruder.request, self.context().request):
            response = request.get(pdf_url)
            self.assertNotEqual(response.headers.get("content-type"), "application/pdf")
            self.assertFalse(response.body().startswith(b"%PDF"))


class PloneJobPageFlowTests(PloneTestCase):
    """An Editor opens a job's page from My reports, sees it finish there, runs it again."""

    def test_editor_follows_a_job_on_its_page_and_runs_it_again(self):
        from playwright.sync_api import expect

        page = self.plone_page("editor", self.instance.editor_password())
        self.generate(page, "demo", "Content inventory")
        job_id = self.queue_report(page)
        with page.expect_navigation():
            page.locator(f"tr[data-job='{job_id}'] a[href*='@@asyncreports-job']").click()
        expect(page.get_by_role("heading", name="Content inventory")).to_be_visible()
        expect(page.locator(".asyncreports-history")).to_contain_text("editor")
        time_shown = page.locator(".asyncreports-job-details time").first
        self.assertTrue(time_shown.get_attribute("title").endswith(" UTC"))
        state = page.locator(f"tr[data-job='{job_id}'] [data-field=state]")
        expect(state).to_contain_text("queued")
        navigations = self.mark_page(page)
        self.start_worker(PLONE_QUEUE, "plone-job-worker")
        self.wait_for_state(state, "done", "plone-job-worker")
        expect(page.locator(f"tr[data-job='{job_id}'] [data-field=links] a",
                            has_text="PDF")).to_be_visible()
        expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
        self.assert_not_reloaded(page, navigations)
        screenshot(page, "plone-job", full_page=True)

        with page.expect_navigation():
            page.get_by_role("button", name="Run again").click()
        expect(page.get_by_text(f"a new run of job {job_id}")).to_be_visible()
        new_id = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)["job"][0]
        self.assertNotEqual(new_id, job_id)
        self.wait_for_state(page.locator(f"tr[data-job='{new_id}'] [data-field=state]"),
                            "done", "plone-job-worker")


class PloneMyReportsActionsTests(PloneTestCase):
    """My reports: filter by report and state, run a job again, delete a finished one."""

    def rows(self, page):
        """(job id, report title, state) of every row shown."""
        return page.locator("tr[data-job]").evaluate_all(
            "rows => rows.map(row => [row.dataset.job,"
            " row.querySelector('a[href*=asyncreports-job]').textContent.trim(),"
            " row.querySelector('[data-field=state]').firstChild.textContent.trim()])")

    def filter(self, page, state="", report=""):
        page.select_option("#filter-state", value=state)
        page.select_option("#filter-report", value=report)
        with page.expect_navigation():
            page.get_by_role("button", name="Filter").click()

    def test_editor_filters_runs_again_and_deletes_own_finished_job(self):
        from playwright.sync_api import expect

        page = self.plone_page("editor", self.instance.editor_password())
        self.generate(page, "demo", "Folder summary")
        summary_id = self.queue_report(page)
        self.generate(page, "demo", "Content inventory")
        inventory_id = self.queue_report(page)
        self.start_worker(PLONE_QUEUE, "plone-my-reports-worker")
        for job_id in (summary_id, inventory_id):
            self.wait_for_state(page.locator(f"tr[data-job='{job_id}'] [data-field=state]"),
                                "done", "plone-my-reports-worker")

        # Filters: only the chosen report, then only the chosen state.
        self.filter(page, report="folder-summary")
        shown = self.rows(page)
        self.assertIn(summary_id, [job_id for job_id, _, _ in shown])
        self.assertEqual({title for _, title, _ in shown}, {"Folder summary"}, shown)
        self.filter(page, state="done")
        shown = self.rows(page)
        self.assertIn(inventory_id, [job_id for job_id, _, _ in shown])
        self.assertEqual({state for _, _, state in shown}, {"done"}, shown)
        self.filter(page, state="cancelled", report="folder-summary")
        expect(page.get_by_text("None of your jobs matches these filters.")).to_be_visible()

        # Run again, from the row: a new job with the same parameters, done.
        self.filter(page)
        with page.expect_navigation():
            page.locator(f"tr[data-job='{summary_id}'] button[name=run_again]").click()
        expect(page.get_by_text(f"a new run of job {summary_id}")).to_be_visible()
        again_id = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)["job"][0]
        self.assertNotEqual(again_id, summary_id)
        self.wait_for_state(page.locator(f"tr[data-job='{again_id}'] [data-field=state]"),
                            "done", "plone-my-reports-worker")

        # Delete the finished inventory: its row and its PDF are gone.
        pdf_url = page.locator(f"tr[data-job='{inventory_id}'] [data-field=links] a",
                               has_text="PDF").get_attribute("href")
        self.assertEqual(page.request.get(pdf_url).headers["content-type"], "application/pdf")
        page.locator(f"tr[data-job='{inventory_id}'] input[name='job_ids:list']").check()
        with page.expect_navigation():
            page.get_by_role("button", name="Delete chosen finished jobs").click()
        expect(page.get_by_text("Deleted 1 job(s) and their results.")).to_be_visible()
        expect(page.locator(f"tr[data-job='{inventory_id}']")).to_have_count(0)
        expect(page.locator(f"tr[data-job='{summary_id}']")).to_have_count(1)
        gone = page.request.get(pdf_url)
        self.assertNotEqual(gone.headers.get("content-type"), "application/pdf")
        self.assertFalse(gone.body().startswith(b"%PDF"))


class PloneJobPageProgressTests(PloneTestCase):
    """An Editor watches a running report's bar move on its job page, then gets the PDF."""

    READ = """() => {
      const part = document.getElementById("asyncreports-job-summary");
      return {value: Number(part.querySelector(".progress").getAttribute("aria-valuenow")),
              width: parseFloat(part.querySelector(".progress-bar").style.width),
              message: part.querySelector("[data-field=progress_message]").textContent.trim(),
              history: document.querySelectorAll("#asyncreports-job-history tbody tr").length};
    }"""

    def test_job_page_shows_the_progress_bar_move_then_the_pdf(self):
        from playwright.sync_api import expect

        page = self.plone_page("editor", self.instance.editor_password())
        self.generate(page, "demo/news", "Progress in steps",
                      **{"Seconds to run": str(SECONDS), "Steps": str(STEPS)})
        job_id = self.queue_report(page)
        with page.expect_navigation():
            page.locator(f"tr[data-job='{job_id}'] a[href*='@@asyncreports-job']").click()
        summary = page.locator("#asyncreports-job-summary")
        expect(summary).to_have_attribute("data-active", "1")
        expect(page.locator("#asyncreports-job-details")).not_to_contain_text("Started")
        navigations = self.mark_page(page)

        self.start_worker(PLONE_QUEUE, "plone-progress-worker")
        pdf_link = summary.locator("[data-field=links] a", has_text="PDF")
        samples = self.watch(page, self.READ, pdf_link, "plone-progress-worker")
        self.assert_moved_in_steps(samples, STEPS)
        self.assertEqual([s["width"] for s in samples], [s["value"] for s in samples])
        self.assertGreater(samples[-1]["history"], samples[0]["history"], samples)

        # Ended: times, attempts and history came without a reload; no Cancel.
        details = page.locator("#asyncreports-job-details")
        expect(details).to_contain_text("Started")
        expect(details).to_contain_text("Finished")
        expect(summary.locator("[data-field=attempts]")).to_have_text("1/3")
        expect(summary).to_have_attribute("data-active", "0")
        expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
        token = page.locator("#asyncreports-job-actions input[name=_authenticator]")
        expect(token).to_have_count(1)  # the form kept its token
        self.assert_not_reloaded(page, navigations)
        with page.expect_download() as download:
            pdf_link.click()
        text = pdf_text(Path(download.value.path()).read_bytes())
        self.assertIn(f"job={job_id} attempt=1 owner=editor", text)


class SiteSetupFlowTests(PloneTestCase):
    """A Manager changes a setting, cancels a queued job and retries a failed one."""

    # A real browser found that required Bool settings made their checkboxes
    # HTML-required, so the form could not be saved with one unticked
    # (zope.testbrowser does not care): test_plone_browser had passed.
    def test_control_panel_changes_a_setting(self):
        from playwright.sync_api import expect

        page = self.plone_page(SITE_MANAGER, SITE_MANAGER_PASSWORD)
        page.goto(self.url + "/Plone/@@overview-controlpanel")
        with page.expect_navigation():
            page.locator("a.btn[href$='/@@asyncreports-controlpanel']").click()
        expect(page.get_by_role("heading", name="Async reports")).to_be_visible()
        page.get_by_label("Retention (days)").fill("14")
        screenshot(page, "plone-control-panel", full_page=True)
        save = page.get_by_role("button", name="Save")
        refused = save.evaluate(
            "button => Array.from(button.form.elements)"
            "  .filter(e => !e.checkValidity())"
            "  .map(e => e.name + ': ' + e.validationMessage)")
        self.assertEqual(refused, [], "the browser will not send the settings form")
        with page.expect_navigation():
            save.click()
        expect(page.get_by_text("Changes saved")).to_be_visible()
        expect(page.get_by_label("Retention (days)")).to_have_value("14")
        with page.expect_navigation():
            page.locator("#content").get_by_role("link", name="Queue", exact=True).click()
        expect(page.locator("#older_than_days")).to_have_value("14")

    def test_queue_view_cancels_a_queued_job_and_retries_a_failed_one(self):
        from playwright.sync_api import expect

        page = self.plone_page(SITE_MANAGER, SITE_MANAGER_PASSWORD)

        # A job that fails on purpose, run by one real worker process (--once) ...
        self.generate(page, "demo", "Wait and report",
                      **{"Seconds to wait": "0", "Fail after waiting": True})
        failed = self.queue_report(page)
        result = self.instance.run_command("worker", "--once", "--queue", PLONE_QUEUE)
        self.assertIn(f"job {failed} failed", result.stderr)
        # ... and one no worker runs, so it stays queued.
        self.generate(page, "demo", "Wait and report", **{"Seconds to wait": "0"})
        queued = self.queue_report(page)

        # Site Setup > Async reports > Queue.
        page.goto(self.url + "/Plone/@@overview-controlpanel")
        with page.expect_navigation():
            page.locator("a.btn[href$='/@@asyncreports-controlpanel']").click()
        with page.expect_navigation():
            page.locator("#content").get_by_role("link", name="Queue", exact=True).click()
        expect(page.locator(f"tr[data-job='{failed}'] [data-field=state]")).to_have_text(
            "failed")
        expect(page.locator(f"tr[data-job='{failed}'] [data-field=links]")).to_contain_text(
            "failed on purpose")
        expect(page.locator(f"tr[data-job='{queued}'] [data-field=state]")).to_have_text(
            "queued")

        def act_on(job_id, button, message, state):
            page.locator(f"tr[data-job='{job_id}'] input[name='job_ids:list']").check()
            with page.expect_navigation():
                page.get_by_role("button", name=button, exact=True).click()
            expect(page.get_by_text(message)).to_be_visible()
            expect(page.locator(f"tr[data-job='{job_id}'] [data-field=state]")).to_have_text(
                state)

        act_on(queued, "Cancel", "Cancelled 1 job(s).", "cancelled")
        act_on(failed, "Retry", "Requeued 1 job(s).", "queued")
        expect(page.locator(f"tr[data-job='{failed}'] [data-field=attempts]")).to_have_text(
            "0/3")
        screenshot(page, "plone-queue", full_page=True)
        self.assertEqual(self.layer.job_state(PLONE_QUEUE, queued), "cancelled")
        self.assertEqual(self.layer.job_state(PLONE_QUEUE, failed), "queued")

        # The worker that ran the failed job is listed, stopped.
        with page.expect_navigation():
            page.locator("#content").get_by_role("link", name="Workers", exact=True).click()
        expect(page.locator("#content")).to_contain_text("stopped")
        expect(page.locator("#content")).to_contain_text("0 / 1")  # done / failed
        screenshot(page, "plone-workers")


class PloneGermanSiteFlowTests(PloneTestCase):
    """With the site's language German, Generate report, My reports and Site Setup are
    German, and so is the PDF a worker makes (nobody here has a language of their own)."""

    def set_site_language(self, language):
        """Site Setup > Language's two records, written over a connection of ours."""
        with queue_in(self.layer.db, "/Plone/portal_registry") as registry:
            # The stored values (Records._values): this process has no component
            # registry for the fields' vocabularies to validate against.
            registry.records._values["plone.available_languages"] = [language]
            registry.records._values["plone.default_language"] = language

    def test_generate_report_my_reports_site_setup_and_the_pdf_are_german(self):
        from playwright.sync_api import expect

        # Logged in first: the login form's labels would be German too.
        page = self.plone_page("editor", self.instance.editor_password())
        admin = self.plone_page(SITE_MANAGER, SITE_MANAGER_PASSWORD)
        self.set_site_language("de")
        self.addCleanup(self.set_site_language, "en")
        # The instance's connections see the commit once ZEO's invalidation reaches them.
        deadline = time.monotonic() + 30
        while True:
            page.goto(f"{self.url}/Plone/demo")
            language = page.locator("html").get_attribute("lang")
            if language == "de" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(language, "de", "the site does not show German")
        page.locator("#plone-contentmenu-actions > a").click()
        with page.expect_navigation():
            page.get_by_role("link", name="Bericht erstellen").click()
        expect(page.get_by_role("heading", name="Bericht erstellen")).to_be_visible()
        with page.expect_navigation():
            page.locator(".asyncreports-choices").get_by_role(
                "link", name="Inhaltsinventar").click()
        expect(page.get_by_role("heading", name="Inhaltsinventar")).to_be_visible()
        expect(page.get_by_label("Höchstzahl der Einträge in der Tabelle")).to_be_visible()
        expect(page.get_by_role("radio", name="Einmal (jetzt)")).to_be_checked()  # Repeat
        with page.expect_navigation():
            page.get_by_role("button", name="Bericht einreihen").click()
        self.assertIn("/@@my-reports", page.url)
        job_id = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)["job"][0]

        expect(page.get_by_role("heading", name="Meine Berichte")).to_be_visible()
        row = page.locator(f"tr[data-job='{job_id}']")
        expect(row.locator("[data-field=state]")).to_contain_text("eingereiht")
        self.start_worker(PLONE_QUEUE, "plone-worker-de")
        self.wait_for_state(row.locator("[data-field=state]"), "erledigt", "plone-worker-de")
        screenshot(page, "plone-my-reports-de")
        with page.expect_download() as download:
            row.locator("[data-field=links] a", has_text="PDF").click()
        text = pdf_text(Path(download.value.path()).read_bytes())
        for german in ("Inhaltsinventar", "Einträge pro Typ", "Einträge pro Status", "Summe",
                       "Titel", "Pfad", "Seite 1 von", "Erstellt am"):
            self.assertIn(german, text)
        self.assertNotIn("Items per type", text)

        admin.goto(self.url + "/Plone/@@overview-controlpanel")
        with admin.expect_navigation():
            admin.locator("a.btn[href$='/@@asyncreports-controlpanel']").click()
        expect(admin.get_by_role("heading", name="Asynchrone Berichte")).to_be_visible()
        expect(admin.get_by_label("Aufbewahrung (Tage)")).to_be_visible()
        with admin.expect_navigation():
            admin.locator("#content").get_by_role(
                "link", name="Warteschlange", exact=True).click()
        expect(admin.locator(f"tr[data-job='{job_id}'] [data-field=state]")).to_have_text(
            "erledigt")
        expect(admin.get_by_role("button", name="Bereinigen", exact=True)).to_be_visible()


class PloneSchedulesFlowTests(PloneTestCase):
    """An Editor makes a weekly schedule on Generate report, finds it in My
    schedules, pauses it and deletes it."""

    def test_editor_schedules_a_weekly_report_and_pauses_it(self):
        from playwright.sync_api import expect

        page = self.plone_page("editor", self.instance.editor_password())
        self.generate(page, "demo", "Content inventory")
        page.get_by_label("Weekly").check()
        page.get_by_label("Time of day").fill("08:15")
        page.get_by_label("Weekday").select_option(label="Friday")
        page.get_by_label("Time zone").select_option("Europe/Berlin")
        with page.expect_navigation():
            page.get_by_role("button", name="Queue report").click()
        self.assertIn("/@@my-schedules?schedule=", page.url)
        schedule_id = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)["schedule"][0]
        expect(page.get_by_text("Scheduled: “Content inventory”, weekly on Friday at 08:15 "
                                "(Europe/Berlin); next run")).to_be_visible()
        row = page.locator(f"tr[data-schedule='{schedule_id}']")
        expect(row.locator("[data-field=repeat]")).to_contain_text("Weekly on Friday at 08:15")
        expect(row.locator("[data-field=repeat] code")).to_have_text("15 8 * * 5")
        expect(row.locator("[data-field=state]")).to_have_text("enabled")
        next_run = row.locator("[data-field=next] time")
        self.assertTrue(next_run.get_attribute("title").endswith(" UTC"))
        self.assertTrue(next_run.get_attribute("datetime").endswith("Z"))
        screenshot(page, "plone-my-schedules")

        with page.expect_navigation():
            row.get_by_role("button", name="Pause").click()
        expect(page.get_by_text(f"Paused schedule {schedule_id}.")).to_be_visible()
        expect(row.locator("[data-field=state]")).to_contain_text("paused by editor")
        expect(row.locator("[data-field=next] time")).to_have_count(0)
        expect(row.get_by_role("button", name="Resume")).to_be_visible()

        # My reports links here; nothing was queued now.
        page.goto(self.url + "/Plone/@@my-reports")
        with page.expect_navigation():
            page.locator("#content").get_by_role("link", name="My schedules").click()
        with page.expect_navigation():
            page.locator(f"tr[data-schedule='{schedule_id}']").get_by_role(
                "button", name="Delete").click()
        expect(page.get_by_text(f"Deleted schedule {schedule_id}.")).to_be_visible()
        expect(page.locator(f"tr[data-schedule='{schedule_id}']")).to_have_count(0)
