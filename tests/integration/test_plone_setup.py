"""Installing, uninstalling, reinstalling and upgrading the add-on in a Plone site."""

import unittest

from plone import api
from plone.app.testing import TEST_USER_ID
from plone.app.testing import setRoles
from plone.base.interfaces import INonInstallable
from plone.base.utils import get_installer
from plone.browserlayer.utils import registered_layers
from zope.component import getAllUtilitiesRegisteredFor
from zope.component.hooks import setSite

from collective.asyncreports.locations import queue_paths
from collective.asyncreports.plone.interfaces import IAsyncReportsLayer
from collective.asyncreports.plone.queue import QUEUE_ID
from collective.asyncreports.plone.queue import PloneReportQueue
from collective.asyncreports.plone.testing import INTEGRATION_TESTING
from collective.asyncreports.reports.registry import report_types


PACKAGE = "collective.asyncreports"
PREFIX = "collective.asyncreports."


def role_names(portal, permission):
    return sorted(r["name"] for r in portal.rolesOfPermission(permission) if r["selected"])


class InstallTests(unittest.TestCase):
    layer = INTEGRATION_TESTING

    def setUp(self):
        self.portal = self.layer["portal"]
        self.installer = get_installer(self.portal, self.layer["request"])
        setRoles(self.portal, TEST_USER_ID, ["Manager"])

    def test_installed(self):
        self.assertTrue(self.installer.is_product_installed(PACKAGE))
        self.assertIn(IAsyncReportsLayer, registered_layers())

    def test_queue_object_is_registered(self):
        queue = self.portal[QUEUE_ID]
        self.assertIsInstance(queue, PloneReportQueue)
        self.assertEqual(queue.meta_type, "Plone Async Report Queue")
        self.assertIn("/plone/" + QUEUE_ID, queue_paths(self.portal._p_jar.root()))
        # not content: not in the catalog
        self.assertEqual(
            len(api.content.find(path="/plone/" + QUEUE_ID)), 0)

    def test_results_folder_is_private_and_not_in_navigation(self):
        reports = self.portal["reports"]
        self.assertEqual(reports.portal_type, "Folder")
        self.assertTrue(reports.exclude_from_nav)
        self.assertEqual(api.content.get_state(reports), "private")

    def test_rolemap(self):
        self.assertEqual(
            role_names(self.portal, "collective.asyncreports: Queue report"),
            ["Contributor", "Editor", "Manager", "Site Administrator"])
        self.assertEqual(
            role_names(self.portal, "collective.asyncreports: Manage queue"),
            ["Manager", "Site Administrator"])

    def test_registry_records_and_sync_to_the_job_queue(self):
        self.assertEqual(api.portal.get_registry_record(PREFIX + "lease_seconds"), 300)
        self.assertEqual(api.portal.get_registry_record(PREFIX + "results_folder"), "/reports")
        api.portal.set_registry_record(PREFIX + "lease_seconds", 77)
        api.portal.set_registry_record(PREFIX + "max_attempts", 5)
        jobs = self.portal[QUEUE_ID].job_queue()
        self.assertEqual((jobs.lease_seconds, jobs.max_attempts), (77, 5))

    def test_plone_reports_are_local_to_the_site(self):
        names = [name for name, _ in report_types()]
        self.assertIn("content-inventory", names)
        self.assertIn("folder-summary", names)
        setSite(None)
        try:
            names = [name for name, _ in report_types()]
        finally:
            setSite(self.portal)
        self.assertNotIn("content-inventory", names)

    def test_configlet(self):
        ids = [a.getId() for a in api.portal.get_tool("portal_controlpanel").listActions()]
        self.assertIn("asyncreports", ids)

    def test_generate_report_action(self):
        actions = api.portal.get_tool("portal_actions")
        self.assertIn("asyncreports_generate", actions.object_buttons.objectIds())

    def test_uninstall_profile_is_hidden(self):
        hidden = []
        for utility in getAllUtilitiesRegisteredFor(INonInstallable):
            hidden.extend(utility.getNonInstallableProfiles())
        self.assertIn(PACKAGE + ":uninstall", hidden)

    def test_profile_version_1003_installs_plone_restapi(self):
        setup = api.portal.get_tool("portal_setup")
        profile = PACKAGE + ":default"
        self.assertEqual(setup.getLastVersionForProfile(profile), ("1003",))
        self.assertEqual(setup.listUpgrades(profile), [])
        self.assertNotEqual(setup.getLastVersionForProfile("plone.restapi:default"), "unknown")
        self.assertIn("jwt_auth", self.portal.acl_users.objectIds())

    def test_upgrade_from_1000_applies_plone_restapi_profile(self):
        setup = api.portal.get_tool("portal_setup")
        profile = PACKAGE + ":default"
        setup.unsetLastVersionForProfile("plone.restapi:default")
        self.portal.acl_users.manage_delObjects(["jwt_auth"])
        setup.setLastVersionForProfile(profile, "1000")
        step = setup.listUpgrades(profile)[0]
        self.assertEqual(step["title"], "Install plone.restapi")
        setup.upgradeProfile(profile)
        self.assertEqual(setup.getLastVersionForProfile(profile), ("1003",))
        self.assertIn("jwt_auth", self.portal.acl_users.objectIds())

    def test_upgrade_from_1001_adds_the_notification_records(self):
        registry = api.portal.get_tool("portal_registry")
        name = "collective.asyncreports.attach_limit_mb"
        api.portal.set_registry_record("collective.asyncreports.lease_seconds", 77)
        del registry.records[name]
        setup = api.portal.get_tool("portal_setup")
        profile = PACKAGE + ":default"
        setup.setLastVersionForProfile(profile, "1001")
        step = setup.listUpgrades(profile)[0]
        self.assertEqual(step["title"], "Notification settings and View metrics")
        setup.upgradeProfile(profile)
        self.assertEqual(api.portal.get_registry_record(name), 0)
        self.assertEqual(
            api.portal.get_registry_record("collective.asyncreports.lease_seconds"), 77)


