"""Plone test layers: a site with the add-on installed, users and some content."""

from plone import api
from plone.app.testing import PLONE_FIXTURE
from plone.app.testing import FunctionalTesting
from plone.app.testing import IntegrationTesting
from plone.app.testing import PloneSandboxLayer
from plone.app.testing import applyProfile
from plone.testing import zope
from zope.component import provideHandler

from collective.asyncreports import eager
from collective.asyncreports.events import IJobQueued
from collective.asyncreports.testing import PASSWORD


EDITOR = "editor"  # may queue reports
OTHER_EDITOR = "olivia"  # may queue too, must not see the editor's results
MEMBER = "mark"  # an ordinary member: may not queue
SITE_ADMIN = "sam"  # Site Administrator: manages the queue
SERVER_URL = "https://reports.example.org"


def build_content(portal):
    """Add users and a small tree: /docs with pages and a news folder."""
    with api.env.adopt_roles(["Manager"]):
        for user_id, roles in (
            (EDITOR, ["Member", "Editor"]),
            (OTHER_EDITOR, ["Member", "Editor"]),
            (MEMBER, ["Member"]),
            (SITE_ADMIN, ["Member", "Site Administrator"]),
        ):
            portal.acl_users.userFolderAddUser(user_id, PASSWORD, roles, [])
            api.user.get(user_id).setMemberProperties({"email": f"{user_id}@example.org"})
        docs = api.content.create(portal, "Folder", id="docs", title="Documents")
        api.content.create(docs, "Document", id="welcome", title="Welcome page")
        api.content.create(docs, "Document", id="handbook", title="Staff handbook")
        news = api.content.create(docs, "Folder", id="news", title="News archive")
        api.content.create(news, "News Item", id="launch", title="Launch announced")
        api.content.transition(docs.welcome, "publish")


class AsyncReportsPloneLayer(PloneSandboxLayer):
    """PLONE_FIXTURE plus this package's ZCML, its profile, users and content."""

    defaultBases = (PLONE_FIXTURE,)

    def setUpZope(self, app, configurationContext):
        import collective.asyncreports

        self.loadZCML(package=collective.asyncreports)
        zope.installProduct(app, "collective.asyncreports")

    def setUpPloneSite(self, portal):
        # PLONE_FIXTURE has no workflow; a real site has this one.
        portal.portal_workflow.setDefaultChain("simple_publication_workflow")
        applyProfile(portal, "collective.asyncreports:default")
        api.portal.set_registry_record("collective.asyncreports.server_url", SERVER_URL)
        api.portal.set_registry_record("collective.asyncreports.backoff_seconds", 0)
        build_content(portal)

    def tearDownZope(self, app):
        zope.uninstallProduct(app, "collective.asyncreports")


FIXTURE = AsyncReportsPloneLayer()
INTEGRATION_TESTING = IntegrationTesting(
    bases=(FIXTURE,), name="AsyncReportsPlone:Integration")
FUNCTIONAL_TESTING = FunctionalTesting(
    bases=(FIXTURE,), name="AsyncReportsPlone:Functional")


class EagerPloneLayer(PloneSandboxLayer):
    """Runs every queued job once its transaction commits (see ``eager.py``).

    A sandbox layer, so that the site's own component registry, which events
    in the site are looked up in, is based on the registry with the subscriber.
    """

    defaultBases = (FIXTURE,)

    def setUpZope(self, app, configurationContext):
        provideHandler(eager.job_queued, (IJobQueued,))


EAGER_FIXTURE = EagerPloneLayer(name="AsyncReportsPlone:Eager")
# Integration layers never commit, so their jobs stay queued: use this one.
EAGER_FUNCTIONAL_TESTING = FunctionalTesting(
    bases=(EAGER_FIXTURE,), name="AsyncReportsPlone:EagerFunctional")
