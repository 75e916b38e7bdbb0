"""Result formats end to end in-process: submitting PDF, CSV or XLSX in the ZMI
and in Plone, refusing formats a report does not offer, and the runner storing
each format with its name and MIME type, private like a PDF."""

import csv
import datetime
import io
import unittest

import openpyxl
import transaction
from zope.component import getGlobalSiteManager
from zope.component.hooks import setSite

from collective.asyncreports import errors
from collective.asyncreports import testing
from collective.asyncreports.plone import testing as plone_testing
from collective.asyncreports.plone.queue import QUEUE_ID
from collective.asyncreports.rendering import Document
from collective.asyncreports.rendering.exports import FORMATS
from collective.asyncreports.reports.base import ReportType
from collective.asyncreports.reports.interfaces import IReportType
from collective.asyncreports.worker import runner


QUEUE_URL = "http://nohost/asyncreports"
WORKER = "test-worker"
TINY_PDF = Document("own").to_pdf()


class OwnPdf(ReportType):
    """Makes its PDF itself: offers PDF only."""

    name = "own-pdf"
    title = "Own PDF"
    formats = ("pdf",)

    def render(self, context, request, parameters):
        return TINY_PDF


class UndeclaredPdf(ReportType):
    """Returns PDF bytes but forgot to say it offers PDF only."""

    name = "undeclared-pdf"
    title = "Undeclared PDF"

    def render(self, context, request, parameters):
        return TINY_PDF


def register(test, *reports):
    registry = getGlobalSiteManager()
    for report in reports:
        registry.registerUtility(report, IReportType, report.name)
        test.addCleanup(registry.unregisterUtility, report, IReportType, report.name)


def status(browser):
    return browser.headers["status"].split()[0]


def view_roles(result):
    return sorted(r["name"] for r in result.rolesOfPermission("View") if r["selected"])


class ZopeTestCase(unittest.TestCase):
    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.queue = self.app[testing.QUEUE_ID]
        self.jobs = self.queue.job_queue()
        self.runner = runner.JobRunner(self.layer["zodbDB"], step_backoff=0)
        register(self, OwnPdf(), UndeclaredPdf())


class ZMIFormatTests(ZopeTestCase):

    def browser(self, user=testing.REPORTER):
        return testing.browser(self.app, user)

    def form(self, report="object-inventory"):
        browser = self.browser()
        browser.open(f"{QUEUE_URL}/manage_submitForm?report={report}")
        return browser

    def test_the_submit_tab_offers_the_report_s_formats(self):
        control = self.form().getControl(name="format")
        self.assertEqual(control.options, ["pdf", "csv", "xlsx"])
        self.assertEqual(control.value, ["pdf"])
        self.assertEqual(self.form("own-pdf").getControl(name="format").options, ["pdf"])

    def test_each_format_is_queued(self):
        for name in ("pdf", "csv", "xlsx"):
            browser = self.form()
            browser.getControl(name="path").value = "/docs"
            browser.getControl(name="format").value = [name]
            browser.getForm(action="manage_submitReport").submit()
            self.assertIn("Queued job", browser.contents)
        transaction.begin()
        jobs, total = self.jobs.list_jobs()
        self.assertEqual(sorted(job.format for job in jobs), ["csv", "pdf", "xlsx"])
        self.assertEqual({job.as_dict()["format"] for job in jobs}, {"csv", "pdf", "xlsx"})

    def post(self, report, fmt):
        browser = self.form(report)
        browser.handleErrors = True
        browser.raiseHttpErrors = False
        form = browser.getForm(action="manage_submitReport")
        data = {control: form.getControl(name=control).value
                for control in ("_authenticator", "submission_id", "report", "path")}
        data.update(fmt)
        browser.post(f"{QUEUE_URL}/manage_submitReport", data)
        return browser

    def test_refused_formats_are_a_400_saying_why(self):
        for report, fmt, message in (
            ("own-pdf", {"format": "csv"}, "offers pdf only, not csv"),
            ("object-inventory", {"format": "docx"}, "there is no result format"),
            ("object-inventory", {"format:list": ["csv", "xlsx"]}, "not a list of values"),
            ("object-inventory", {"format": "x" * 50}, "too long"),
        ):
            page = self.post(report, fmt)
            self.assertEqual(status(page), "400", (report, fmt))
            self.assertIn(message, page.contents, (report, fmt))
        transaction.begin()
        self.assertEqual(len(self.jobs), 0)

    def test_no_format_sent_is_the_report_s_default(self):
        self.post("own-pdf", {})
        transaction.begin()
        (job,), _ = self.jobs.list_jobs()
        self.assertEqual(job.format, "pdf")


