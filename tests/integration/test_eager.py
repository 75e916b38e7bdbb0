"""The eager fixture: a queued job runs as its transaction commits, the worker's way."""

import threading
import time
import unittest
from pathlib import Path

import transaction
from AccessControl import getSecurityManager
from AccessControl.SecurityManagement import noSecurityManager
from plone.testing import zope
from zope.component import getGlobalSiteManager
from zope.globalrequest import getRequest

from collective.asyncreports import api
from collective.asyncreports import eager
from collective.asyncreports import events
from collective.asyncreports import testing
from collective.asyncreports.rendering import Document
from collective.asyncreports.reports.base import ReportType
from collective.asyncreports.reports.interfaces import IReportType
from collective.asyncreports.worker.runner import DONE
from tests.integration import test_readme_eager_example
from tests.processes import pdf_text


# The report authors' guide's page on testing, which shows the example module.
TESTING_PAGE = Path(__file__).parents[2] / "docs" / "authors" / "testing.rst"


class Broken(ReportType):
    title = "Broken"

    def render(self, context, request, parameters):
        raise ValueError("bad data in row 7")


class WhereAmI(ReportType):
    """Says which user and thread it runs as, and its job's attempt."""

    title = "Where am I"

    def render(self, context, request, parameters):
        document = Document(self.title)
        document.paragraph(f"user={getSecurityManager().getUser().getId()}")
        document.paragraph(f"thread={threading.current_thread().name}")
        document.paragraph(f"attempt={api.current_job().attempt}")
        return document


class Slow(ReportType):
    title = "Slow"
    time_limit = 0.3

    def render(self, context, request, parameters):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.01)


class EagerTestCase(unittest.TestCase):
    layer = testing.EAGER_FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.jobs = self.app[testing.QUEUE_ID].job_queue()
        zope.login(self.app["acl_users"], testing.REPORTER)
        self.addCleanup(noSecurityManager)
        for name, report in (("broken", Broken()), ("whereami", WhereAmI()), ("slow", Slow())):
            self.register(report, IReportType, name)

    def register(self, component, provided, name):
        registry = getGlobalSiteManager()
        registry.registerUtility(component, provided, name)
        self.addCleanup(registry.unregisterUtility, component, provided, name)

    def subscribe(self, handler, event_type):
        registry = getGlobalSiteManager()
        registry.registerHandler(handler, (event_type,))
        self.addCleanup(registry.unregisterHandler, handler, (event_type,))

    def stored(self, path):
        return self.app.unrestrictedTraverse(path.lstrip("/"))

    def result_text(self, job_id):
        return pdf_text(bytes(self.stored(self.jobs.get(job_id).result_path).data))


class EagerRunTests(EagerTestCase):
    def test_a_job_runs_as_its_transaction_commits_and_its_pdf_is_the_owners(self):
        seen = []
        for event_type in (events.IJobQueued, events.IJobStarted, events.IJobFinished):
            self.subscribe(lambda event: seen.append(type(event).__name__), event_type)
        job_id = api.enqueue("object-inventory", self.app.docs, {"depth": 2})
        self.assertEqual(api.get_job(job_id)["state"], "queued")  # not before the commit
        transaction.commit()
        job = api.get_job(job_id)  # no transaction.begin(): the test already sees it
        self.assertEqual((job["state"], job["attempts"]), ("done", 1))
        claimed = [event for event in job["history"] if event["event"] == "claimed"]
        self.assertEqual([event["actor"] for event in claimed], [eager.WORKER_ID])
        self.assertEqual(seen, ["JobQueued", "JobStarted", "JobFinished"])
        result = self.stored(job["result_path"])
        self.assertEqual(result.content_type, "application/pdf")
        self.assertEqual(result.getOwner().getId(), testing.REPORTER)
        text = pdf_text(bytes(result.data))
        self.assertIn("Target: /docs. Depth: 2. Objects listed: 3.", text)
        self.assertIn("January minutes", text)

    def test_it_runs_as_its_owner_in_a_thread_of_its_own_and_leaves_the_tests_globals(self):
        user, request = getSecurityManager().getUser(), getRequest()
        job_id = api.enqueue("whereami", self.app.docs, user=testing.OTHER_REPORTER)
        transaction.commit()
        text = self.result_text(job_id)
        self.assertIn("user=carol", text)
        self.assertIn("thread=asyncreports-eager", text)
        self.assertIn("attempt=1", text)  # api.current_job() works as in a worker
        self.assertIs(getSecurityManager().getUser(), user)
        self.assertIs(getRequest(), request)

    def test_an_aborted_transaction_runs_nothing(self):
        job_id = api.enqueue("whereami", self.app.docs)
        transaction.abort()
        transaction.commit()
        self.assertNotIn(job_id, self.jobs)
        self.assertEqual(eager.run_pending(self.layer["zodbDB"]), [])

    def test_several_jobs_of_one_transaction_all_run(self):
        job_ids = [api.enqueue("whereami", self.app.docs) for _ in range(3)]
        transaction.commit()
        self.assertEqual([api.get_job(job_id)["state"] for job_id in job_ids], ["done"] * 3)

    def test_a_job_queued_by_a_subscriber_of_another_jobs_end_runs_too(self):
        follow_ups = []

        def follow_up(event):
            if event.job.report == "whereami":  # queued as its owner, in the job's commit
                follow_ups.append(api.enqueue("object-inventory", event.job.path,
                                              user=event.job.owner_id, queue=event.queue))

        self.subscribe(follow_up, events.IJobFinished)
        first = api.enqueue("whereami", self.app.docs)
        transaction.commit()
        self.assertEqual(api.get_job(first)["state"], "done")
        (second,) = follow_ups
        job = api.get_job(second)
        self.assertEqual((job["state"], job["owner"]), ("done", testing.REPORTER))
        self.assertIn("Object inventory", self.result_text(second))


