"""Results in a ZMI queue: OFS File objects in the queue's results folder."""

import gc
import re

from OFS.Image import File
from OFS.Image import Pdata
from Products.BTreeFolder2.BTreeFolder2 import BTreeFolder2
from zope.interface import implementer

from collective.asyncreports.interfaces import IResultStore
from collective.asyncreports.permissions import View
from collective.asyncreports.results.errorlog import keep_full_text
from collective.asyncreports.results.errorlog import owner_text
from collective.asyncreports.results.listing import keep_listing_private


RESULTS_ID = "results"
# Only the owner (a local role on the object) and managers may see a result.
PRIVATE_PERMISSIONS = (View, "Access contents information")
PRIVATE_ROLES = ("Owner", "Manager")
# Only managers may list the results folder (see results/listing.py).
PRIVATE_ROLES_LISTING = ("Manager",)
# OFS.Image's own chunk size: a File's data above twice this is a Pdata chain.
CHUNK = 1 << 16


def safe_id(text):
    """A Zope id from free text: letters, digits, dot, dash, underscore."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return cleaned.lstrip("_") or "result"


@implementer(IResultStore)
class FolderResultStore:
    """A queue's results as OFS Files in a BTree folder inside the queue."""

    def __init__(self, queue):
        self.queue = queue

    def folder(self):
        """The queue's ``results`` folder, created when missing."""
        queue = self.queue
        if not queue.hasObject(RESULTS_ID):
            # A BTree folder: workers finishing at once add to different
            # buckets, where an OFS Folder's one _objects tuple would conflict.
            queue._setObject(RESULTS_ID, BTreeFolder2(RESULTS_ID))
        folder = queue._getOb(RESULTS_ID)
        keep_listing_private(folder, PRIVATE_ROLES_LISTING)
        return folder

    def store_result(self, job, data, filename, content_type, owner):
        """Store ``job``'s result (PDF, CSV, XLSX bytes) as a File of
        ``content_type``; return the new object's physical path."""
        title = f"{job.report} of {job.path} (job {job.id})"
        result = self._store(f"{job.id}-{safe_id(filename)}", title, data, content_type, owner)
        return "/".join(result.getPhysicalPath())

    def store_error_log(self, job, text, owner=None):
        """Store an error log (text) for ``job``; return its physical path.

        ``owner`` is None when the job's owner no longer exists: then only
        managers can read the log. The file holds the text with server paths
        trimmed (results/errorlog.py); the full text is kept for managers.
        """
        title = f"Error log of {job.report} on {job.path} (job {job.id})"
        data = owner_text(text).encode("utf-8")
        result = self._store(f"{job.id}-error.txt", title, data, "text/plain; charset=utf-8",
                             owner)
        keep_full_text(result, text)
        return "/".join(result.getPhysicalPath())

    def delete(self, path):
        """Delete the result at physical ``path`` if it is still in the folder."""
        name = path.rsplit("/", 1)[-1] if path else None
        folder = self.folder()
        if name and folder.hasObject(name):
            folder._delObject(name)

    def _store(self, object_id, title, data, content_type, owner):
        folder = self.folder()
        if folder.hasObject(object_id):  # not objectIds(): a scan of every result
            # A retried step of the same attempt: replace, never keep two results.
            folder._delObject(object_id)
        # Empty first: given its data before it is in the folder, a File has no
        # jar and keeps a big one as a single Pdata, a copy of it all (plus that
        # record's pickle at commit): 2-3x a 50 MB PDF in memory (bench scenario 15).
        folder._setObject(object_id, File(object_id, title, b"", content_type), set_owner=0)
        result = folder._getOb(object_id)
        _write_data(result, data, content_type, self.queue._p_jar)
        if owner is not None:
            result.changeOwnership(owner)
            result.manage_setLocalRoles(owner.getId(), ["Owner"])
        for permission in PRIVATE_PERMISSIONS:
            result.manage_permission(permission, PRIVATE_ROLES, acquire=0)
        return result


def _write_data(result, data, content_type, jar):
    """Give the File ``result`` ``data`` (bytes), its records added to ``jar``
    (the connection of the queue: a File new in a BTree folder has none yet).

    Small data as OFS does it. Big data as OFS does for an upload, a Pdata
    chain built from the end with each 64 KB record saved at once (a
    savepoint of the worker's own transaction manager, which OFS's
    ``transaction.savepoint()`` would miss) and turned into a ghost: besides
    ``data`` itself, memory holds one record at a time, not a second copy.
    """
    size = len(data)
    if size <= 2 * CHUNK:
        chunks, size = result._read_data(data)
        result.update_data(chunks, content_type, size)
        return
    if jar is None:  # a queue in no database (tests): one record, as OFS does then
        result.update_data(Pdata(bytes(data)), content_type, size)
        return
    manager = jar.transaction_manager
    view = memoryview(data)
    chunks = None
    end = size
    while end > 0:
        start = end - CHUNK if end - CHUNK >= CHUNK else 0  # the first one is 64-128 KB
        record = Pdata(bytes(view[start:end]))
        jar.add(record)
        record.next = chunks
        manager.savepoint(optimistic=True)
        record._p_deactivate()
        # What saving the record left in reference cycles (ZODB's ObjectWriter
        # and its pickler hold the record and its pickle) waits for a
        # collection that few, big allocations do not trigger: collected
        # every megabyte, young objects only, it costs little.
        if not end & (CHUNK * 16 - 1):
            gc.collect(0)
        chunks = record
        end = start
    view.release()
    result.update_data(chunks, content_type, size)
