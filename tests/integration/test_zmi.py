"""The ZMI queue through HTTP (zope.testbrowser): tabs, forms, permissions, CSRF."""

import re
import unittest

import transaction
from zope.component import getGlobalSiteManager

from collective.asyncreports import testing
from collective.asyncreports.csrf import ICSRFTokens
from collective.asyncreports.locations import queue_paths


QUEUE_URL = "http://nohost/asyncreports"


class ZMITestCase(unittest.TestCase):
    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.queue = self.app[testing.QUEUE_ID]
        self.jobs = self.queue.job_queue()

    def browser(self, user):
        return testing.browser(self.app, user)

    def submit(self, user, path="/docs", **params):
        browser = self.browser(user)
        browser.open(QUEUE_URL + "/manage_submitForm?report=object-inventory")
        browser.getControl(name="path").value = path
        for name, value in params.items():
            browser.getControl(name="param." + name).value = value
        browser.getForm(action="manage_submitReport").submit()
        return browser

    def post(self, user, method, **data):
        """POST to a queue method with the user's own CSRF token."""
        browser = self.browser(user)
        browser.open(QUEUE_URL + "/manage_queue")
        token = re.search(r'name="_authenticator" value="([0-9a-f]+)"', browser.contents)
        data.setdefault("_authenticator", token.group(1) if token else "")
        browser.post(f"{QUEUE_URL}/{method}", data)
        return browser


class SubmitTests(ZMITestCase):
    def test_reporter_queues_a_job_from_the_generated_form(self):
        browser = self.submit(testing.REPORTER, "/docs", depth="2")
        self.assertIn("manage_queue", browser.url)
        self.assertIn("Queued job", browser.contents)
        transaction.begin()
        jobs, total = self.jobs.list_jobs()
        self.assertEqual(total, 1)
        job = jobs[0]
        self.assertEqual(
            (job.report, job.path, job.owner_id), ("object-inventory", "/docs", "alice"))
        self.assertEqual(job.params["depth"], 2)
        self.assertEqual(job.owner_folder, "/acl_users")
        self.assertEqual(job.state, "queued")
        self.assertIn(job.id, browser.contents)

    def test_form_lists_schema_fields(self):
        browser = self.browser(testing.REPORTER)
        browser.open(QUEUE_URL + "/manage_submitForm")
        self.assertEqual(browser.getControl(name="param.depth").value, "1")
        self.assertIn("Object inventory", browser.contents)

    def test_bad_parameters_are_explained_and_nothing_is_queued(self):
        browser = self.browser(testing.REPORTER)
        browser.raiseHttpErrors = False
        browser.open(QUEUE_URL + "/manage_submitForm?report=object-inventory")
        browser.getControl(name="param.depth").value = "50"
        browser.getForm(action="manage_submitReport").submit()
        self.assertEqual(browser.headers["status"].split()[0], "400")
        self.assertIn("at most 10", browser.contents)
        self.assertEqual(len(self.jobs), 0)

    def test_paths_outside_or_missing_are_refused(self):
        for path, message in (
            ("/docs/../acl_users", "not allowed"),
            ("/nothing-here", "does not exist"),
            ("docs/_private", "not allowed"),
        ):
            browser = self.browser(testing.REPORTER)
            browser.raiseHttpErrors = False
            browser.open(QUEUE_URL + "/manage_submitForm?report=object-inventory")
            browser.getControl(name="path").value = path
            browser.getForm(action="manage_submitReport").submit()
            self.assertIn(message, browser.contents, path)
        self.assertEqual(len(self.jobs), 0)

    def test_double_submit_of_one_form_makes_one_job(self):
        browser = self.browser(testing.REPORTER)
        browser.open(QUEUE_URL + "/manage_submitForm")
        form = browser.getForm(action="manage_submitReport")
        data = {
            "_authenticator": form.getControl(name="_authenticator").value,
            "submission_id": form.getControl(name="submission_id").value,
            "report": "object-inventory",
            "path": "/docs",
            "param.depth": "1",
            "param.max_items": "10",
        }
        browser.post(QUEUE_URL + "/manage_submitReport", data)
        browser.post(QUEUE_URL + "/manage_submitReport", data)
        self.assertEqual(len(self.jobs), 1)


