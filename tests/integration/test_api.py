"""The authors' API on the Zope layer: enqueue with the forms' checks, get_job,
and progress and cancelling of running reports with the worker in-process."""

import threading
import time
import unittest

import transaction
from AccessControl import Unauthorized
from AccessControl import getSecurityManager
from AccessControl.SecurityManagement import newSecurityManager
from AccessControl.SecurityManagement import noSecurityManager
from plone.app.testing import login
from zope.component import getGlobalSiteManager

from collective.asyncreports import api
from collective.asyncreports import errors
from collective.asyncreports import testing
from collective.asyncreports.plone import testing as plone_testing
from collective.asyncreports.reports.interfaces import IReportType
from collective.asyncreports.worker.loop import Worker
from collective.asyncreports.zmi.queue import manage_addAsyncReportQueue
from tests.addons.apireports import Spin
from tests.addons.apireports import Steps
from tests.processes import pdf_text
from tests.processes import wait_for


QUEUE_PATH = "/" + testing.QUEUE_ID


class APITestCase(unittest.TestCase):
    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.login(testing.REPORTER)
        self.addCleanup(noSecurityManager)

    @property
    def app(self):
        return self.layer["app"]

    @property
    def queue(self):
        return self.app[testing.QUEUE_ID]

    @property
    def jobs(self):
        return self.queue.job_queue()

    def login(self, user_id):
        newSecurityManager(None, self.app.acl_users.getUserById(user_id).__of__(
            self.app.acl_users))


class EnqueueTests(APITestCase):
    def test_queues_as_the_current_user_in_the_current_transaction(self):
        job_id = api.enqueue("object-inventory", self.app.docs, {"depth": 2})
        job = self.jobs.get(job_id)
        self.assertEqual((job.report, job.path, job.owner_id, job.state),
                         ("object-inventory", "/docs", testing.REPORTER, "queued"))
        self.assertEqual((job.params["depth"], job.queue_path), (2, QUEUE_PATH))
        transaction.abort()
        self.assertNotIn(job_id, self.queue.job_queue())  # no commit, no job

    def test_a_path_a_queue_path_priority_and_not_before(self):
        job_id = api.enqueue("object-inventory", "docs/minutes", priority=5,
                             not_before=2_000_000_000, queue=QUEUE_PATH)
        job = self.jobs.get(job_id)
        self.assertEqual((job.path, job.priority, job.not_before),
                         ("/docs/minutes", 5, 2_000_000_000))
        self.assertEqual(job.params["depth"], 1)  # the schema's default

    def test_as_another_user_by_id_or_object_then_the_security_manager_is_back(self):
        before = getSecurityManager().getUser()
        carol = self.app.acl_users.getUserById(testing.OTHER_REPORTER)
        for user in (testing.OTHER_REPORTER, carol):
            job_id = api.enqueue("object-inventory", self.app.docs, user=user)
            self.assertEqual(self.jobs.get(job_id).owner_id, testing.OTHER_REPORTER)
            self.assertIs(getSecurityManager().getUser(), before)
        with self.assertRaises(Unauthorized):
            api.enqueue("object-inventory", self.app.docs, user=testing.BYSTANDER)
        self.assertIs(getSecurityManager().getUser(), before)

    def test_the_checks_of_the_forms_with_one_message_per_problem(self):
        with self.assertRaises(errors.InvalidParameters) as caught:
            api.enqueue("object-inventory", self.app.docs,
                        {"depth": "2", "max_items": 0, "colour": "red"})
        self.assertEqual(sorted(name for name, _ in caught.exception.errors),
                         ["colour", "depth", "max_items"])
        self.assertIn("depth: must be a whole number (got str)", str(caught.exception))
        cases = [
            (("nonesuch", self.app.docs), errors.UnknownReport, "no report type 'nonesuch'"),
            (("object-inventory", "/nowhere"), errors.InvalidPath, "does not exist"),
            (("object-inventory", 42), errors.InvalidJobRequest, "object or its path"),
            (("object-inventory", self.app.docs, None, "nobody-here"), errors.UnknownUser,
             "no user with id 'nobody-here'"),
        ]
        for args, error, message in cases:
            with self.subTest(args=args), self.assertRaisesRegex(error, message):
                api.enqueue(*args)
        with self.assertRaises(errors.InvalidJobRequest) as caught:
            api.enqueue("object-inventory", self.app.docs, priority="high",
                        not_before=float("inf"))
        self.assertEqual(str(caught.exception), "priority must be a whole number (got str); "
                         "not_before must be a finite number (got inf)")
        self.login(testing.BYSTANDER)
        with self.assertRaisesRegex(Unauthorized, "bob may not queue"):
            api.enqueue("object-inventory", self.app.docs)
        self.assertEqual(len(self.jobs), 0)

    def test_the_default_queue_is_the_only_one_and_a_clear_error_if_several(self):
        self.assertEqual(api.get_job(api.enqueue("object-inventory", "/docs"))["queue_path"],
                         QUEUE_PATH)
        noSecurityManager()
        manage_addAsyncReportQueue(self.app, "second", "Another queue")
        self.login(testing.REPORTER)
        with self.assertRaisesRegex(errors.QueueNotFound, "2 queues: /asyncreports, /second"):
            api.enqueue("object-inventory", self.app.docs)
        with self.assertRaisesRegex(errors.QueueNotFound, "no Async Report Queue at '/docs'"):
            api.enqueue("object-inventory", self.app.docs, queue="/docs")
        with self.assertRaisesRegex(errors.QueueNotFound, "not Folder"):
            api.enqueue("object-inventory", self.app.docs, queue=self.app.docs)
        self.assertTrue(api.enqueue("object-inventory", self.app.docs, queue=self.queue))


