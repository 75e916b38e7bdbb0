"""Hostile input and the submitting request's transaction (issue scenarios 7, 12-15)."""

import unittest

import transaction
from AccessControl import ClassSecurityInfo
from AccessControl.class_init import InitializeClass
from OFS.Folder import manage_addFolder
from OFS.SimpleItem import SimpleItem
from plone.testing.zope import login
from plone.testing.zope import logout
from ZODB.POSException import ConflictError
from ZPublisher import zpublish

from collective.asyncreports import testing
from collective.asyncreports.errors import InvalidParameters
from collective.asyncreports.errors import InvalidPath
from collective.asyncreports.submission import submit
from collective.asyncreports.worker import runner
from collective.asyncreports.zmi.queue import manage_addAsyncReportQueue


class Submitter(SimpleItem):
    """A published method that queues a job, then fails in two ways."""

    security = ClassSecurityInfo()
    security.declareObjectPublic()
    calls = 0

    @zpublish(methods="POST")
    def submit_then_conflict(self, REQUEST):
        """Queue a job; the first call then meets a ConflictError (the publisher retries)."""
        Submitter.calls += 1
        job = submit(self.asyncreports, "object-inventory", "/docs", {})
        if Submitter.calls == 1:
            raise ConflictError("simulated conflict at the end of the request")
        return job.id

    @zpublish(methods="POST")
    def submit_then_fail(self, REQUEST):
        """Queue a job, then fail later in the same request."""
        submit(self.asyncreports, "object-inventory", "/docs", {})
        raise ValueError("something else in the request went wrong")


InitializeClass(Submitter)


class HostileTestCase(unittest.TestCase):
    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.queue = self.app[testing.QUEUE_ID]
        self.jobs = self.queue.job_queue()

    def browser(self, user=None):
        return testing.browser(self.app, user)


class RequestTransactionTests(HostileTestCase):
    """7. The job lives and dies with the submitting request's transaction."""

    def setUp(self):
        super().setUp()
        self.app._setObject("submitter", Submitter())
        Submitter.calls = 0
        transaction.commit()

    def test_conflict_retry_of_the_request_leaves_one_job(self):
        from ZPublisher.HTTPRequest import HTTPRequest

        # What Zope's start-up sets from zope.conf (max-conflict-retries 3).
        self.addCleanup(setattr, HTTPRequest, "retry_max_count", HTTPRequest.retry_max_count)
        HTTPRequest.retry_max_count = 3
        browser = self.browser(testing.REPORTER)
        browser.handleErrors = True  # the publisher's own error handling retries
        browser.post("http://nohost/submitter/submit_then_conflict", "")
        transaction.begin()
        self.assertEqual(Submitter.calls, 2, "the publisher retried the request")
        self.assertEqual(len(self.jobs), 1)
        self.assertEqual(self.jobs.list_jobs()[0][0].id, browser.contents)

    def test_request_failing_after_enqueue_leaves_no_job(self):
        browser = self.browser(testing.REPORTER)
        with self.assertRaises(ValueError):
            browser.post("http://nohost/submitter/submit_then_fail", "")
        transaction.begin()
        self.assertEqual(len(self.jobs), 0)


class HostilePathTests(HostileTestCase):
    """12. Paths that point outside, at private or acquired objects, or are no paths."""

    def setUp(self):
        super().setUp()
        # A queue serving /docs only: /acl_users and other folders lie outside.
        self.inner = manage_addAsyncReportQueue(self.app.docs, "reports")
        manage_addFolder(self.app, "othersite")
        login(self.app.acl_users, testing.MANAGER)
        self.addCleanup(logout)

    def refused(self, path, queue=None):
        with self.assertRaises(InvalidPath) as caught:
            submit(queue or self.inner, "object-inventory", path, {})
        return str(caught.exception)

    def test_hostile_paths_are_refused_with_a_reason(self):
        cases = {
            "../": "not allowed",
            "minutes/../../acl_users": "not allowed",
            "/acl_users": "outside this queue's site",
            "/othersite": "outside this queue's site",
            "/docs/_private": "not allowed",
            "/docs/aq_parent": "not allowed",
            "/docs/minutes/docs": "by acquisition",
            "/docs/minutes/acl_users": "by acquisition",
            "/docs/" + "x" * 10_000: "too long",
        }
        for path, reason in cases.items():
            self.assertIn(reason, self.refused(path), path)
        for not_a_path in (None, 42, ["docs"], {"path": "/docs"}, b"/docs"):
            self.assertIn("must be a string", self.refused(not_a_path), repr(not_a_path))
        self.assertEqual(len(self.inner.job_queue()), 0)

    def test_a_proper_path_inside_the_site_is_accepted(self):
        job = submit(self.inner, "object-inventory", "minutes", {})
        self.assertEqual(job.path, "/docs/minutes")