class PermissionTests(ZMITestCase):
    def test_bystander_is_refused_every_tab_and_action(self):
        from zExceptions import Unauthorized

        browser = self.browser(testing.BYSTANDER)
        for view in ("manage_queue", "manage_submitForm", "manage_workers",
                     "manage_settingsForm"):
            with self.assertRaises(Unauthorized, msg=view):
                browser.open(f"{QUEUE_URL}/{view}")
        with self.assertRaises(Unauthorized):
            browser.post(QUEUE_URL + "/manage_submitReport",
                         {"report": "object-inventory", "path": "/docs"})
        self.assertEqual(len(self.jobs), 0)

    def test_reporter_cannot_manage(self):
        from zExceptions import Unauthorized

        browser = self.browser(testing.REPORTER)
        for view in ("manage_workers", "manage_settingsForm"):
            with self.assertRaises(Unauthorized, msg=view):
                browser.open(f"{QUEUE_URL}/{view}")
        with self.assertRaises(Unauthorized):
            browser.post(QUEUE_URL + "/manage_retryJobs", {"job_ids:list": "x"})

    def test_state_changes_refuse_get(self):
        from zExceptions import Forbidden
        from zExceptions import NotFound

        browser = self.browser(testing.MANAGER)
        for method in ("manage_submitReport", "manage_cancelJobs", "manage_retryJobs",
                       "manage_purgeJobs", "manage_editSettings"):
            with self.assertRaises((Forbidden, NotFound), msg=method):
                browser.open(f"{QUEUE_URL}/{method}?report=object-inventory&path=/docs")
        self.assertEqual(len(self.jobs), 0)

    def test_post_without_csrf_token_is_forbidden(self):
        from zExceptions import Forbidden

        browser = self.browser(testing.MANAGER)
        with self.assertRaises(Forbidden):
            browser.post(QUEUE_URL + "/manage_submitReport",
                         {"report": "object-inventory", "path": "/docs"})
        with self.assertRaises(Forbidden):
            self.post(testing.MANAGER, "manage_editSettings", _authenticator="0" * 64,
                      lease_seconds="60")
        self.assertEqual(len(self.jobs), 0)

    def test_token_of_another_user_is_forbidden(self):
        from zExceptions import Forbidden

        browser = self.browser(testing.REPORTER)
        browser.open(QUEUE_URL + "/manage_submitForm")
        alice_token = browser.getControl(name="_authenticator").value
        with self.assertRaises(Forbidden):
            self.post(testing.MANAGER, "manage_submitReport", _authenticator=alice_token,
                      report="object-inventory", path="/docs")


