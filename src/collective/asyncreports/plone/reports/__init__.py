"""Built-in report types for Plone content, registered in each site by its profile."""

import datetime

from Products.CMFCore.interfaces import IFolderish
from Products.CMFCore.utils import getToolByName


def is_plone_folder(context):
    """Tell whether ``context`` is a folder (or site) whose content the catalog knows."""
    return (
        IFolderish.providedBy(context)
        and getToolByName(context, "portal_catalog", None) is not None
    )


def modified(brain):
    """Return the brain's modification time as a datetime in UTC, or None.

    A datetime, so a spreadsheet gets a date cell (the PDF shows ISO 8601).
    """
    when = brain.modified
    if not callable(getattr(when, "asdatetime", None)):
        return None
    return when.asdatetime().astimezone(datetime.UTC).replace(microsecond=0)
