"""Plone 6 integration: profiles, control panel, forms and results as Plone content.

Loaded only when Products.CMFPlone is installed.
"""

from zope.i18nmessageid import MessageFactory


_ = MessageFactory("collective.asyncreports")


def _import_report_modules():
    # The report types are persistent utilities of each site. Import their
    # modules at start-up: imported lazily while a site manager is being
    # unpickled, defining their schemas fires events into that half-loaded
    # site manager and the request fails.
    from collective.asyncreports.plone.reports import inventory  # noqa: F401
    from collective.asyncreports.plone.reports import summary  # noqa: F401


_import_report_modules()