class QueueTabTests(ZMITestCase):
    def setUp(self):
        super().setUp()
        self.submit(testing.REPORTER)
        self.submit(testing.OTHER_REPORTER)
        transaction.begin()
        self.alice_job = self.jobs.list_jobs(owner=testing.REPORTER)[0][0].id
        self.carol_job = self.jobs.list_jobs(owner=testing.OTHER_REPORTER)[0][0].id

    def test_reporters_see_only_their_own_jobs_managers_all(self):
        browser = self.browser(testing.REPORTER)
        browser.open(QUEUE_URL + "/manage_queue")
        self.assertIn(self.alice_job, browser.contents)
        self.assertNotIn(self.carol_job, browser.contents)
        browser = self.browser(testing.MANAGER)
        browser.open(QUEUE_URL + "/manage_queue")
        self.assertIn(self.alice_job, browser.contents)
        self.assertIn(self.carol_job, browser.contents)

    def test_state_filter(self):
        self.post(testing.MANAGER, "manage_cancelJobs", **{"job_ids:list": self.carol_job})
        browser = self.browser(testing.MANAGER)
        browser.open(QUEUE_URL + "/manage_queue?state=cancelled")
        self.assertIn(self.carol_job, browser.contents)
        self.assertNotIn(self.alice_job, browser.contents)

    def test_owner_cancels_own_job_but_not_anothers(self):
        from zExceptions import Unauthorized

        browser = self.post(testing.REPORTER, "manage_cancelJobs",
                            **{"job_ids:list": self.alice_job})
        self.assertIn("Cancelled 1 job(s)", browser.contents)
        with self.assertRaises(Unauthorized):
            self.post(testing.REPORTER, "manage_cancelJobs", **{"job_ids:list": self.carol_job})
        transaction.begin()
        self.assertEqual(self.jobs.get(self.alice_job).state, "cancelled")
        self.assertEqual(self.jobs.get(self.carol_job).state, "queued")

    def test_manager_retries_and_purges(self):
        self.post(testing.MANAGER, "manage_cancelJobs", **{"job_ids:list": self.carol_job})
        browser = self.post(testing.MANAGER, "manage_retryJobs", **{"job_ids:list": self.carol_job})
        self.assertIn("Requeued 1 job(s)", browser.contents)
        transaction.begin()
        self.assertEqual(self.jobs.get(self.carol_job).state, "queued")
        self.post(testing.MANAGER, "manage_cancelJobs", **{"job_ids:list": self.carol_job})
        browser = self.post(testing.MANAGER, "manage_purgeJobs", **{"job_ids:list": self.carol_job})
        self.assertIn("Purged 1 job(s)", browser.contents)
        transaction.begin()
        self.assertNotIn(self.carol_job, self.jobs)
        self.assertIn(self.alice_job, self.jobs)

    def test_unknown_job_is_reported_not_raised(self):
        browser = self.post(testing.REPORTER, "manage_cancelJobs", **{"job_ids:list": "nope"})
        self.assertIn("Cancelled 0 job(s)", browser.contents)
        self.assertIn("nope: no job with id", browser.contents)

    def test_helper_methods_are_not_published(self):
        from zExceptions import Forbidden
        from zExceptions import NotFound

        browser = self.browser(testing.MANAGER)
        for name in ("listing", "worker_rows", "settings", "submit_form", "authenticator"):
            with self.assertRaises((Forbidden, NotFound), msg=name):
                browser.open(f"{QUEUE_URL}/{name}")

    def test_invalid_transition_is_reported_not_raised(self):
        browser = self.post(testing.MANAGER, "manage_retryJobs", **{"job_ids:list": self.alice_job})
        self.assertIn("Requeued 0 job(s)", browser.contents)
        self.assertIn(self.alice_job, browser.contents)


class SettingsAndWorkersTests(ZMITestCase):
    def test_settings_are_validated_and_saved(self):
        browser = self.post(testing.MANAGER, "manage_editSettings", lease_seconds="5",
                            max_attempts="0", backoff_seconds="10", backoff_max="20",
                            retention_days="7", time_limit="60", server_url="ftp://x")
        self.assertIn("must be at least 10", browser.contents)
        self.assertIn("must be at least 1", browser.contents)
        self.assertIn("must be an http(s) URL", browser.contents)
        browser = self.post(testing.MANAGER, "manage_editSettings", lease_seconds="120",
                            max_attempts="5", backoff_seconds="10", backoff_max="20",
                            retention_days="7", time_limit="60",
                            server_url="https://intranet.example.org/")
        self.assertIn("Settings saved", browser.contents)
        transaction.begin()
        self.assertEqual((self.jobs.lease_seconds, self.jobs.max_attempts), (120, 5))
        self.assertEqual(self.jobs.time_limit, 60)
        self.assertEqual(self.queue.server_url, "https://intranet.example.org")
        self.assertEqual(browser.getControl(name="lease_seconds").value, "120")

    def test_workers_tab_shows_heartbeats(self):
        batch = [f"job{number}" for number in range(40)]
        self.jobs.heartbeat("host-a:123:abc", hostname="host-a", pid=123, current_jobs=batch)
        transaction.commit()
        browser = self.browser(testing.MANAGER)
        browser.open(QUEUE_URL + "/manage_workers")
        self.assertIn("host-a:123:abc", browser.contents)
        self.assertIn("alive", browser.contents)
        # A worker running a batch lists all its jobs; the tab shows a few.
        self.assertIn("job0, job1, job2 and 37 more", browser.contents)
        self.assertNotIn("job3", browser.contents)