class GetJobTests(APITestCase):
    def test_a_read_only_mapping_of_the_json_fields(self):
        job = api.get_job(api.enqueue("object-inventory", self.app.docs, {"depth": 3}))
        self.assertEqual((job["state"], job["owner"], job["params"]["depth"], job["progress"]),
                         ("queued", testing.REPORTER, 3, 0))
        self.assertRegex(job["created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertIn("history", job)
        with self.assertRaises(TypeError):
            job["state"] = "done"
        with self.assertRaises(TypeError):
            job["params"]["depth"] = 1

    def test_unknown_ids_and_other_peoples_jobs(self):
        for job_id in ("0123456789abcdef", None, 42):
            with self.subTest(job_id=job_id), self.assertRaises(errors.JobNotFound):
                api.get_job(job_id)
        job_id = api.enqueue("object-inventory", self.app.docs)
        self.login(testing.OTHER_REPORTER)
        with self.assertRaisesRegex(Unauthorized, "carol may not see job"):
            api.get_job(job_id)
        self.login(testing.MANAGER)
        self.assertEqual(api.get_job(job_id)["owner"], testing.REPORTER)

    def test_current_job_is_none_outside_a_report(self):
        self.assertIsNone(api.current_job())


class RunningReportTests(APITestCase):
    """Reports that call progress(), and one that never does, in a worker in this process."""

    def setUp(self):
        super().setUp()
        registry = getGlobalSiteManager()
        for name, report in (("steps", Steps()), ("spin", Spin())):
            registry.registerUtility(report, IReportType, name)
            self.addCleanup(registry.unregisterUtility, report, IReportType, name)
        noSecurityManager()
        self.worker = Worker(self.layer["zodbDB"], worker_id="api-worker", poll_interval=0.5)
        self.thread = threading.Thread(target=self.worker.run)
        self.thread.start()
        self.addCleanup(self.stop_worker)

    def stop_worker(self):
        self.worker.stop()
        self.thread.join(30)

    def enqueue(self, report, **params):
        newSecurityManager(None, self.app.acl_users.getUserById(testing.REPORTER))
        try:
            job_id = api.enqueue(report, "/docs", params, user=testing.REPORTER)
        finally:
            noSecurityManager()
        transaction.commit()
        return job_id

    def job(self, job_id):
        transaction.begin()
        return self.jobs.get(job_id)

    def wait_until_running(self, job_id):
        wait_for(lambda: self.job(job_id).started_running, 10, "the report to run")

    def cancel_and_time(self, job_id):
        self.jobs.cancel(job_id, actor="manager")
        transaction.commit()
        requested = time.monotonic()
        wait_for(lambda: self.job(job_id).is_final, 10, f"job {job_id} to end")
        return time.monotonic() - requested

    def test_progress_shows_while_it_runs_and_ends_in_the_pdf(self):
        job_id = self.enqueue("steps", seconds=1.5, steps=30)
        progress = wait_for(lambda: (p := self.jobs.progress_of(self.job(job_id))).percent and p,
                            10, "progress")
        self.assertEqual(self.job(job_id).state, "running")
        self.assertRegex(progress.message, r"^step \d+ of 30$")
        wait_for(lambda: self.job(job_id).state == "done", 10, "done")
        job = self.job(job_id)
        self.assertEqual(self.jobs.progress_of(job).percent, 100)
        text = pdf_text(bytes(self.app.unrestrictedTraverse(job.result_path.lstrip("/")).data))
        self.assertIn(f"job={job_id} attempt=1 owner={testing.REPORTER}", text)

    def test_a_cancel_stops_a_report_with_or_without_progress_then_the_next_job_runs(self):
        for report in ("steps", "spin"):
            with self.subTest(report=report):
                job_id = self.enqueue(report, seconds=20)
                self.wait_until_running(job_id)
                time.sleep(0.3)
                seconds = self.cancel_and_time(job_id)
                job = self.job(job_id)
                self.assertEqual((job.state, job.result_path), ("cancelled", None))
                self.assertLess(seconds, 2)
                self.assertEqual(job.history[-1]["event"], "cancelled")
        self.assertEqual(list(self.queue.results.objectIds()), [])
        after = self.enqueue("steps", seconds=0.1, steps=2)
        wait_for(lambda: self.job(after).state == "done", 10, "the next job")


class PloneTests(unittest.TestCase):
    """In Plone the nearest queue is the site's portal_asyncreports."""

    layer = plone_testing.INTEGRATION_TESTING

    def test_enqueue_as_an_editor_into_the_sites_queue_and_get_it_back(self):
        portal = self.layer["portal"]
        login(portal, plone_testing.EDITOR)
        job_id = api.enqueue("folder-summary", portal.docs)
        job = api.get_job(job_id)
        self.assertEqual((job["queue_path"], job["path"], job["owner"]),
                         ("/plone/portal_asyncreports", "/plone/docs", plone_testing.EDITOR))
        self.assertEqual(api.get_job(job_id, queue=portal.portal_asyncreports)["id"], job_id)
        with self.assertRaises(Unauthorized):
            api.enqueue("folder-summary", "docs", user=plone_testing.MEMBER)
