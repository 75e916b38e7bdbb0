"""The "Content inventory" report: what the catalog holds under a folder."""

from collections import Counter

from Products.CMFCore.utils import getToolByName
from zope import schema
from zope.interface import Interface

from collective.asyncreports.i18n import _
from collective.asyncreports.i18n import say
from collective.asyncreports.plone.reports import is_plone_folder
from collective.asyncreports.plone.reports import modified
from collective.asyncreports.rendering import Document
from collective.asyncreports.rendering import Link
from collective.asyncreports.reports.base import ReportType


class IContentInventoryParameters(Interface):
    """Parameters of the content inventory."""

    max_items = schema.Int(
        title=_("Maximum number of items in the table"),
        description=_("The counts always cover everything; the table stops here."),
        min=1,
        max=100000,
        default=2000,
    )


class ContentInventory(ReportType):
    """Counts the content under a folder by type and state, and lists it.

    The catalog query runs as the person who queued the report, so it sees
    only what they may see.
    """

    name = "content-inventory"
    title = _("Content inventory")
    description = _(
        "Everything below this folder: counts per content type and review "
        "state, with charts and totals, and a table of title (linked to the "
        "item), path, last modification and creator."
    )
    schema = IContentInventoryParameters

    def available(self, context):
        """Return True for Plone folders and the site."""
        return is_plone_folder(context)

    def render(self, context, request, parameters):
        """Build the inventory of ``context``.

        :param context: The folder to inventory.
        :param request: The synthetic request (its public URL makes the links; in
            the job's language).
        :param parameters: Dict with ``max_items``.
        :returns: A Document.
        """
        catalog = getToolByName(context, "portal_catalog")
        path = "/".join(context.getPhysicalPath())
        brains = catalog.searchResults(path={"query": path}, sort_on="path")
        counts = Counter((brain.portal_type, brain.review_state or "-") for brain in brains)

        def t(message):
            return say(message, request)

        document = Document(f"{t(self.title)}: {context.Title() or context.getId()}",
                            subject=t(_("Content below ${path}", mapping={"path": path})))
        document.paragraph(t(_("Target: ${url}. Items found: ${count}.",
                               mapping={"url": context.absolute_url(), "count": len(brains)})))
        type_, state, count = t(_("Type")), t(_("Review state")), t(_("Count"))
        for heading, title, kind, position in (
            (t(_("Items per type")), type_, "bar", 0),
            (t(_("Items per review state")), state, "pie", 1),
        ):
            totals = _count_by(counts, position)
            document.heading(heading, level=2)
            document.chart(heading, totals.keys(), totals.values(), kind=kind)
            document.table((title, count), totals.items(), totals=True)
        document.heading(t(_("Items per type and state")), level=2)
        document.table(
            (type_, state, count),
            [(kind, review_state, number)
             for (kind, review_state), number in sorted(counts.items())],
            totals=True,
        )
        document.heading(t(_("Items")), level=2)
        max_items = parameters["max_items"]
        rows = [
            (Link(brain.Title or brain.getId, brain.getURL()), brain.getPath(),
             modified(brain), brain.Creator)
            for brain in brains[:max_items]
        ]
        if rows:
            document.table((t(_("Title")), t(_("Path")), t(_("Modified (UTC)")),
                            t(_("Creator"))), rows, main=True)
        if len(brains) > max_items:
            document.paragraph(t(_("The table stops after ${max_items} of ${count} items.",
                                   mapping={"max_items": max_items, "count": len(brains)})))
        return document


def _count_by(counts, position):
    """Sum ``{(type, state): count}`` by type (``position`` 0) or state (1), sorted."""
    summed = Counter()
    for key, count in counts.items():
        summed[key[position]] += count
    return dict(sorted(summed.items()))
