"""What deactivating and activating the add-on again does (docs/admin/upgrades.rst).

The job list starts empty, the old results stay in the results folder, the settings come
back with their defaults; running the default profile again keeps the queue and its jobs.
"""

import unittest

from plone import api
from plone.app.testing import TEST_USER_ID
from plone.app.testing import setRoles
from plone.base.utils import get_installer

from collective.asyncreports.plone.queue import QUEUE_ID
from collective.asyncreports.plone.testing import INTEGRATION_TESTING


PACKAGE = "collective.asyncreports"
LEASE = "collective.asyncreports.lease_seconds"


class ReinstallTests(unittest.TestCase):
    layer = INTEGRATION_TESTING

    def setUp(self):
        self.portal = self.layer["portal"]
        self.installer = get_installer(self.portal, self.layer["request"])
        setRoles(self.portal, TEST_USER_ID, ["Manager"])
        queue = self.portal[QUEUE_ID]
        self.job = queue.job_queue().enqueue(
            "content-inventory", "/plone", {}, TEST_USER_ID, owner_folder="/plone/acl_users")
        self.result_path = queue.result_store().store_result(
            self.job, b"%PDF-1.4 kept", "report.pdf", "application/pdf",
            api.user.get(userid=TEST_USER_ID).getUser())
        api.portal.set_registry_record(LEASE, 77)

    def test_deactivate_and_activate_starts_an_empty_job_list_and_keeps_results(self):
        self.installer.uninstall_product(PACKAGE)
        self.installer.install_product(PACKAGE)
        queue = self.portal[QUEUE_ID]
        self.assertEqual(len(queue.job_queue()), 0)
        self.assertNotIn(self.job.id, queue.job_queue())
        result = self.portal.unrestrictedTraverse(self.result_path)
        self.assertEqual(result.file.data, b"%PDF-1.4 kept")
        self.assertEqual(api.portal.get_registry_record(LEASE), 300)

    def test_running_the_default_profile_again_keeps_the_queue_and_its_jobs(self):
        setup = api.portal.get_tool("portal_setup")
        setup.runAllImportStepsFromProfile(f"profile-{PACKAGE}:default")
        queue = self.portal[QUEUE_ID]
        self.assertIn(self.job.id, queue.job_queue())
        self.assertEqual(len(queue.job_queue()), 1)
        self.assertIsNotNone(self.portal.unrestrictedTraverse(self.result_path, None))
