"""Deduplication and limits through the ZMI Submit tab, api.enqueue and the job page."""

import time

import transaction
from AccessControl.SecurityManagement import newSecurityManager
from AccessControl.SecurityManagement import noSecurityManager
from zExceptions import Unauthorized

from collective.asyncreports import actions
from collective.asyncreports import api
from collective.asyncreports import testing
from collective.asyncreports.errors import TooManyJobs
from collective.asyncreports.reports.registry import get_report
from collective.asyncreports.submission import earlier_job
from tests.integration.test_zmi import QUEUE_URL
from tests.integration.test_zmi import ZMITestCase


class SubmitTabTests(ZMITestCase):
    def test_identical_submission_returns_the_waiting_job(self):
        first = self.submit(testing.REPORTER, "/docs", depth="2")
        self.assertIn("Queued job", first.contents)
        (job,), _ = self.jobs.list_jobs()
        second = self.submit(testing.REPORTER, "/docs", depth="2")
        self.assertIn(f"Job {job.id} with the same report, target, parameters and format is "
                      "queued already: no second one was queued.", second.contents)
        self.assertEqual(len(self.jobs), 1)

    def test_different_parameters_owner_or_a_cancelled_job_make_new_jobs(self):
        self.submit(testing.REPORTER, "/docs", depth="2")
        self.submit(testing.REPORTER, "/docs", depth="3")
        self.submit(testing.OTHER_REPORTER, "/docs", depth="2")
        self.assertEqual(len(self.jobs), 3)
        transaction.begin()
        for job in self.jobs.active_jobs(testing.REPORTER):
            self.jobs.cancel(job.id, actor="admin")
        transaction.commit()
        self.submit(testing.REPORTER, "/docs", depth="2")
        self.assertEqual(len(self.jobs), 4)

    def test_waiting_jobs_per_user_are_capped(self):
        self.jobs.max_queued_per_user = 2
        transaction.commit()
        self.submit(testing.REPORTER, "/docs", depth="1")
        self.submit(testing.REPORTER, "/docs", depth="2")
        browser = self.browser(testing.REPORTER)
        browser.raiseHttpErrors = False
        browser.open(QUEUE_URL + "/manage_submitForm?report=object-inventory")
        browser.getControl(name="path").value = "/docs"
        browser.getControl(name="param.depth").value = "3"
        browser.getForm(action="manage_submitReport").submit()
        self.assertEqual(browser.headers["status"], "400 Bad Request")
        self.assertIn("You have 2 jobs waiting; wait for some to finish or cancel them.",
                      browser.contents)
        self.assertEqual(len(self.jobs), 2)
        self.submit(testing.OTHER_REPORTER, "/docs", depth="3")  # a cap per user
        self.assertEqual(len(self.jobs), 3)

    def test_cap_zero_is_no_limit(self):
        self.jobs.max_queued_per_user = 0
        transaction.commit()
        for depth in range(1, 4):
            self.submit(testing.REPORTER, "/docs", depth=str(depth))
        self.assertEqual(len(self.jobs), 3)

    def test_keep_and_unkeep_from_the_job_page(self):
        self.submit(testing.REPORTER, "/docs", depth="2")
        (job,), _ = self.jobs.list_jobs()
        browser = self.browser(testing.REPORTER)
        browser.open(f"{QUEUE_URL}/manage_job?job_id={job.id}")
        browser.getControl("Keep").click()
        self.assertIn(f"Job {job.id} is kept", browser.contents)
        transaction.begin()
        self.assertTrue(self.jobs.get(job.id).keep)
        browser.getControl("Don't keep").click()
        self.assertIn("no longer kept", browser.contents)
        transaction.begin()
        self.assertFalse(self.jobs.get(job.id).keep)

    def test_keep_of_another_users_job_is_refused(self):
        self.submit(testing.REPORTER, "/docs", depth="2")
        (job,), _ = self.jobs.list_jobs()
        newSecurityManager(None, self.app.acl_users.getUser(testing.OTHER_REPORTER))
        self.addCleanup(noSecurityManager)
        with self.assertRaises(Unauthorized):
            actions.keep_job(self.queue, job.id)


class ApiTests(ZMITestCase):
    def setUp(self):
        super().setUp()
        self.report = get_report("object-inventory")

    def enqueue(self, user=testing.REPORTER, **params):
        job_id = api.enqueue("object-inventory", "/docs", params, user=user, queue=self.queue)
        transaction.commit()
        return job_id

    def test_enqueue_returns_the_waiting_jobs_id(self):
        first = self.enqueue()
        self.assertEqual(self.enqueue(), first)
        self.assertEqual(len(self.jobs), 1)

    def test_enqueue_past_the_cap_raises(self):
        self.jobs.max_queued_per_user = 1
        self.enqueue()
        with self.assertRaises(TooManyJobs):
            api.enqueue("object-inventory", "/docs", {}, user=testing.REPORTER,
                        queue=self.queue, format="csv")

    def test_a_recent_result_is_reused_when_the_report_says_so(self):
        job_id = self.enqueue()
        transaction.begin()
        (claimed,) = self.jobs.claim("w")
        self.jobs.finish(job_id, claimed.lease_token, "/asyncreports/results/x")
        transaction.commit()
        self.assertNotEqual(self.enqueue(), job_id)  # reuse_minutes 0: a new run
        transaction.begin()
        for job in self.jobs.active_jobs(testing.REPORTER):
            self.jobs.cancel(job.id, actor="admin")
        transaction.commit()
        self.report.reuse_minutes = 10
        self.addCleanup(delattr, self.report, "reuse_minutes")
        self.assertEqual(self.enqueue(), job_id)
        params = self.jobs.get(job_id).params
        note = earlier_job(self.jobs, "object-inventory", testing.REPORTER, "/docs", params,
                           "pdf").note
        finished = time.strftime("%H:%M UTC", time.gmtime(self.jobs.get(job_id).finished))
        self.assertIn(f"a result from {finished} is reused", note)
        later = time.time() + 11 * 60
        self.assertIsNone(earlier_job(self.jobs, "object-inventory", testing.REPORTER, "/docs",
                                      params, "pdf", now=later))