class UninstallTests(unittest.TestCase):
    layer = INTEGRATION_TESTING

    def setUp(self):
        self.portal = self.layer["portal"]
        self.installer = get_installer(self.portal, self.layer["request"])
        setRoles(self.portal, TEST_USER_ID, ["Manager"])
        self.installer.uninstall_product(PACKAGE)

    def test_uninstalled(self):
        self.assertFalse(self.installer.is_product_installed(PACKAGE))
        self.assertNotIn(IAsyncReportsLayer, registered_layers())
        self.assertNotIn(QUEUE_ID, self.portal.objectIds())
        self.assertNotIn("/plone/" + QUEUE_ID, queue_paths(self.portal._p_jar.root()))
        registry = api.portal.get_tool("portal_registry")
        self.assertFalse([k for k in registry.records.keys() if k.startswith(PREFIX)])
        ids = [a.getId() for a in api.portal.get_tool("portal_controlpanel").listActions()]
        self.assertNotIn("asyncreports", ids)
        actions = api.portal.get_tool("portal_actions")
        self.assertNotIn("asyncreports_generate", actions.object_buttons.objectIds())

    def test_reports_are_unregistered(self):
        self.assertNotIn("content-inventory", [name for name, _ in report_types()])

    def test_results_are_kept(self):
        self.assertIn("reports", self.portal.objectIds())

    def test_reinstall(self):
        self.installer.install_product(PACKAGE)
        self.assertTrue(self.installer.is_product_installed(PACKAGE))
        self.assertIsInstance(self.portal[QUEUE_ID], PloneReportQueue)
        self.assertIn(IAsyncReportsLayer, registered_layers())
        self.assertEqual(api.portal.get_registry_record(PREFIX + "results_folder"), "/reports")
