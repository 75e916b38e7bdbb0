"""The "Folder summary" report: the items directly in a folder, with their metadata."""

from Products.CMFCore.utils import getToolByName
from zope.interface import Interface

from collective.asyncreports.i18n import _
from collective.asyncreports.i18n import say
from collective.asyncreports.plone.reports import is_plone_folder
from collective.asyncreports.plone.reports import modified
from collective.asyncreports.rendering import Document
from collective.asyncreports.rendering import Link
from collective.asyncreports.reports.base import ReportType


HEADER = (_("Title"), _("Id"), _("Type"), _("State"), _("Modified (UTC)"), _("Creator"),
          _("Description"))


class FolderSummary(ReportType):
    """Lists a folder's items in their folder order, as the user may see them."""

    name = "folder-summary"
    title = _("Folder summary")
    description = _(
        "The items in this folder, in folder order, with type, review state, "
        "last modification, creator and description."
    )
    schema = Interface

    def available(self, context):
        """Return True for Plone folders and the site."""
        return is_plone_folder(context)

    def render(self, context, request, parameters):
        """Build the summary of ``context``.

        :param context: The folder.
        :param request: The synthetic request, in the job's language.
        :param parameters: Empty; this report takes none.
        :returns: A Document.
        """
        catalog = getToolByName(context, "portal_catalog")
        path = "/".join(context.getPhysicalPath())
        brains = catalog.searchResults(
            path={"query": path, "depth": 1}, sort_on="getObjPositionInParent")
        def t(message):
            return say(message, request)

        document = Document(f"{t(self.title)}: {context.Title() or context.getId()}")
        document.paragraph(t(_("Folder: ${url}. Items: ${count}.",
                               mapping={"url": context.absolute_url(), "count": len(brains)})))
        if context.Description():
            document.paragraph(context.Description())
        rows = [
            (
                Link(brain.Title or brain.getId, brain.getURL()),
                brain.getId,
                brain.portal_type,
                brain.review_state or "-",
                modified(brain),
                brain.Creator,
                brain.Description,
            )
            for brain in brains
        ]
        if rows:
            document.table([t(title) for title in HEADER], rows)
        else:
            document.paragraph(t(_("This folder holds nothing you may see.")))
        return document
