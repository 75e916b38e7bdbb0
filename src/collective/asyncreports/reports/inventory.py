"""The built-in "Object inventory" report: what a folder holds, level by level."""

import datetime
import itertools
from collections import defaultdict

from AccessControl import getSecurityManager
from Acquisition import aq_base
from Acquisition import aq_chain
from OFS.interfaces import IObjectManager
from zope import schema
from zope.interface import Interface

from collective.asyncreports.i18n import _
from collective.asyncreports.i18n import say
from collective.asyncreports.rendering import Document
from collective.asyncreports.reports.base import ReportType


ACCESS_CONTENTS_INFORMATION = "Access contents information"
# Plone's own: a Site Administrator has it, an Editor does not.
MANAGE_PORTAL = "Manage portal"

HEADER = (_("Id"), _("Meta type"), _("Title"), _("Last modified (UTC)"), _("Size"))
SUMMARY_HEADER = (_("Meta type"), _("Count"), _("Total size"))
PLONE_UNAVAILABLE = _(
    "in a Plone site it lists what Plone hides (its tools and user folders), "
    "for those who may manage the site only"
)


class IObjectInventoryParameters(Interface):
    """Parameters of the object inventory."""

    depth = schema.Int(
        title=_("Depth"),
        description=_(
            "How many levels below the target to list; 1 lists only the "
            "objects directly inside it."
        ),
        min=1,
        max=10,
        default=1,
    )

    max_items = schema.Int(
        title=_("Maximum number of objects"),
        description=_("The report stops listing after this many objects."),
        min=1,
        max=100000,
        default=5000,
    )


class ObjectInventory(ReportType):
    """Lists the objects in a folder and, to a chosen depth, in its subfolders.

    It runs as the user who queued it and lists only objects on which that
    user has "Access contents information", and looks into no folder the
    user may not see.
    """

    name = "object-inventory"
    title = _("Object inventory")
    description = _(
        "Lists the objects inside a folder and its subfolders, with their "
        "type, title, last modification and size, and counts and sizes per "
        "meta type."
    )
    schema = IObjectInventoryParameters

    def available(self, context):
        """Return True for folders and other object managers.

        In a Plone site only for those with "Manage portal" there: the ZMI's
        view of a site lists what Plone keeps from its other users.
        """
        if not IObjectManager.providedBy(context):
            return False
        if _in_plone_site(context):
            return bool(getSecurityManager().checkPermission(MANAGE_PORTAL, context))
        return True

    def unavailable_reason(self, context):
        """Say why :meth:`available` is false for ``context``, for the refusal."""
        if IObjectManager.providedBy(context) and _in_plone_site(context):
            return PLONE_UNAVAILABLE
        return _("it lists the contents of folders only")

    def render(self, context, request, parameters):
        """Build the inventory of ``context``.

        :param context: The folder to list.
        :param request: The synthetic request, in the job's language.
        :param parameters: Dict with ``depth`` and ``max_items``.
        :returns: A Document.
        """
        depth = parameters["depth"]
        max_items = parameters["max_items"]
        # One more than asked tells whether anything was left out. Rows, not
        # objects, are kept, so visited objects need not stay in memory.
        found = _visible_contents(context, depth)
        rows = [_row(path, obj) for path, obj in itertools.islice(found, max_items + 1)]
        truncated = len(rows) > max_items
        del rows[max_items:]

        def t(message):
            return say(message, request)

        document = Document(t(self.title))
        target = "/".join(context.getPhysicalPath()) or "/"
        document.paragraph(t(_(
            "Target: ${target}. Depth: ${depth}. Objects listed: ${count}.",
            mapping={"target": target, "depth": depth, "count": len(rows)})))
        if truncated:
            document.paragraph(t(_(
                "The list stops after ${max_items} objects (max_items); "
                "there are more below the target.", mapping={"max_items": max_items})))
        if rows:
            summary = _per_meta_type(rows)
            per_meta_type = t(_("Objects per meta type"))
            document.heading(per_meta_type, level=2)
            document.chart(per_meta_type, summary.keys(),
                           [count for count, _size in summary.values()])
            document.table([t(title) for title in SUMMARY_HEADER],
                           [(meta_type, *numbers) for meta_type, numbers in summary.items()],
                           totals=True)
            document.heading(t(_("Objects")), level=2)
            document.table([t(title) for title in HEADER], rows, main=True)
        else:
            document.paragraph(t(_("There are no objects here that you may see.")))
        return document


def _in_plone_site(context):
    """Tell whether ``context`` is in (or is) a Plone site."""
    try:
        from plone.base.interfaces import IPloneSiteRoot
    except ImportError:  # plain Zope
        return False
    return any(IPloneSiteRoot.providedBy(obj) for obj in aq_chain(context))


def _per_meta_type(rows):
    """Return ``{meta type: (count, total size or None)}`` of listed rows, sorted.

    The size is None when no object of that type has one.
    """
    counts, sizes = defaultdict(int), {}
    for row in rows:
        meta_type, size = row[1], row[4]
        counts[meta_type] += 1
        if size is not None:
            sizes[meta_type] = sizes.get(meta_type, 0) + size
    return {meta_type: (counts[meta_type], sizes.get(meta_type))
            for meta_type in sorted(counts)}


def _visible_contents(folder, levels, path=()):
    """Yield ``(path, object)`` for what the current user may see, by path.

    ``path`` is a tuple of ids relative to the first folder. Ids are visited
    in sorted order, depth first, so the output is sorted by path and a
    truncated list is its first part, not a random sample. Only the ids are
    listed up front: objects are loaded one at a time, as they are reached.
    """
    check_permission = getSecurityManager().checkPermission
    for child_id in sorted(folder.objectIds()):
        child = folder._getOb(child_id, None)
        if child is None or not check_permission(ACCESS_CONTENTS_INFORMATION, child):
            continue
        child_path = path + (child_id,)
        yield child_path, child
        if levels > 1 and IObjectManager.providedBy(child):
            yield from _visible_contents(child, levels - 1, child_path)


def _row(path, obj):
    """Return the table row of ``obj`` found at relative ``path``."""
    base = aq_base(obj)
    # aq_base everywhere: a File must not acquire its folder's title or size.
    title = getattr(base, "title", "")
    if callable(title):
        title = obj.title()
    size = obj.get_size() if callable(getattr(base, "get_size", None)) else None
    return (
        "/".join(path),
        getattr(base, "meta_type", ""),
        title,
        _modified(obj),
        size,
    )


def _modified(obj):
    """Return when ``obj`` last changed, a datetime in UTC, or None.

    (The PDF shows it in ISO 8601, a spreadsheet as a date.)"""
    base = aq_base(obj)
    if callable(getattr(base, "bobobase_modification_time", None)):
        when = obj.bobobase_modification_time().asdatetime()
    else:
        # A ghost knows no modification time until it is loaded.
        if callable(getattr(base, "_p_activate", None)):
            base._p_activate()
        mtime = getattr(base, "_p_mtime", None)
        if mtime is None:
            return None
        when = datetime.datetime.fromtimestamp(mtime, datetime.UTC)
    return when.astimezone(datetime.UTC).replace(microsecond=0)
