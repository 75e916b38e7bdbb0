"""The built-in reports' richer documents, run by the real JobRunner: charts,
totals, links, outline, metadata and page header in the PDF (pypdf) and XLSX
(openpyxl); the Object inventory offered in a Plone site to its managers only."""

import io
import unittest

import openpyxl
import pypdf
import transaction
from AccessControl.SecurityManagement import newSecurityManager
from AccessControl.SecurityManagement import noSecurityManager
from PIL import Image
from plone import api
from plone.app.testing import TEST_USER_ID
from plone.app.testing import setRoles
from plone.formwidget.namedfile.converter import b64encode_file
from zope.component.hooks import setSite

from collective.asyncreports import testing
from collective.asyncreports.errors import InvalidJobRequest
from collective.asyncreports.plone import testing as plone_testing
from collective.asyncreports.plone.queue import QUEUE_ID
from collective.asyncreports.reports.registry import queueable_report_types
from collective.asyncreports.worker import runner


WORKER = "test-worker"


def outline_titles(pdf, entries=None, depth=0):
    found = []
    for entry in pdf.outline if entries is None else entries:
        if isinstance(entry, list):
            found.extend(outline_titles(pdf, entry, depth + 1))
        else:
            found.append((depth, entry.title))
    return found


def link_targets(pdf):
    return [annotation.get_object()["/A"]["/URI"]
            for page in pdf.pages for annotation in page.get("/Annots") or []
            if "/URI" in (annotation.get_object().get("/A") or {})]


def text_of(pdf):
    return "\n".join(page.extract_text() for page in pdf.pages)


def images_on(page):
    objects = page["/Resources"].get("/XObject") or {}
    return [name for name in objects if objects[name].get_object()["/Subtype"] == "/Image"]


def run(layer, jobs, queue_path, report, path, owner, owner_folder, fmt="pdf", params=None):
    """Queue, claim and run one job with the real JobRunner; return (outcome, job)."""
    job = jobs.enqueue(report, path, params or {}, owner_id=owner, owner_folder=owner_folder,
                       queue_path=queue_path, format=fmt)
    transaction.commit()
    (claimed,) = jobs.claim(WORKER)
    transaction.commit()
    outcome = runner.JobRunner(layer["zodbDB"], step_backoff=0).run(
        queue_path, job.id, claimed.lease_token)
    transaction.begin()
    return outcome, jobs.get(job.id)


class ZopeObjectInventoryTests(unittest.TestCase):
    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.queue = self.app[testing.QUEUE_ID]
        self.jobs = self.queue.job_queue()

    def result(self, fmt):
        outcome, job = run(self.layer, self.jobs, "/asyncreports", "object-inventory", "/docs",
                           testing.REPORTER, "/acl_users", fmt, {"depth": 2, "max_items": 50})
        self.assertEqual(outcome, runner.DONE, job.error_message)
        return bytes(self.app.unrestrictedTraverse(job.result_path.lstrip("/")).data)

    def test_counts_and_sizes_per_meta_type_with_totals_chart_outline_and_metadata(self):
        pdf = pypdf.PdfReader(io.BytesIO(self.result("pdf")))
        text = text_of(pdf)
        # docs: the folder minutes, agenda.txt (10 bytes), minutes/2026-01.txt (1234).
        self.assertIn("Objects per meta type", text)
        self.assertIn("File\n2\n1244", text)
        self.assertIn("Folder\n1\n", text)
        self.assertIn("Total\n3\n1244", text)
        self.assertEqual(outline_titles(pdf), [(0, "Objects per meta type"), (0, "Objects")])
        self.assertEqual(pdf.metadata.title, "Object inventory")
        self.assertEqual(pdf.metadata.author, testing.REPORTER)
        # The page header in plain Zope: the queue's title.
        self.assertTrue(pdf.pages[0].extract_text().rstrip().endswith("Reports"))

    def test_xlsx_summary_has_a_bold_totals_row_of_numbers(self):
        book = openpyxl.load_workbook(io.BytesIO(self.result("xlsx")))
        sheet = book["Objects per meta type"]
        last = list(sheet[sheet.max_row])
        self.assertEqual([cell.value for cell in last], ["Total", 3, 1244])
        self.assertTrue(all(cell.font.b for cell in last))
        self.assertEqual(book.properties.creator, testing.REPORTER)

    def test_a_reporter_may_queue_it_in_plain_zope(self):
        users = self.app.acl_users
        newSecurityManager(None, users.getUserById(testing.REPORTER).__of__(users))
        self.addCleanup(noSecurityManager)
        names = [name for name, _ in queueable_report_types(self.queue, self.app.docs)]
        self.assertIn("object-inventory", names)


def png():
    output = io.BytesIO()
    Image.new("RGB", (60, 20), (20, 90, 160)).save(output, "PNG")
    return output.getvalue()


