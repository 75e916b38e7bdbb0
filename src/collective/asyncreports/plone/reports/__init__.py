"""Built-in report types for Plone content, registered in each site by its profile."""

from Products.CMFCore.interfaces import IFolderish
from Products.CMFCore.utils import getToolByName


def is_plone_folder(context):
    """Tell whether ``context`` is a folder (or site) whose content the catalog knows."""
    return (
        IFolderish.providedBy(context)
        and getToolByName(context, "portal_catalog", None) is not None
    )


def modified(brain):
    """Return the brain's modification date as ``YYYY-MM-DD HH:MM``, or ''."""
    when = brain.modified
    return when.strftime("%Y-%m-%d %H:%M") if hasattr(when, "strftime") else ""