class EagerFailureTests(EagerTestCase):
    def test_a_report_that_raises_fails_its_job_with_an_error_log_not_the_test(self):
        failed = []
        self.subscribe(lambda event: failed.append(event.job.id), events.IJobFailed)
        job_id = api.enqueue("broken", self.app.docs)
        with self.assertLogs("collective.asyncreports", "WARNING") as logged:
            transaction.commit()
        job = api.get_job(job_id)
        self.assertEqual((job["state"], job["attempts"]), ("failed", 1))
        self.assertEqual(job["error_message"], "ValueError: bad data in row 7")
        log = bytes(self.stored(job["error_path"]).data).decode()
        self.assertIn("Traceback (most recent call last)", log)
        self.assertIn("ValueError: bad data in row 7", log)
        self.assertEqual(failed, [job_id])
        self.assertIn(f"eager: job {job_id} (broken) failed: ValueError: bad data in row 7",
                      "\n".join(logged.output))

    def test_the_owners_rights_are_checked_again_when_it_runs(self):
        job_id = api.enqueue("object-inventory", self.app.docs)
        # Before the commit: the Reporter role is gone by the time it runs.
        self.app.acl_users._doChangeUser(testing.REPORTER, testing.PASSWORD, [], [])
        with self.assertLogs("collective.asyncreports", "WARNING"):
            transaction.commit()
        job = self.jobs.get(job_id)
        self.assertEqual((job.state, job.result_path), ("failed", None))
        self.assertIn("alice no longer has the permission", job.error_message)

    def test_a_deleted_owner_fails_the_job(self):
        job_id = api.enqueue("object-inventory", self.app.docs, user=testing.OTHER_REPORTER)
        self.app.acl_users._doDelUsers([testing.OTHER_REPORTER])
        with self.assertLogs("collective.asyncreports", "WARNING"):
            transaction.commit()
        job = self.jobs.get(job_id)
        self.assertEqual(job.state, "failed")
        self.assertIn("'carol' no longer exists", job.error_message)

    def test_a_report_past_its_time_limit_is_stopped_and_fails(self):
        job_id = api.enqueue("slow", self.app.docs)
        began = time.monotonic()
        with self.assertLogs("collective.asyncreports", "WARNING"):
            transaction.commit()
        self.assertLess(time.monotonic() - began, 5)
        job = self.jobs.get(job_id)
        self.assertEqual(job.state, "failed")
        self.assertIn("timed out", job.error_message)


class NotBeforeTests(EagerTestCase):
    def test_a_job_not_due_yet_stays_queued_until_run_pending_once_it_is_due(self):
        job_id = api.enqueue("whereami", self.app.docs, not_before=time.time() + 0.5)
        transaction.commit()
        self.assertEqual(self.jobs.get(job_id).state, "queued")
        self.assertEqual(eager.run_pending(self.layer["zodbDB"]), [])  # not due yet
        time.sleep(max(0, self.jobs.get(job_id).not_before - time.time()) + 0.05)
        self.assertEqual(eager.run_pending(self.layer["zodbDB"]), [(job_id, DONE)])
        transaction.begin()
        self.assertEqual(self.jobs.get(job_id).state, "done")


class EagerBrowserTests(EagerTestCase):
    def test_a_job_submitted_with_the_submit_form_is_done_after_the_request(self):
        browser = testing.browser(self.app, testing.REPORTER)
        browser.open("http://nohost/asyncreports/manage_submitForm?report=object-inventory")
        browser.getControl(name="path").value = "/docs"
        browser.getForm(action="manage_submitReport").submit()
        self.assertIn("Queued job", browser.contents)
        (job,), total = self.jobs.list_jobs()  # the browser synced the test's connection
        self.assertEqual((total, job.state, job.owner_id), (1, "done", testing.REPORTER))
        text = pdf_text(bytes(self.stored(job.result_path).data))
        self.assertIn("Target: /docs. Depth: 1.", text)


class TestingPageExampleTests(unittest.TestCase):
    def test_the_testing_page_shows_the_example_module_verbatim(self):
        source = Path(test_readme_eager_example.__file__).read_text()
        indented = "\n".join("    " + line if line else "" for line in source.splitlines())
        self.assertTrue(indented in TESTING_PAGE.read_text(),
                        "docs/authors/testing.rst's eager example differs from the module")
