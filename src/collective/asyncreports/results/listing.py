"""Who may list a results folder: managers only, whatever the site grants.

Each result and error log is private to its owner and the managers, and so
are their names: a list of them tells who ran which report on what. The
folder itself grants listing it (Contents tab, ``objectIds``/``objectValues``/
``tpValues``, the ZMI tree, WebDAV PROPFIND, Plone's folder_contents and
listing views) to managers only; users reach their own results from their
jobs, through links straight to the objects, which carry their own rights.
"""

from AccessControl.Permission import Permission


# Everything that shows the names of a folder's items.
LISTING_PERMISSIONS = (
    "Access contents information",  # objectIds, objectValues, tpValues, keys, items
    "View management screens",  # manage_main, manage_workspace, manage_findForm
    "List folder contents",  # Plone's folder_contents and listings
    "WebDAV access",  # PROPFIND
    "View",  # the folder's own page
)


def keep_listing_private(folder, roles):
    """Grant the listing permissions on ``folder`` to ``roles`` alone, not acquired.

    Writes only when the folder is not set so already (this runs whenever a
    result is stored, so old folders get it, and a workflow that reset the
    folder's permissions is undone). Returns True when it changed anything.
    """
    wanted = tuple(sorted(roles))
    changed = False
    # "List folder contents" is CMF's: plain Zope knows it only once Products.CMFCore is loaded.
    known = set(folder.possible_permissions())
    for permission in LISTING_PERMISSIONS:
        if permission not in known:
            continue
        current = Permission(permission, (), folder).getRoles(default=[])
        # A tuple means "not acquired"; a list means "also acquired".
        if not (isinstance(current, tuple) and tuple(sorted(current)) == wanted):
            folder.manage_permission(permission, list(wanted), acquire=0)
            changed = True
    return changed
