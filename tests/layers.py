"""The process layers of the system and browser tests, in one place.

Each starts real processes (a database server, a Zope WSGI instance; the browser
layer also headless Chromium), all on 127.0.0.1, and stops them by PID.
Workers are started by the tests themselves. The database server is ZEO, or
PostgreSQL for RelStorage with ``STORAGE=postgresql`` (tests.processes); where
that cannot run, the layers start nothing and their tests skip with the reason
(``SystemLayerTestCase``).
"""

import shutil
import tempfile
import textwrap
import unittest
from pathlib import Path

from OFS.Folder import manage_addFolder
from OFS.Image import manage_addFile

from collective.asyncreports.dev.bootstrap import plone_installed
from collective.asyncreports.permissions import QueueReport
from tests.browser import chromium
from tests.processes import ADDONS
from tests.processes import STORAGE
from tests.processes import discard
from tests.processes import queue_in
from tests.processes import started_instance
from tests.processes import storage_unavailable


def unavailable_storage(layer):
    """Why ``layer`` cannot start its storage here (printed once), or None."""
    reason = storage_unavailable()
    if reason:
        print(f"\n  {layer.__name__} skips its tests on {STORAGE}: {reason}", flush=True)
    return reason


class SystemLayerTestCase(unittest.TestCase):
    """A test of one of these layers: skips when its layer could not start."""

    def setUp(self):
        reason = getattr(self.layer, "unavailable", None)
        if reason:
            self.skipTest(reason)


# -- the ZMI system of tests/system/test_end_to_end.py -----------------------

PASSWORD = "e2e-password"

BROKEN_REPORT = '''
"""A third-party report type whose code fails, to test error logs."""

from collective.asyncreports.reports.base import ReportType


class BrokenReport(ReportType):
    name = "broken"
    title = "Broken report"

    def render(self, context, request, parameters):
        raise RuntimeError("the report code broke on purpose")
'''

BROKEN_ZCML = """
<configure xmlns="http://namespaces.zope.org/zope">
  <utility
      name="broken"
      factory=".BrokenReport"
      provides="collective.asyncreports.reports.interfaces.IReportType"
      />
</configure>
"""


class RunningSystemLayer:
    """A zope.testrunner layer: one database server and one Zope instance, stopped by PID."""

    unavailable = instance = None

    @classmethod
    def setUp(cls):
        cls.unavailable = unavailable_storage(cls)
        if cls.unavailable:
            return
        cls.home = Path(tempfile.mkdtemp(prefix="asyncreports-e2e-"))
        addon = cls.home / "addons" / "brokenreport"
        addon.mkdir(parents=True)
        (addon / "__init__.py").write_text(textwrap.dedent(BROKEN_REPORT))
        (addon / "configure.zcml").write_text(BROKEN_ZCML)
        cls.instance = started_instance(
            cls.home, ["--password", PASSWORD], prepare=build_site,
            extra_packages=["brokenreport"], env={"PYTHONPATH": str(cls.home / "addons")})

    @classmethod
    def tearDown(cls):
        if cls.instance is not None:
            discard(cls.instance)
            cls.instance = None


def build_site(app):
    """Users, a Reporter role and content."""
    app._addRole("Reporter")
    for user_id, roles in (("alice", ["Reporter"]), ("carol", ["Reporter"]), ("bob", [])):
        app.acl_users._doAddUser(user_id, PASSWORD, roles, [])
    queue = app.asyncreports
    queue.manage_permission(QueueReport, ["Manager", "Reporter"], acquire=0)
    queue.manage_permission("View management screens", ["Manager", "Reporter"], acquire=0)
    manage_addFolder(app, "docs", "Documents")
    manage_addFile(app.docs, "agenda.txt", b"1. Welcome", "Agenda")
    manage_addFolder(app.docs, "minutes", "Meeting minutes")
    manage_addFile(app.docs.minutes, "2026-01.txt", b"x" * 1234, "January minutes")
    manage_addFolder(app, "secret", "Not for reporters")
    app.secret.manage_permission("View", ["Manager"], acquire=0)