class RegistryTests(ZMITestCase):
    def test_queue_paths_follow_add_rename_and_delete(self):
        from plone.testing.zope import login

        login(self.app.acl_users, testing.MANAGER)
        self.assertEqual(queue_paths(self.app._p_jar.root()), ["/asyncreports"])
        self.app.manage_renameObject("asyncreports", "reports2")
        self.assertEqual(queue_paths(self.app._p_jar.root()), ["/reports2"])
        self.app.manage_delObjects(["reports2"])
        self.assertEqual(queue_paths(self.app._p_jar.root()), [])

    def test_add_form_in_zmi(self):
        browser = self.browser(testing.MANAGER)
        browser.open("http://nohost/manage_addProduct/collective.asyncreports/"
                     "manage_addAsyncReportQueueForm")
        browser.getControl(name="id").value = "more"
        browser.getControl("Add").click()
        transaction.begin()
        self.assertEqual(self.app.more.meta_type, "Async Report Queue")
        self.assertIn("results", self.app.more.objectIds())
        self.assertIn("/more", queue_paths(self.app._p_jar.root()))

    def assert_forged_adds_are_refused(self):
        # A page elsewhere that posts to the add URL has neither the token
        # nor what it is checked against.
        browser = self.browser(testing.MANAGER)
        browser.handleErrors = True
        browser.raiseHttpErrors = False
        url = "http://nohost/manage_addProduct/collective.asyncreports/manage_addAsyncReportQueue"
        for data in ("id=forged", "id=forged&_authenticator=guessed"):
            browser.post(url, data)
            self.assertTrue(browser.headers["status"].startswith("403"), browser.headers["status"])
        transaction.begin()
        self.assertNotIn("forged", self.app.objectIds())
        return browser

    def test_adding_without_the_form_token_is_refused(self):
        self.assert_forged_adds_are_refused()  # plone.protect's tokens: Plone is installed

    def test_in_plain_zope_the_add_form_token_is_a_samesite_cookie(self):
        registry = getGlobalSiteManager()
        tokens = registry.queryUtility(ICSRFTokens)
        if tokens is not None:  # Plone's tokens (plone.protect): take them away for this test
            registry.unregisterUtility(tokens, ICSRFTokens)
            self.addCleanup(registry.registerUtility, tokens, ICSRFTokens)
        browser = self.assert_forged_adds_are_refused()
        browser.open("http://nohost/manage_addProduct/collective.asyncreports/"
                     "manage_addAsyncReportQueueForm")
        cookie = browser.headers["Set-Cookie"]
        self.assertIn("asyncreports_add_token=", cookie)
        self.assertIn("SameSite=Strict", cookie)
        self.assertIn("HttpOnly", cookie)
        browser.getControl(name="id").value = "plain"
        browser.getControl("Add").click()
        transaction.begin()
        self.assertEqual(self.app.plain.meta_type, "Async Report Queue")

    def test_adding_by_get_is_refused(self):
        browser = self.browser(testing.MANAGER)
        browser.handleErrors = True
        browser.raiseHttpErrors = False
        browser.open("http://nohost/manage_addProduct/collective.asyncreports/"
                     "manage_addAsyncReportQueue?id=sneaky")
        self.assertTrue(browser.headers["status"].startswith("403"), browser.headers["status"])
        transaction.begin()
        self.assertNotIn("sneaky", self.app.objectIds())



class PublicURLTests(ZMITestCase):
    def test_settings_warn_until_a_url_is_known_and_a_web_submit_records_it(self):
        self.queue.server_url = ""  # the layer sets one
        transaction.commit()
        browser = self.browser(testing.MANAGER)
        browser.open(QUEUE_URL + "/manage_settingsForm")
        self.assertIn("no public URL is known", browser.contents)
        self.submit(testing.REPORTER, "/docs")
        transaction.begin()
        self.assertEqual(self.queue.effective_server_url(), "http://nohost")
        browser.open(QUEUE_URL + "/manage_settingsForm")
        self.assertNotIn("no public URL is known", browser.contents)

    def test_the_server_url_setting_wins_over_the_url_last_served(self):
        self.submit(testing.REPORTER, "/docs")
        transaction.begin()
        self.queue.server_url = "https://reports.example.org/"
        transaction.commit()
        self.assertEqual(self.queue.effective_server_url(), "https://reports.example.org")
        self.assertEqual(self.queue.public_url("/docs"), "https://reports.example.org/docs")
