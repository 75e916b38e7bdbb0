"""Privacy of results over real HTTP (issue 11, item 4).

- Listing a results folder, by any view or method, is for managers: others
  learn no result or error-log names from it, yet open their own results from
  their jobs' links.
- Error logs carry no server file system paths for their owner; managers
  read the full log.
"""

import os
import tempfile
import unittest

import transaction
import webtest
from plone.testing.zope import login
from plone.testing.zope import logout
from zope.component import getGlobalSiteManager
from zope.component.hooks import setSite

import collective.asyncreports
from collective.asyncreports import testing
from collective.asyncreports.plone import testing as plone_testing
from collective.asyncreports.plone.queue import QUEUE_ID
from collective.asyncreports.reports.base import ReportType
from collective.asyncreports.reports.interfaces import IReportType
from collective.asyncreports.results.errorlog import owner_text
from collective.asyncreports.submission import submit
from collective.asyncreports.worker import runner


PACKAGE_FILE = collective.asyncreports.__file__  # an absolute server path
# How its owner sees the missing file's path: relative to where Python imports from.
MISSING_FONT = "'collective/asyncreports/fonts/x.ttf'"


class FileMissing(ReportType):
    """Fails the way reports do when a server file is missing: its path in the message."""

    title = "File missing"

    def render(self, context, request, parameters):
        raise FileNotFoundError(2, "No such file or directory",
                                os.path.join(os.path.dirname(PACKAGE_FILE), "fonts", "x.ttf"))


# Every published way a ZMI folder tells the names of what it holds.
LISTING_URLS = (
    "", "/", "/manage_main", "/manage_workspace", "?manage_workspace", "/objectIds",
    "/objectValues", "/objectItems", "/tpValues", "/keys", "/values", "/items",
    "/getBatchObjectListing", "/manage_findForm", "/objectIds_d", "/superValues",
    "/manage_findResult?obj_ids:list=&search_sub:int=1", "/index_html", "/objectMap",
)


def register(test, report, name):
    registry = getGlobalSiteManager()
    registry.registerUtility(report, IReportType, name)
    test.addCleanup(registry.unregisterUtility, report, IReportType, name)


def assert_no_server_paths(test, text):
    """No absolute path of the package, the virtualenv or the checkout is in ``text``."""
    for root in (os.path.dirname(os.path.dirname(PACKAGE_FILE)), os.getcwd(),
                 os.path.dirname(os.__file__), __import__("sys").prefix):
        test.assertNotIn(root + "/", text, f"server path {root} shown")


class PrivacyCase(unittest.TestCase):
    def open(self, user, url, method="GET"):
        """(status code, body) of ``url`` as ``user``, with Zope's own error handling."""
        browser = testing.browser(self.layer["app"], user)
        browser.handleErrors = True
        browser.raiseHttpErrors = False
        if method == "GET":
            browser.open(url)
            body = browser.contents
            if isinstance(body, bytes):  # text/plain and other non-HTML answers
                body = body.decode("utf-8", "replace")
            return int(browser.headers["status"].split()[0]), body
        app = webtest.TestApp(browser.testapp.app)
        response = app.request(url, method=method, headers={
            "Authorization": f"Basic {user}:{testing.PASSWORD}", "Depth": "1"},
            expect_errors=True)
        return response.status_int, response.text


