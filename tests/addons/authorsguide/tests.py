"""The add-on's own tests, under the eager fixture: no worker process.

Progress and cancel need a worker's heartbeat: tests/system/test_authors_guide.py.

The test runner finds it as ``tests.addons.authorsguide.tests``.
"""

import csv
import importlib
import io
import unittest

import openpyxl
import pypdf
import transaction
from plone.testing import Layer
from plone.testing import zca
from plone.testing import zope
from zope.configuration import xmlconfig

from collective.asyncreports import api
from collective.asyncreports.testing import EAGER_FIXTURE
from collective.asyncreports.testing import QUEUE_ID
from collective.asyncreports.testing import REPORTER


class AuthorsGuideLayer(Layer):
    """The add-on's ZCML (its report type and subscriber) on top of eager jobs."""

    defaultBases = (EAGER_FIXTURE,)

    def setUp(self):
        # The add-on's package: ``authorsguide`` in a worker (on PYTHONPATH),
        # ``tests.addons.authorsguide`` where the test runner finds this module.
        package = importlib.import_module(__package__)

        zca.pushGlobalRegistry()
        self["configurationContext"] = context = zca.stackConfigurationContext(
            self.get("configurationContext"))
        xmlconfig.file("configure.zcml", package, context=context)

    def tearDown(self):
        del self["configurationContext"]
        zca.popGlobalRegistry()


AUTHORS_GUIDE_FIXTURE = AuthorsGuideLayer()
AUTHORS_GUIDE_FUNCTIONAL_TESTING = zope.FunctionalTesting(
    bases=(AUTHORS_GUIDE_FIXTURE,), name="AuthorsGuide:Functional")


class OrdersByRegionTests(unittest.TestCase):
    layer = AUTHORS_GUIDE_FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        zope.login(self.app["acl_users"], REPORTER)

    def run_report(self, format, regions=4):
        job_id = api.enqueue("orders-by-region", self.app.docs, {"regions": regions},
                             format=format)
        transaction.commit()  # the job runs now, as a worker would run it
        job = api.get_job(job_id)
        self.assertEqual(job["state"], "done", job["error_message"])
        result = self.app.unrestrictedTraverse(job["result_path"])
        return job, result

    def test_the_pdf_has_the_table_its_totals_links_and_charts(self):
        job, result = self.run_report("pdf")
        self.assertEqual(result.content_type, "application/pdf")
        pdf = pypdf.PdfReader(io.BytesIO(bytes(result.data)))
        text = "\n".join(page.extract_text() for page in pdf.pages)
        for expected in ("Orders by region", "North", "West", "Total", "100", "12505",
                         "Orders per region", "Revenue per region"):
            self.assertIn(expected, text)
        self.assertEqual(pdf.metadata.title, "Orders by region")
        self.assertEqual(pdf.metadata.author, REPORTER)
        self.assertEqual(pdf.metadata.subject, "Orders per region")
        self.assertEqual([entry.title for entry in pdf.outline[:1]], ["Orders"])
        links = [annotation.get_object()["/A"]["/URI"]
                 for page in pdf.pages for annotation in page.get("/Annots", ())]
        self.assertIn("https://example.com/regions/1", links)
        self.assertIn("https://example.com/regions", links)

    def test_the_csv_is_the_table_for_excel(self):
        job, result = self.run_report("csv", regions=2)
        self.assertEqual(result.getId()[-4:], ".csv")
        data = bytes(result.data)
        self.assertTrue(data.startswith(b"\xef\xbb\xbf"), "UTF-8 with a byte order mark")
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        self.assertEqual(rows, [["Region", "Orders", "Revenue", "Last order"],
                                ["North", "10", "1250.5", "2026-01-01"],
                                ["South", "20", "2501.0", "2026-01-02"]])

    def test_the_xlsx_has_typed_cells_links_and_bold_totals(self):
        job, result = self.run_report("xlsx", regions=3)
        self.assertEqual(result.getId()[-5:], ".xlsx")
        book = openpyxl.load_workbook(io.BytesIO(bytes(result.data)))
        sheet = book.worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
        self.assertEqual(rows[0], ("Region", "Orders", "Revenue", "Last order"))
        self.assertEqual(rows[1][:3], ("North", 10, 1250.5))
        self.assertEqual(rows[1][3].date().isoformat(), "2026-01-01")
        self.assertEqual(rows[-1][:3], ("Total", 60, 7503.0))
        self.assertTrue(sheet.cell(row=len(rows), column=2).font.b)
        self.assertTrue(sheet["A1"].font.b)
        self.assertEqual(sheet.freeze_panes, "A2")
        self.assertEqual(sheet["A2"].hyperlink.target, "https://example.com/regions/1")

    def test_the_subscriber_logs_every_finished_report(self):
        first, _ = self.run_report("pdf", regions=1)
        second, result = self.run_report("csv", regions=1)
        self.assertEqual(self.app[QUEUE_ID].authorsguide_log[-2:],
                         ((first["id"], first["result_path"].rsplit("/", 1)[-1]),
                          (second["id"], result.getId())))