class RunnerFormatTests(ZopeTestCase):

    def run_job(self, fmt, report="object-inventory", params=None):
        if params is None:
            params = {"depth": 2, "max_items": 50}
        job = self.jobs.enqueue(report, "/docs", params,
                                owner_id=testing.REPORTER, queue_path="/asyncreports",
                                format=fmt)
        transaction.commit()
        (claimed,) = self.jobs.claim(WORKER)
        transaction.commit()
        outcome = self.runner.run("/asyncreports", job.id, claimed.lease_token)
        transaction.begin()
        return outcome, self.jobs.get(job.id)

    def result(self, job):
        return self.app.unrestrictedTraverse(job.result_path.lstrip("/"))

    def assert_private(self, result):
        self.assertEqual(result.getOwner().getId(), testing.REPORTER)
        self.assertEqual(result.get_local_roles_for_userid(testing.REPORTER), ("Owner",))
        self.assertEqual(view_roles(result), ["Manager", "Owner"])

    def test_csv_is_stored_with_its_name_and_type(self):
        outcome, job = self.run_job("csv")
        self.assertEqual(outcome, runner.DONE, job.error_message)
        result = self.result(job)
        self.assertRegex(result.getId(), rf"^{job.id}-object-inventory-\d{{8}}-\d{{6}}\.csv$")
        self.assertEqual(result.content_type, "text/csv")
        self.assert_private(result)
        data = bytes(result.data)
        self.assertTrue(data.startswith(b"\xef\xbb\xbf"))
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        self.assertEqual(rows[0], ["Id", "Meta type", "Title", "Last modified (UTC)", "Size"])
        by_id = {row[0]: row for row in rows[1:]}
        self.assertEqual(by_id["minutes/2026-01.txt"][4], "1234")
        self.assertEqual(by_id["minutes"][4], "")

    def test_listings_and_job_pages_name_the_result_by_its_format(self):
        _, job = self.run_job("xlsx")
        browser = testing.browser(self.app, testing.REPORTER)
        for page in (f"{QUEUE_URL}/manage_queue", f"{QUEUE_URL}/manage_job?job_id={job.id}"):
            browser.open(page)
            link = browser.getLink("XLSX")
            self.assertTrue(link.url.endswith(job.result_path), page)

    def test_xlsx_is_stored_with_typed_cells(self):
        outcome, job = self.run_job("xlsx")
        self.assertEqual(outcome, runner.DONE, job.error_message)
        result = self.result(job)
        self.assertTrue(result.getId().endswith(".xlsx"))
        self.assertEqual(result.content_type, FORMATS["xlsx"].content_type)
        self.assert_private(result)
        book = openpyxl.load_workbook(io.BytesIO(bytes(result.data)))
        self.assertEqual(book.sheetnames, ["Objects per meta type", "Objects"])
        sheet = book["Objects"]
        self.assertEqual(sheet.freeze_panes, "A2")
        rows = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
        self.assertEqual(rows["minutes/2026-01.txt"][4].value, 1234)
        self.assertIsInstance(rows["minutes/2026-01.txt"][3].value, datetime.datetime)

    def test_pdf_is_unchanged(self):
        outcome, job = self.run_job("pdf")
        self.assertEqual(outcome, runner.DONE)
        self.assertEqual(self.result(job).content_type, "application/pdf")
        self.assertTrue(job.result_path.endswith(".pdf"))

    def test_a_format_the_report_does_not_offer_fails_the_job(self):
        # A job forged in the database, past submit's checks.
        outcome, job = self.run_job("xlsx", report="own-pdf", params={})
        self.assertEqual((outcome, job.state), (runner.FAILED, "failed"))
        self.assertIn("offers pdf only, not xlsx", job.error_message)

    def test_pdf_bytes_for_a_spreadsheet_fail_with_a_clear_message(self):
        outcome, job = self.run_job("csv", report="undeclared-pdf", params={})
        self.assertEqual((outcome, job.state), (runner.FAILED, "failed"))
        self.assertIn("formats = ('pdf',)", job.error_message)
        outcome, job = self.run_job("pdf", report="undeclared-pdf", params={})
        self.assertEqual(outcome, runner.DONE)