# -- a Plone site, for tests/system/test_plone_end_to_end.py ----------------

class PloneSystemLayer:
    """Database server, Zope with /Plone (add-on installed, demo folder, editor), by PID."""

    unavailable = instance = None

    @classmethod
    def setUp(cls):
        cls.unavailable = unavailable_storage(cls)
        if cls.unavailable:
            return
        home = Path(tempfile.mkdtemp(prefix="asyncreports-plone-e2e-"))
        cls.instance = started_instance(
            home, ["--password", "admin-password", "--plone"], prepare=add_member)

    @classmethod
    def tearDown(cls):
        if cls.instance is not None:
            discard(cls.instance)
            cls.instance = None


def add_member(app):
    """A plain Member of the site."""
    users = app.Plone.acl_users
    users.source_users.addUser("member", "member", "member-password")
    users.portal_role_manager.assignRoleToPrincipal("Member", "member")



# -- the live site of the real-browser tests (tests/browser/) ---------------

ADMIN_PASSWORD = "admin-password"
MEMBER, MEMBER_PASSWORD = "member", "member-password"
SITE_MANAGER, SITE_MANAGER_PASSWORD = "siteadmin", "siteadmin-password"
PLONE_QUEUE = "/Plone/portal_asyncreports"
ZMI_QUEUE_ID = "reports"

def build_browser_site(app):
    """Content for the ZMI report; a plain member and a Manager in Plone."""
    manage_addFolder(app, "docs", "Documents")
    manage_addFile(app.docs, "agenda.txt", b"1. Welcome", "Agenda")
    manage_addFolder(app.docs, "minutes", "Meeting minutes")
    manage_addFile(app.docs.minutes, "2026-01.txt", b"x" * 1234, "January minutes")
    if "Plone" in app.objectIds():
        users = app.Plone.acl_users
        for user_id, password, role in ((MEMBER, MEMBER_PASSWORD, "Member"),
                                        (SITE_MANAGER, SITE_MANAGER_PASSWORD, "Manager")):
            users.source_users.addUser(user_id, user_id, password)
            users.portal_role_manager.assignRoleToPrincipal(role, user_id)


class LiveSiteLayer:
    """Chromium, then the database + Zope (ZMI queue, Plone site, users and content), by PID."""

    unavailable = None
    playwright = browser = instance = db = home = None

    @classmethod
    def setUp(cls):
        try:
            cls.playwright, cls.browser = chromium.launch()
        except chromium.Unavailable as exc:
            # No servers either: every test of this layer skips with the reason.
            cls.unavailable = str(exc)
            return
        cls.home = Path(tempfile.mkdtemp(prefix="asyncreports-browser-"))
        plone = ["--plone"] if plone_installed() else []
        try:
            # progressreport: a report that moves its progress bar (tests/addons/).
            cls.instance = started_instance(
                cls.home, ["--password", ADMIN_PASSWORD, *plone], prepare=build_browser_site,
                extra_packages=["progressreport"], env={"PYTHONPATH": str(ADDONS)})
            cls.db = cls.instance.open_db()
        except BaseException:
            cls.tearDown()
            raise
        # The bootstrap installs Plone's theme and themes 127.0.0.1 too.
        cls.url = cls.instance.url

    @classmethod
    def tearDown(cls):
        if cls.browser is not None:
            cls.browser.close()
            cls.playwright.stop()
            cls.browser = cls.playwright = None
        if cls.db is not None:
            cls.db.close()
            cls.db = None
        if cls.instance is not None:
            discard(cls.instance)
            cls.instance = None
        if cls.home is not None:
            shutil.rmtree(cls.home, ignore_errors=True)
            cls.home = None

    @classmethod
    def job_state(cls, queue_path, job_id):
        """The job's state as committed in the database, read over a connection of ours."""
        with queue_in(cls.db, queue_path) as queue:
            return queue.job_queue().get(job_id).state