class ZMIPrivacyTests(PrivacyCase):
    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.queue = self.app[testing.QUEUE_ID]
        self.jobs = self.queue.job_queue()
        register(self, FileMissing(), "file-missing")
        self.alice_pdf = self.run_job(testing.REPORTER, "object-inventory")
        self.alice_error = self.run_job(testing.REPORTER, "file-missing")
        self.carol_pdf = self.run_job(testing.OTHER_REPORTER, "object-inventory")
        self.names = [path.rsplit("/", 1)[-1] for path in (
            self.alice_pdf.result_path, self.alice_error.error_path, self.carol_pdf.result_path)]

    def run_job(self, user, report):
        login(self.app.acl_users, user)
        job = submit(self.queue, report, "/docs", {})
        logout()
        transaction.commit()
        (claimed,) = self.jobs.claim("w")
        transaction.commit()
        runner.JobRunner(self.layer["zodbDB"], step_backoff=0).run(
            "/asyncreports", job.id, claimed.lease_token)
        transaction.begin()
        return self.jobs.get(job.id)

    def test_non_managers_cannot_list_the_results_folder_by_any_view(self):
        base = "http://nohost/asyncreports/results"
        for user in (testing.REPORTER, testing.OTHER_REPORTER, testing.BYSTANDER):
            for suffix in LISTING_URLS:
                status, body = self.open(user, base + suffix)
                self.assertIn(status, (401, 403, 404), (user, suffix, status))
                for name in self.names:
                    self.assertNotIn(name, body, (user, suffix))

    def test_webdav_propfind_lists_nothing_for_non_managers(self):
        for user in (testing.REPORTER, testing.OTHER_REPORTER):
            status, body = self.open(user, "http://nohost/asyncreports/results/", "PROPFIND")
            self.assertIn(status, (401, 403, 405), (user, status))
            for name in self.names:
                self.assertNotIn(name, body, user)

    def test_managers_list_the_results_folder(self):
        status, body = self.open(testing.MANAGER,
                                 "http://nohost/asyncreports/results/manage_main")
        self.assertEqual(status, 200)
        for name in self.names:
            self.assertIn(name, body)

    def test_owners_still_open_their_results_from_their_jobs(self):
        status, body = self.open(testing.REPORTER, "http://nohost/asyncreports/manage_queue")
        self.assertEqual(status, 200)
        self.assertIn(self.alice_pdf.result_path.rsplit("/", 1)[-1], body)
        status, _ = self.open(testing.REPORTER, "http://nohost" + self.alice_pdf.result_path)
        self.assertEqual(status, 200)
        status, _ = self.open(testing.REPORTER, "http://nohost" + self.alice_error.error_path)
        self.assertEqual(status, 200)
        status, _ = self.open(testing.OTHER_REPORTER,
                              "http://nohost" + self.alice_error.error_path)
        self.assertEqual(status, 401)

    def test_the_owner_reads_the_error_log_without_server_paths(self):
        url = "http://nohost" + self.alice_error.error_path
        for user in (testing.REPORTER, testing.MANAGER):
            status, text = self.open(user, url)
            self.assertEqual(status, 200)
            self.assertIn("Traceback", text)
            self.assertIn('File "collective/asyncreports/worker/runner.py"', text)
            self.assertIn(MISSING_FONT, text)
            assert_no_server_paths(self, text)
        # Nor through the ZMI's edit tab, which shows a text file's data.
        status, text = self.open(testing.REPORTER, url + "/manage_main")
        assert_no_server_paths(self, text)

    def test_the_queue_tab_shows_owners_the_error_message_without_server_paths(self):
        status, body = self.open(testing.REPORTER, "http://nohost/asyncreports/manage_queue")
        self.assertIn("FileNotFoundError", body)
        self.assertIn(MISSING_FONT, body)
        assert_no_server_paths(self, body)
        self.assertNotIn("manage_errorLog", body)

    def test_managers_read_the_full_error_log(self):
        status, body = self.open(testing.MANAGER, "http://nohost/asyncreports/manage_queue")
        self.assertIn("manage_errorLog?job_id=" + self.alice_error.id, body)
        self.assertIn(os.path.dirname(PACKAGE_FILE), body)  # the message, whole
        status, text = self.open(
            testing.MANAGER,
            f"http://nohost/asyncreports/manage_errorLog?job_id={self.alice_error.id}")
        self.assertEqual(status, 200)
        self.assertIn(os.path.dirname(PACKAGE_FILE), text)
        self.assertIn('File "/', text)
        for user in (testing.REPORTER, testing.OTHER_REPORTER):
            status, text = self.open(
                user, f"http://nohost/asyncreports/manage_errorLog?job_id={self.alice_error.id}")
            self.assertEqual(status, 401, user)
            self.assertNotIn("Traceback", text)
        status, _ = self.open(testing.MANAGER,
                              "http://nohost/asyncreports/manage_errorLog?job_id=nope")
        self.assertEqual(status, 404)


class TrimRuleTests(unittest.TestCase):
    def test_server_paths_become_import_relative_and_zodb_paths_stay(self):
        text = (f'  File "{PACKAGE_FILE}", line 1, in x\n'
                f'  File "{os.__file__}", line 2, in y\n'
                '  File "/srv/elsewhere/secret.py", line 3, in z\n'
                "ValueError: target path '/plone/docs' does not exist"
                f" (see {tempfile.gettempdir()}/zope/instance.log)\n")
        self.assertEqual(owner_text(text), (
            '  File "collective/asyncreports/__init__.py", line 1, in x\n'
            '  File "os.py", line 2, in y\n'
            '  File ".../secret.py", line 3, in z\n'
            "ValueError: target path '/plone/docs' does not exist"
            " (see .../instance.log)\n"))