class PloneFormatTests(unittest.TestCase):
    layer = plone_testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.portal = self.layer["portal"]
        self.portal_url = self.portal.absolute_url()
        self.queue = self.portal[QUEUE_ID]
        self.jobs = self.queue.job_queue()
        self.queue_path = "/".join(self.queue.getPhysicalPath())
        register(self, OwnPdf())

    def form(self, report="content-inventory"):
        browser = testing.browser(self.app, plone_testing.EDITOR)
        browser.open(f"{self.portal_url}/docs/@@generate-report?report={report}")
        return browser

    def test_generate_report_queues_each_format(self):
        control = self.form().getControl(name="form.widgets.format:list")
        self.assertEqual(control.options, ["pdf", "csv", "xlsx"])
        for name in ("pdf", "csv", "xlsx"):
            browser = self.form()
            browser.getControl(name="form.widgets.format:list").value = [name]
            browser.getControl(name="form.buttons.queue").click()
            self.assertIn("is queued", browser.contents)
        transaction.begin()
        jobs, _ = self.jobs.list_jobs()
        self.assertEqual(sorted(job.format for job in jobs), ["csv", "pdf", "xlsx"])

    def test_refused_formats_are_a_400(self):
        for report, fmt, message in (
            ("own-pdf", ["csv"], "offers pdf only, not csv"),
            ("content-inventory", ["docx"], "there is no result format"),
            ("content-inventory", ["csv", "xlsx"], "choose one format"),
        ):
            browser = self.form(report)
            browser.handleErrors = True
            browser.raiseHttpErrors = False
            form = browser.getForm(id="form")
            data = {"_authenticator": form.getControl(name="_authenticator").value,
                    "form.widgets.submission_id":
                        form.getControl(name="form.widgets.submission_id").value,
                    "form.widgets.format:list": fmt,
                    "form.buttons.queue": "Queue report"}
            browser.post(f"{self.portal_url}/docs/@@generate-report?report={report}", data)
            self.assertEqual(status(browser), "400", (report, fmt))
            self.assertIn(message, browser.contents, (report, fmt))
        transaction.begin()
        self.assertEqual(len(self.jobs), 0)

    def test_the_runner_stores_an_xlsx_file_private_to_its_owner(self):
        job = self.jobs.enqueue("content-inventory", "/plone/docs", {},
                                owner_id=plone_testing.EDITOR, owner_folder="/plone/acl_users",
                                queue_path=self.queue_path, format="xlsx")
        transaction.commit()
        (claimed,) = self.jobs.claim(WORKER)
        transaction.commit()
        outcome = runner.JobRunner(self.layer["zodbDB"], step_backoff=0).run(
            self.queue_path, job.id, claimed.lease_token)
        setSite(self.portal)
        transaction.begin()
        job = self.jobs.get(job.id)
        self.assertEqual(outcome, runner.DONE, job.error_message)
        result = self.app.unrestrictedTraverse(job.result_path.lstrip("/"))
        self.assertTrue(result.getId().endswith(".xlsx"))
        self.assertEqual(result.file.contentType, FORMATS["xlsx"].content_type)
        self.assertTrue(result.file.filename.endswith(".xlsx"))
        self.assertEqual(result.getOwner().getId(), plone_testing.EDITOR)
        self.assertEqual(view_roles(result), ["Manager", "Owner", "Site Administrator"])
        book = openpyxl.load_workbook(io.BytesIO(result.file.data))
        self.assertEqual(book.sheetnames, ["Items per type", "Items per review state",
                                           "Items per type and state", "Items"])


class APIFormatTests(unittest.TestCase):
    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        from AccessControl.SecurityManagement import newSecurityManager
        from AccessControl.SecurityManagement import noSecurityManager

        self.app = self.layer["app"]
        users = self.app.acl_users
        newSecurityManager(None, users.getUserById(testing.REPORTER).__of__(users))
        self.addCleanup(noSecurityManager)
        register(self, OwnPdf())

    def test_enqueue_takes_a_format(self):
        from collective.asyncreports import api

        job_id = api.enqueue("object-inventory", self.app.docs, {"depth": 2}, format="xlsx")
        self.assertEqual(api.get_job(job_id)["format"], "xlsx")
        self.assertEqual(api.get_job(api.enqueue("own-pdf", self.app.docs))["format"], "pdf")
        for report, fmt, message in (("own-pdf", "csv", "offers pdf only, not csv"),
                                     ("object-inventory", ["csv"], "not a list of values"),
                                     ("object-inventory", "odt", "no result format 'odt'")):
            with self.assertRaisesRegex(errors.InvalidJobRequest, message):
                api.enqueue(report, self.app.docs, format=fmt)
