"""Test layers: a Zope app with the product, a queue, a folder tree and users.

The ``EAGER_`` layers run each queued job as its transaction commits, through
the worker's own code (``eager.py``): an add-on's tests need no worker.
"""

from OFS.Folder import manage_addFolder
from OFS.Image import manage_addFile
from plone.testing import Layer
from plone.testing import zca
from plone.testing import zodb
from plone.testing import zope
from zope.component import provideHandler

from collective.asyncreports import eager
from collective.asyncreports.events import IJobQueued
from collective.asyncreports.permissions import QueueReport


QUEUE_ID = "asyncreports"
PASSWORD = "secret-password"
MANAGER = "manager"
REPORTER = "alice"  # may queue reports
OTHER_REPORTER = "carol"  # may queue reports too, but sees only her own
BYSTANDER = "bob"  # authenticated, no rights on the queue
REPORTER_ROLE = "Reporter"


def browser(app, user=None):
    """A zope.testbrowser on ``app`` that raises errors; as ``user`` (basic auth) if given."""
    browser = zope.Browser(app)
    browser.handleErrors = False
    if user:
        browser.addHeader("Authorization", f"Basic {user}:{PASSWORD}")
    return browser


def build_fixture(app):
    """Add users, a Reporter role, a queue and a small folder tree to ``app``."""
    from collective.asyncreports.zmi.queue import manage_addAsyncReportQueue

    app._addRole(REPORTER_ROLE)
    users = app.acl_users
    users._doAddUser(MANAGER, PASSWORD, ["Manager"], [])
    users._doAddUser(REPORTER, PASSWORD, [REPORTER_ROLE], [])
    users._doAddUser(OTHER_REPORTER, PASSWORD, [REPORTER_ROLE], [])
    users._doAddUser(BYSTANDER, PASSWORD, [], [])
    queue = manage_addAsyncReportQueue(app, QUEUE_ID, "Reports")
    queue.manage_permission(QueueReport, ["Manager", REPORTER_ROLE], acquire=0)
    # ZMI tabs need the ZMI itself: reporters get its screens on the queue only.
    queue.manage_permission("View management screens", ["Manager", REPORTER_ROLE], acquire=0)
    queue.server_url = "http://reports.example.com"
    queue.job_queue().backoff_seconds = 0
    manage_addFolder(app, "docs", "Documents")
    docs = app.docs
    manage_addFolder(docs, "minutes", "Meeting minutes")
    manage_addFile(docs, "agenda.txt", b"1. Welcome", "Agenda")
    manage_addFile(docs.minutes, "2026-01.txt", b"x" * 1234, "January minutes")
    return queue


class AsyncReportsLayer(Layer):
    """Loads the package's ZCML, installs the product and builds the fixture."""

    defaultBases = (zope.STARTUP,)

    def setUp(self):
        from zope.configuration import xmlconfig

        import collective.asyncreports

        self["zodbDB"] = zodb.stackDemoStorage(self.get("zodbDB"), name="AsyncReports")
        # A registry of its own: what the ZCML registers (with Plone installed,
        # the Plone part too) must not outlive the layer, or Plone layers set
        # up after it would have every subscriber twice.
        zca.pushGlobalRegistry()
        self["configurationContext"] = context = zca.stackConfigurationContext(
            self.get("configurationContext"))
        xmlconfig.file("configure.zcml", collective.asyncreports, context=context)
        with zope.zopeApp() as app:
            zope.installProduct(app, "collective.asyncreports")
            build_fixture(app)

    def tearDown(self):
        with zope.zopeApp() as app:
            zope.uninstallProduct(app, "collective.asyncreports")
        del self["configurationContext"]
        zca.popGlobalRegistry()
        self["zodbDB"].close()
        del self["zodbDB"]


FIXTURE = AsyncReportsLayer()
INTEGRATION_TESTING = zope.IntegrationTesting(
    bases=(FIXTURE,), name="AsyncReports:Integration")
FUNCTIONAL_TESTING = zope.FunctionalTesting(
    bases=(FIXTURE,), name="AsyncReports:Functional")


class EagerLayer(Layer):
    """Runs every queued job once its transaction commits (see ``eager.py``).

    Its subscriber lives in a global registry of its own, gone at tear-down.
    """

    defaultBases = (FIXTURE,)

    def setUp(self):
        zca.pushGlobalRegistry()
        provideHandler(eager.job_queued, (IJobQueued,))

    def tearDown(self):
        zca.popGlobalRegistry()


EAGER_FIXTURE = EagerLayer(name="AsyncReports:Eager")
# Integration layers never commit, so their jobs stay queued: use this one.
EAGER_FUNCTIONAL_TESTING = zope.FunctionalTesting(
    bases=(EAGER_FIXTURE,), name="AsyncReports:EagerFunctional")
