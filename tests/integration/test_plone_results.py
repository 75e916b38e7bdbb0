"""The runner in a Plone site: results as private File content, run as the submitter."""

import unittest

import transaction
from plone import api
from plone.app.testing import logout
from Testing.makerequest import makerequest
from zExceptions import Unauthorized
from zope.component import getGlobalSiteManager
from zope.component.hooks import setSite

from collective.asyncreports import public_url
from collective.asyncreports import testing as base_testing
from collective.asyncreports.plone import testing
from collective.asyncreports.plone.queue import QUEUE_ID
from collective.asyncreports.reports.base import ReportType
from collective.asyncreports.reports.interfaces import IReportType
from collective.asyncreports.worker import runner
from tests.processes import pdf_text


WORKER = "plone-test-worker"


class BrokenReport(ReportType):
    title = "Broken"

    def render(self, context, request, parameters):
        raise ValueError("bad data in row 7")


BIG = 50 * 1024 * 1024


class BigReport(ReportType):
    """A 50 MB "PDF", to see how a large result travels to its blob."""

    title = "Big"

    def render(self, context, request, parameters):
        return b"%PDF-1.4\n" + bytes(BIG)


class PloneRunnerTests(unittest.TestCase):
    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.portal = self.layer["portal"]
        self.queue = self.portal[QUEUE_ID]
        self.jobs = self.queue.job_queue()
        self.queue_path = "/".join(self.queue.getPhysicalPath())
        self.runner = runner.JobRunner(self.layer["zodbDB"], step_backoff=0)

    def enqueue(self, report="content-inventory", owner=testing.EDITOR, path="/plone/docs",
                params=None):
        job = self.jobs.enqueue(
            report, path, params or {}, owner_id=owner,
            owner_folder="/plone/acl_users", queue_path=self.queue_path)
        transaction.commit()
        return job.id

    def run_job(self, job_id):
        (job,) = self.jobs.claim(WORKER)
        transaction.commit()
        self.assertEqual(job.id, job_id)
        outcome = self.runner.run(self.queue_path, job_id, job.lease_token)
        setSite(self.portal)  # the runner leaves no site behind
        transaction.begin()
        return outcome, self.jobs.get(job_id)

    def stored(self, path):
        return self.app.unrestrictedTraverse(path.lstrip("/"))

    def test_a_job_queued_through_a_local_role_runs_and_fails_once_the_role_is_gone(self):
        news = self.portal.docs.news
        news.manage_setLocalRoles(testing.MEMBER, ["Editor"])
        transaction.commit()
        outcome, job = self.run_job(self.enqueue(owner=testing.MEMBER, path="/plone/docs/news"))
        self.assertEqual((outcome, job.state), (runner.DONE, "done"), job.error_message)
        news.manage_delLocalRoles([testing.MEMBER])
        transaction.commit()
        outcome, job = self.run_job(self.enqueue(owner=testing.MEMBER, path="/plone/docs/news"))
        self.assertEqual((outcome, job.state), (runner.FAILED, "failed"))
        self.assertIn("no longer has the permission", job.error_message)

    def test_content_inventory_is_a_private_file_owned_by_the_submitter(self):
        outcome, job = self.run_job(self.enqueue())
        self.assertEqual((outcome, job.state), (runner.DONE, "done"))
        result = self.stored(job.result_path)
        self.assertEqual(result.portal_type, "File")
        self.assertEqual(result.aq_parent.getId(), "reports")
        self.assertEqual(result.file.contentType, "application/pdf")
        self.assertEqual(result.Creator(), testing.EDITOR)
        self.assertEqual(result.getOwner().getId(), testing.EDITOR)
        self.assertEqual(result.get_local_roles_for_userid(testing.EDITOR), ("Owner",))
        self.assertIn("Content inventory", result.Title())
        self.assertIsNotNone(result.created())
        text = pdf_text(result.file.data)
        for title in ("Welcome page", "Staff handbook", "News archive", "Launch announced"):
            self.assertIn(title, text)
        self.assertIn("Document", text)
        # absolute_url() inside the PDF is the configured public site URL.
        self.assertIn("https://reports.example.org", text)

    def test_only_owner_and_managers_find_the_result_in_the_catalog(self):
        outcome, job = self.run_job(self.enqueue())
        catalog = api.portal.get_tool("portal_catalog")

        def found(user_id):
            with api.env.adopt_user(username=user_id):
                return [b.getPath() for b in catalog(portal_type="File")]

        self.assertEqual(found(testing.EDITOR), [job.result_path])
        self.assertEqual(found(testing.SITE_ADMIN), [job.result_path])
        self.assertEqual(found(testing.OTHER_EDITOR), [])
        self.assertEqual(found(testing.MEMBER), [])
        logout()
        self.assertEqual([b.getPath() for b in catalog(portal_type="File")], [])

    def test_others_get_unauthorized_on_direct_urls(self):
        outcome, job = self.run_job(self.enqueue())
        url = self.app.REQUEST.physicalPathToURL(job.result_path)
        for user_id in (testing.OTHER_EDITOR, testing.MEMBER, None):
            with self.assertRaises(Unauthorized, msg=user_id):
                base_testing.browser(self.app, user_id).open(url + "/@@download/file")
        owner = base_testing.browser(self.app, testing.EDITOR)
        owner.open(url + "/@@download/file")
        self.assertEqual(owner.headers["Content-Type"], "application/pdf")
        self.assertTrue(owner.contents.startswith(b"%PDF"))

    def test_folder_summary_lists_the_items_in_folder_order(self):
        outcome, job = self.run_job(self.enqueue(report="folder-summary"))
        self.assertEqual(outcome, runner.DONE)
        text = pdf_text(self.stored(job.result_path).file.data)
        self.assertIn("Folder summary: Documents", text)
        self.assertLess(text.index("Welcome page"), text.index("Staff handbook"))
        self.assertNotIn("Launch announced", text)  # not directly in the folder

    def test_report_error_is_a_text_file_for_the_owner(self):
        broken = BrokenReport()
        getGlobalSiteManager().registerUtility(broken, IReportType, "broken")
        self.addCleanup(getGlobalSiteManager().unregisterUtility, broken, IReportType, "broken")
        job_id = self.enqueue(report="broken")
        outcome, job = self.run_job(job_id)
        self.assertEqual((outcome, job.state), (runner.FAILED, "failed"))
        log = self.stored(job.error_path)
        self.assertEqual(log.portal_type, "File")
        self.assertTrue(log.file.contentType.startswith("text/plain"))
        self.assertIn("ValueError: bad data in row 7", log.file.data.decode())
        self.assertEqual(log.getOwner().getId(), testing.EDITOR)

    def test_deleted_user_fails_with_a_manager_only_log(self):
        job_id = self.enqueue(owner=testing.OTHER_EDITOR)
        self.portal.acl_users.userFolderDelUsers([testing.OTHER_EDITOR])
        transaction.commit()
        outcome, job = self.run_job(job_id)
        self.assertEqual(job.state, "failed")
        self.assertIn("no longer exists", job.error_message)
        log = self.stored(job.error_path)
        roles = sorted(r["name"] for r in log.rolesOfPermission("View") if r["selected"])
        self.assertEqual(roles, ["Manager", "Site Administrator"])

    def test_user_stripped_of_the_permission_gets_no_result(self):
        job_id = self.enqueue(path="/plone")
        self.portal.acl_users.portal_role_manager.assignRolesToPrincipal(
            ["Member"], testing.EDITOR)
        transaction.commit()
        outcome, job = self.run_job(job_id)
        self.assertEqual(job.state, "failed")
        self.assertIn("Queue report", job.error_message)
        self.assertIsNone(job.result_path)

    def test_purge_deletes_the_file(self):
        outcome, job = self.run_job(self.enqueue())
        self.assertIsNotNone(self.stored(job.result_path))
        self.queue.purge(job_ids=[job.id])
        self.assertIsNone(self.app.unrestrictedTraverse(job.result_path.lstrip("/"), None))

    def test_prepare_request_makes_the_site_the_virtual_root(self):
        request = makerequest(self.app).REQUEST
        api.portal.set_registry_record(
            "collective.asyncreports.server_url", "https://www.example.org/intranet")
        self.queue.prepare_request(request)
        docs = self.app.unrestrictedTraverse("plone/docs")
        self.assertEqual(
            request.physicalPathToURL(docs.getPhysicalPath()),
            "https://www.example.org/intranet/docs")

    def test_server_url_defaults_to_the_site_url_seen_when_queueing(self):
        api.portal.get_tool("portal_registry")["collective.asyncreports.server_url"] = None
        self.queue.server_url = ""
        self.assertEqual(self.queue.effective_server_url(), self.portal.absolute_url())
        public_url.remember_served_url(self.queue, "http://intranet.example.org/")
        self.assertEqual(self.queue.effective_server_url(), "http://intranet.example.org")

    def test_a_50_mb_pdf_is_a_blob_and_memory_stays_under_three_times_its_size(self):
        """18. The commit succeeds; the worker's allocations peak below 3x the file."""
        import tracemalloc

        from plone.namedfile.file import NamedBlobFile

        registry = getGlobalSiteManager()
        registry.registerUtility(BigReport(), IReportType, "big")
        self.addCleanup(registry.unregisterUtility, provided=IReportType, name="big")
        job_id = self.enqueue(report="big")
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            outcome, job = self.run_job(job_id)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        self.assertEqual((outcome, job.state), (runner.DONE, "done"))
        result = self.stored(job.result_path)
        self.assertIsInstance(result.file, NamedBlobFile)
        self.assertEqual(result.file.getSize(), BIG + 9)
        with result.file.open() as blob:
            self.assertEqual(blob.read(9), b"%PDF-1.4\n")
        self.assertGreater(peak, BIG, "the report's own bytes are measured")
        self.assertLess(peak, 3 * BIG, f"peak {peak / 2**20:.0f} MB")
