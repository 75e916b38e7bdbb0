"""Results in a ZMI queue: OFS File objects in the queue's results folder."""

import re

from OFS.Image import File

from collective.asyncreports.permissions import View
from collective.asyncreports.results.errorlog import keep_full_text
from collective.asyncreports.results.errorlog import owner_text


# Only the owner (a local role on the object) and managers may see a result.
PRIVATE_PERMISSIONS = (View, "Access contents information")
PRIVATE_ROLES = ("Owner", "Manager")
# Only managers may list the results folder (see results/listing.py).
PRIVATE_ROLES_LISTING = ("Manager",)


def safe_id(text):
    """A Zope id from free text: letters, digits, dot, dash, underscore."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return cleaned.lstrip("_") or "result"


def store_pdf(queue, job, data, filename, owner):
    """Store PDF bytes for ``job``; return the new object's physical path."""
    title = f"{job.report} of {job.path} (job {job.id})"
    return _store(queue, f"{job.id}-{safe_id(filename)}", title, data, "application/pdf", owner)


def store_error_log(queue, job, text, owner=None):
    """Store an error log (text) for ``job``; return its physical path.

    ``owner`` is None when the job's owner no longer exists: then only
    managers can read the log. The file holds the text with server paths
    trimmed (results/errorlog.py); the full text is kept for managers.
    """
    title = f"Error log of {job.report} on {job.path} (job {job.id})"
    # The file holds what its owner may read; the full text is for managers.
    data = owner_text(text).encode("utf-8")
    path = _store(queue, f"{job.id}-error.txt", title, data, "text/plain; charset=utf-8", owner)
    keep_full_text(queue.results_folder()._getOb(path.rsplit("/", 1)[-1]), text)
    return path


def _store(queue, object_id, title, data, content_type, owner):
    folder = queue.results_folder()
    if folder.hasObject(object_id):  # not objectIds(): a scan of every result
        # A retried step of the same attempt: replace, never keep two results.
        folder._delObject(object_id)
    folder._setObject(object_id, File(object_id, title, data, content_type), set_owner=0)
    result = folder._getOb(object_id)
    if owner is not None:
        result.changeOwnership(owner)
        result.manage_setLocalRoles(owner.getId(), ["Owner"])
    for permission in PRIVATE_PERMISSIONS:
        result.manage_permission(permission, PRIVATE_ROLES, acquire=0)
    return "/".join(result.getPhysicalPath())
