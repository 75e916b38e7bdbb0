"""The Plone eager fixture: a site's job runs as its transaction commits."""

import unittest

import transaction
from plone import api
from plone.app.testing import FunctionalTesting
from plone.app.testing import PloneSandboxLayer
from zope.component import provideUtility

from collective.asyncreports import api as reports_api
from collective.asyncreports import testing as base_testing
from collective.asyncreports.plone import testing
from collective.asyncreports.plone.queue import QUEUE_ID
from collective.asyncreports.rendering import Document
from collective.asyncreports.reports.base import ReportType
from collective.asyncreports.reports.interfaces import IReportType
from tests.processes import pdf_text


class SiteGreeting(ReportType):
    title = "Site greeting"

    def render(self, context, request, parameters):
        document = Document(self.title)
        document.paragraph(f"Hello from {api.portal.get().getId()}/{context.getId()}")
        return document


class AddonLayer(PloneSandboxLayer):
    """An add-on's own layer on the eager fixture, as docs/authors/testing.rst says to write it."""

    defaultBases = (testing.EAGER_FIXTURE,)

    def setUpZope(self, app, configurationContext):
        provideUtility(SiteGreeting(), IReportType, "site-greeting")


ADDON_FUNCTIONAL_TESTING = FunctionalTesting(
    bases=(AddonLayer(),), name="AsyncReportsPlone:EagerAddon")


class PloneEagerTests(unittest.TestCase):
    layer = testing.EAGER_FUNCTIONAL_TESTING

    def setUp(self):
        self.portal = self.layer["portal"]
        self.jobs = self.portal[QUEUE_ID].job_queue()

    def result_of(self, job_id):
        job = self.jobs.get(job_id)
        self.assertEqual(job.state, "done", job.error_message)
        return self.portal.unrestrictedTraverse(job.result_path)

    def test_an_editors_content_inventory_is_stored_private_to_the_editor(self):
        with api.env.adopt_user(username=testing.EDITOR):
            job_id = reports_api.enqueue("content-inventory", self.portal.docs)
            transaction.commit()
            self.assertEqual(reports_api.get_job(job_id)["state"], "done")
        result = self.result_of(job_id)
        self.assertEqual((result.portal_type, result.getOwner().getId()),
                         ("File", testing.EDITOR))
        viewers = [r["name"] for r in result.rolesOfPermission("View") if r["selected"]]
        self.assertNotIn("Anonymous", viewers)
        text = pdf_text(result.file.data)
        for title in ("Welcome page", "Staff handbook", "News archive", "Launch announced"):
            self.assertIn(title, text)
        for user_id, may_view in ((testing.EDITOR, True), (testing.OTHER_EDITOR, False),
                                  (testing.MEMBER, False)):
            self.assertEqual(api.user.has_permission("View", username=user_id, obj=result),
                             may_view, user_id)
        self.assertIs(api.portal.get(), self.portal)  # the test's site is still set

    def test_a_job_queued_with_generate_report_is_done_after_the_request(self):
        browser = base_testing.browser(self.layer["app"], testing.EDITOR)
        browser.open(f"{self.portal.absolute_url()}/docs/@@generate-report"
                     "?report=content-inventory")
        browser.getControl(name="form.buttons.queue").click()
        self.assertIn("is queued", browser.contents)
        (job,), _ = self.jobs.list_jobs()
        self.assertIn("Staff handbook", pdf_text(self.result_of(job.id).file.data))


class PloneAddonEagerTests(unittest.TestCase):
    layer = ADDON_FUNCTIONAL_TESTING

    def test_an_addons_report_runs_in_its_sandbox_layer_on_the_eager_fixture(self):
        portal = self.layer["portal"]
        with api.env.adopt_user(username=testing.EDITOR):
            job_id = reports_api.enqueue("site-greeting", portal.docs)
        transaction.commit()
        job = portal[QUEUE_ID].job_queue().get(job_id)
        self.assertEqual(job.state, "done", job.error_message)
        result = portal.unrestrictedTraverse(job.result_path)
        self.assertIn("Hello from plone/docs", pdf_text(result.file.data))
