"""Install Plone's Barceloneta theme in /Plone: ``zconsole run etc/zope.conf THIS``.

The devinstance bootstrap creates the site without it (only
plone.app.contenttypes and this add-on), which leaves Plone unstyled; the
browser tests want screenshots of the UI people see.
"""

import transaction
from AccessControl.SecurityManagement import newSecurityManager
from Testing.makerequest import makerequest
from zope.component.hooks import setSite
from zope.globalrequest import setRequest


PROFILE = "profile-plonetheme.barceloneta:default"


def install(app):
    app = makerequest(app)
    setRequest(app.REQUEST)
    users = app.acl_users
    newSecurityManager(None, users.getUserById("admin").__of__(users))
    site = app.Plone
    setSite(site)
    site.portal_setup.runAllImportStepsFromProfile(PROFILE)
    transaction.commit()


install(app)  # noqa: F821 (zconsole binds ``app``)