class PlonePrivacyTests(PrivacyCase):
    layer = plone_testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.portal = self.layer["portal"]
        self.url = self.portal.absolute_url()
        self.queue = self.portal[QUEUE_ID]
        self.jobs = self.queue.job_queue()
        self.queue_path = "/".join(self.queue.getPhysicalPath())
        register(self, FileMissing(), "file-missing")
        self.editor_pdf = self.run_job(plone_testing.EDITOR, "content-inventory")
        self.editor_error = self.run_job(plone_testing.EDITOR, "file-missing")
        self.other_pdf = self.run_job(plone_testing.OTHER_EDITOR, "content-inventory")
        self.names = [path.rsplit("/", 1)[-1] for path in (
            self.editor_pdf.result_path, self.editor_error.error_path,
            self.other_pdf.result_path)]

    def run_job(self, user, report):
        job = self.jobs.enqueue(report, "/plone/docs", {}, owner_id=user,
                                owner_folder="/plone/acl_users", queue_path=self.queue_path)
        transaction.commit()
        (claimed,) = self.jobs.claim("w")
        transaction.commit()
        runner.JobRunner(self.layer["zodbDB"], step_backoff=0).run(
            self.queue_path, job.id, claimed.lease_token)
        setSite(self.portal)
        transaction.begin()
        return self.jobs.get(job.id)

    def test_editors_cannot_list_the_results_folder(self):
        base = f"{self.url}/reports"
        views = ("", "/folder_contents", "/@@folder_contents", "/listing_view",
                 "/tabular_view", "/summary_view", "/objectIds", "/objectValues",
                 "/contentValues", "/manage_main", "/@@fc-contextInfo")
        for user in (plone_testing.EDITOR, plone_testing.OTHER_EDITOR, plone_testing.MEMBER):
            for view in views:
                status, body = self.open(user, base + view)
                for name in self.names:
                    self.assertNotIn(name, body, (user, view, status))

    def test_the_editors_own_downloads_keep_working(self):
        status, _ = self.open(plone_testing.EDITOR,
                              f"http://nohost{self.editor_pdf.result_path}/@@download/file")
        self.assertEqual(status, 200)
        status, text = self.open(plone_testing.EDITOR,
                                 f"http://nohost{self.editor_error.error_path}/@@download/file")
        self.assertEqual(status, 200)
        self.assertIn('File "collective/asyncreports/worker/runner.py"', text)
        assert_no_server_paths(self, text)

    def test_site_administrators_list_the_folder_and_read_the_full_log(self):
        status, body = self.open(plone_testing.SITE_ADMIN, f"{self.url}/reports/folder_contents")
        self.assertEqual(status, 200)
        status, body = self.open(plone_testing.SITE_ADMIN, f"{self.url}/reports/tabular_view")
        for name in self.names:
            self.assertIn(name, body)
        status, text = self.open(
            plone_testing.SITE_ADMIN,
            f"{self.url}/@@asyncreports-error-log?job={self.editor_error.id}")
        self.assertEqual(status, 200)
        self.assertIn(os.path.dirname(PACKAGE_FILE), text)
        status, body = self.open(plone_testing.SITE_ADMIN, f"{self.url}/@@asyncreports-jobs")
        self.assertIn("@@asyncreports-error-log?job=" + self.editor_error.id, body)

    def test_my_reports_shows_the_editor_no_server_paths(self):
        status, body = self.open(plone_testing.EDITOR, f"{self.url}/@@my-reports")
        self.assertEqual(status, 200)
        self.assertIn(MISSING_FONT, body)
        assert_no_server_paths(self, body)
        status, body = self.open(plone_testing.EDITOR,
                                 f"{self.url}/@@asyncreports-status?ids={self.editor_error.id}")
        self.assertIn(MISSING_FONT, body)
        assert_no_server_paths(self, body)
        status, body = self.open(plone_testing.EDITOR,
                                 f"{self.url}/@@asyncreports-error-log?job={self.editor_error.id}")
        self.assertNotIn("Traceback", body)  # a login or insufficient-privileges page
        assert_no_server_paths(self, body)