class PloneReportsTests(unittest.TestCase):
    layer = plone_testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.portal = self.layer["portal"]
        setSite(self.portal)
        self.queue = self.portal[QUEUE_ID]
        self.jobs = self.queue.job_queue()
        self.queue_path = "/".join(self.queue.getPhysicalPath())
        # The public URL stands for the site root (virtual hosting).
        self.docs_url = plone_testing.SERVER_URL + "/docs"

    def manager(self):
        setRoles(self.portal, TEST_USER_ID, ["Manager"])
        transaction.commit()
        return TEST_USER_ID

    def result(self, report="content-inventory", fmt="pdf", owner=plone_testing.EDITOR,
               params=None):
        outcome, job = run(self.layer, self.jobs, self.queue_path, report, "/plone/docs",
                           owner, "/plone/acl_users", fmt, params)
        setSite(self.portal)
        self.assertEqual(outcome, runner.DONE, job.error_message)
        return self.app.unrestrictedTraverse(job.result_path.lstrip("/")).file.data

    def test_content_inventory_pdf(self):
        api.user.get(plone_testing.EDITOR).setMemberProperties({"fullname": "Edith Editor"})
        api.portal.set_registry_record("plone.site_logo", b64encode_file("logo.png", png()))
        transaction.commit()
        pdf = pypdf.PdfReader(io.BytesIO(self.result()))
        text = text_of(pdf)
        self.assertEqual(pdf.metadata.title, "Content inventory: Documents")
        self.assertEqual(pdf.metadata.author, "Edith Editor")
        self.assertEqual(pdf.metadata.subject, "Content below /plone/docs")
        self.assertEqual([title for _, title in outline_titles(pdf)], [
            "Items per type", "Items per review state", "Items per type and state", "Items"])
        # Charts (labels and values drawn as text) and counts tables with totals.
        # (This layer's catalog has no review states: they show as "-".)
        for shown in ("Document\n2", "Folder\n2", "News Item\n1", "Total\n5",
                      "-: 5 (100%)"):
            self.assertIn(shown, text)
        self.assertEqual(text.count("Total\n5"), 3)
        # Titles link to the items, at the public URL the synthetic request has.
        targets = link_targets(pdf)
        for path in ("", "/welcome", "/handbook", "/news", "/news/launch"):
            self.assertIn(self.docs_url + path, targets)
        # The header: the site's title and logo, on every page.
        for page in pdf.pages:
            self.assertIn("Plone site", page.extract_text())
            self.assertEqual(len(images_on(page)), 1)

    def test_content_inventory_xlsx_has_date_cells_hyperlinks_and_totals(self):
        book = openpyxl.load_workbook(io.BytesIO(self.result(fmt="xlsx")))
        self.assertEqual(book.sheetnames, ["Items per type", "Items per review state",
                                           "Items per type and state", "Items"])
        items = book["Items"]
        self.assertEqual([cell.value for cell in items[1]],
                         ["Title", "Path", "Modified (UTC)", "Creator"])
        welcome = next(row for row in items.iter_rows(min_row=2)
                       if row[1].value == "/plone/docs/welcome")
        self.assertEqual(welcome[0].value, "Welcome page")
        self.assertEqual(welcome[0].hyperlink.target, self.docs_url + "/welcome")
        self.assertTrue(welcome[2].is_date)
        self.assertEqual(welcome[2].number_format, "yyyy-mm-dd hh:mm:ss")
        per_type = book["Items per type"]
        last = list(per_type[per_type.max_row])
        self.assertEqual([cell.value for cell in last], ["Total", 5])
        self.assertTrue(all(cell.font.b for cell in last))

    def test_folder_summary_links_titles_and_shows_dates(self):
        pdf = pypdf.PdfReader(io.BytesIO(self.result(report="folder-summary")))
        self.assertIn(self.docs_url + "/handbook", link_targets(pdf))
        self.assertRegex(text_of(pdf), r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")

    def test_object_inventory_is_offered_to_managers_only(self):
        def names(user_id):
            with api.env.adopt_user(user=api.user.get(userid=user_id)):
                return [name for name, _ in queueable_report_types(self.queue,
                                                                    self.portal.docs)]

        self.assertNotIn("object-inventory", names(plone_testing.EDITOR))
        self.assertIn("content-inventory", names(plone_testing.EDITOR))
        # A Site Administrator has no "Manage portal" in Plone.
        self.assertNotIn("object-inventory", names(plone_testing.SITE_ADMIN))
        self.assertIn("object-inventory", names(self.manager()))
        browser = testing.browser(self.app, plone_testing.EDITOR)
        browser.open(self.portal.absolute_url() + "/docs/@@generate-report")
        self.assertIn("Content inventory", browser.contents)
        self.assertNotIn("Object inventory", browser.contents)

    def test_an_editor_s_submission_is_refused_saying_why(self):
        from collective.asyncreports import api as reports_api

        with self.assertRaisesRegex(InvalidJobRequest,
                                    "not available for '/plone/docs': in a Plone site "
                                    ".*for those who may manage the site only"):
            reports_api.enqueue("object-inventory", self.portal.docs,
                                user=plone_testing.EDITOR)
        manager = self.manager()
        job_id = reports_api.enqueue("object-inventory", self.portal.docs, user=manager)
        self.assertEqual(self.jobs.get(job_id).owner_id, manager)

    def test_a_manager_s_object_inventory_runs(self):
        pdf = pypdf.PdfReader(io.BytesIO(self.result(
            report="object-inventory", owner=self.manager(),
            params={"depth": 1, "max_items": 50})))
        self.assertIn("Objects per meta type", text_of(pdf))

    def test_a_site_logo_that_is_no_image_does_not_fail_the_report(self):
        api.portal.set_registry_record(
            "plone.site_logo", b64encode_file("logo.svg", b"<svg xmlns='x'/>"))
        transaction.commit()
        pdf = pypdf.PdfReader(io.BytesIO(self.result()))
        self.assertIn("Plone site", pdf.pages[0].extract_text())
        self.assertEqual(images_on(pdf.pages[0]), [])