class HostileParameterTests(HostileTestCase):
    """13. Wrong types, ranges, marshalling tricks, huge strings, unknown keys."""

    def setUp(self):
        super().setUp()
        login(self.app.acl_users, testing.REPORTER)
        self.addCleanup(logout)

    def refused(self, params):
        with self.assertRaises(InvalidParameters) as caught:
            submit(self.queue, "object-inventory", "/docs", params)
        return str(caught.exception)

    def test_hostile_parameters_are_refused_at_submit(self):
        self.assertIn("whole number", self.refused({"depth": "two"}))
        self.assertIn("at most 10", self.refused({"depth": "11"}))
        self.assertIn("must be given as text", self.refused({"depth": ["1", "2"]}))
        self.assertIn("must be given as text", self.refused({"depth": {"x": "1"}}))
        self.assertIn("too long", self.refused({"depth": "1" * 20_000}))
        self.assertIn("unknown parameter", self.refused({"__class__": "x"}))
        self.assertEqual(len(self.jobs), 0)

    def test_form_marshalling_tricks_are_refused(self):
        browser = self.browser(testing.REPORTER)
        browser.raiseHttpErrors = False
        browser.open("http://nohost/asyncreports/manage_submitForm")
        token = browser.getControl(name="_authenticator").value
        for trick in ("param.depth:list=1&param.depth:list=2",
                      "param.depth.x:record=1",
                      "param.depth:int=3&param.other:tokens=a b"):
            browser.post("http://nohost/asyncreports/manage_submitReport",
                         f"_authenticator={token}&report=object-inventory&path=/docs&{trick}")
            self.assertTrue(browser.headers["status"].startswith("400"), trick)
        self.assertEqual(len(self.jobs), 0)


class ForgedJobTests(HostileTestCase):
    """12/13 again in the worker: a job written straight into the ZODB."""

    def run_forged(self, path="/docs", params=None, report="object-inventory"):
        job = self.jobs.enqueue(report, path, params or {}, owner_id=testing.REPORTER,
                                queue_path="/asyncreports")
        transaction.commit()
        (claimed,) = self.jobs.claim("w")
        transaction.commit()
        outcome = runner.JobRunner(self.layer["zodbDB"], step_backoff=0).run(
            "/asyncreports", job.id, claimed.lease_token)
        transaction.begin()
        self.assertEqual(outcome, runner.FAILED)
        job = self.jobs.get(job.id)
        self.assertIsNone(job.result_path)
        return job.error_message

    def test_forged_parameters_fail_in_the_worker(self):
        self.assertIn("at most 10", self.run_forged(params={"depth": 99}))
        self.assertIn("whole number", self.run_forged(params={"depth": "1"}))
        self.assertIn("unknown parameter", self.run_forged(params={"evil": 1}))
        self.assertIn("too long", self.run_forged(params={"depth": "1" * 20_000}))

    def test_forged_paths_fail_in_the_worker(self):
        self.assertIn("not allowed", self.run_forged(path="/docs/../acl_users"))
        self.assertIn("by acquisition", self.run_forged(path="/docs/minutes/docs"))
        self.assertIn("does not exist", self.run_forged(path="/nowhere"))

    def test_forged_report_the_owner_may_not_queue_fails(self):
        message = self.run_forged(report="wait-and-report", params={"seconds": 0})
        self.assertIn("no longer has the permission", message)


class GuessingTests(HostileTestCase):
    """14/15. Another user's results, and actions without the right permission."""

    def test_manage_actions_need_the_manage_permission(self):
        from zExceptions import Unauthorized

        login(self.app.acl_users, testing.REPORTER)
        job = submit(self.queue, "object-inventory", "/docs", {})
        transaction.commit()
        logout()
        browser = self.browser(testing.REPORTER)
        browser.open("http://nohost/asyncreports/manage_queue")
        token = browser.getControl(name="_authenticator").value
        for method in ("manage_retryJobs", "manage_purgeJobs", "manage_editSettings"):
            with self.assertRaises(Unauthorized, msg=method):
                browser.post(f"http://nohost/asyncreports/{method}",
                             f"_authenticator={token}&job_ids:list={job.id}")
        transaction.begin()
        self.assertIn(job.id, self.jobs)

    def test_another_users_result_is_refused(self):
        login(self.app.acl_users, testing.REPORTER)
        good = submit(self.queue, "object-inventory", "/docs", {})
        transaction.commit()
        logout()
        (claimed,) = self.jobs.claim("w")
        transaction.commit()
        runner.JobRunner(self.layer["zodbDB"]).run("/asyncreports", good.id,
                                                        claimed.lease_token)
        transaction.begin()
        url = "http://nohost" + self.jobs.get(good.id).result_path
        owner = self.browser(testing.REPORTER)
        owner.open(url)
        self.assertEqual(owner.headers["Content-Type"], "application/pdf")
        for intruder in (testing.OTHER_REPORTER, testing.BYSTANDER, None):
            browser = self.browser(intruder)
            browser.handleErrors = True
            browser.raiseHttpErrors = False
            browser.open(url)
            self.assertEqual(browser.headers["status"], "401 Unauthorized", intruder)
            self.assertNotEqual(browser.headers["Content-Type"], "application/pdf", intruder)
