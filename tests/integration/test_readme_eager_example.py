"""An add-on's report, tested with the eager fixture: no worker process."""

import io
import unittest

import pypdf
import transaction
from plone.testing import Layer
from plone.testing import zca
from plone.testing import zope
from zope.component import provideUtility

from collective.asyncreports import api
from collective.asyncreports.rendering import Document
from collective.asyncreports.reports.base import ReportType
from collective.asyncreports.reports.interfaces import IReportType
from collective.asyncreports.testing import EAGER_FIXTURE
from collective.asyncreports.testing import REPORTER


class Greeting(ReportType):
    title = "Greeting"

    def render(self, context, request, parameters):
        document = Document(self.title)
        document.paragraph(f"Hello from {context.getId()}")
        return document


class GreetingLayer(Layer):
    """The add-on's layer: its report types (usually its ZCML) on top of eager jobs."""

    defaultBases = (EAGER_FIXTURE,)

    def setUp(self):
        zca.pushGlobalRegistry()
        provideUtility(Greeting(), IReportType, "greeting")

    def tearDown(self):
        zca.popGlobalRegistry()


GREETING_FIXTURE = GreetingLayer()
GREETING_FUNCTIONAL_TESTING = zope.FunctionalTesting(
    bases=(GREETING_FIXTURE,), name="Greeting:Functional")


class GreetingTests(unittest.TestCase):
    layer = GREETING_FUNCTIONAL_TESTING

    def test_the_greeting_names_its_folder(self):
        app = self.layer["app"]
        zope.login(app["acl_users"], REPORTER)  # a user who may queue reports
        job_id = api.enqueue("greeting", app.docs)
        transaction.commit()  # the job runs now, as a worker would run it

        job = api.get_job(job_id)
        self.assertEqual(job["state"], "done", job["error_message"])
        result = app.unrestrictedTraverse(job["result_path"])
        pdf = pypdf.PdfReader(io.BytesIO(bytes(result.data)))
        self.assertIn("Hello from docs", pdf.pages[0].extract_text())
