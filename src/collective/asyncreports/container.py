"""The queue object without its UI: a folder holding a JobQueue and a result store.

What workers, the CLI and every UI rely on (``IAsyncReportQueue``). The ZMI
class (``zmi/queue.py``) adds its tabs; the Plone queue (``plone/queue.py``)
its result store and URL policy.
"""

import secrets
from datetime import UTC
from datetime import datetime
from urllib.parse import urlsplit

from AccessControl import ClassSecurityInfo
from AccessControl.class_init import InitializeClass
from Acquisition import aq_base
from OFS.Folder import Folder
from zExceptions import NotFound
from zope.interface import implementer

from collective.asyncreports import logger
from collective.asyncreports import public_url
from collective.asyncreports import validation
from collective.asyncreports.interfaces import IAsyncReportQueue
from collective.asyncreports.locations import queue_paths
from collective.asyncreports.permissions import ManageQueue
from collective.asyncreports.queue import FINAL_STATES
from collective.asyncreports.queue import JobQueue
from collective.asyncreports.results.errorlog import full_text
from collective.asyncreports.results.folder import FolderResultStore


@implementer(IAsyncReportQueue)
class QueueContainer(Folder):
    """A JobQueue, the results of its jobs, and the URL their links use."""

    server_url = ""

    security = ClassSecurityInfo()

    def __init__(self, id, title=""):
        super().__init__(id)
        self.title = title
        self._jobs = JobQueue()
        self._csrf_secret = secrets.token_hex(32)

    @security.private
    def job_queue(self):
        """The persistent JobQueue of this queue object."""
        return self._jobs

    @security.private
    def result_store(self):
        """PDFs and error logs as OFS Files in this queue's results folder."""
        return FolderResultStore(self)

    @security.private
    def configured_url(self):
        """The Server URL of the Settings tab ('' when none is set)."""
        return (self.server_url or "").rstrip("/")

    @security.private
    def effective_server_url(self):
        """Base URL for links made by workers, without a trailing slash."""
        return public_url.effective_public_url(self)

    @security.private
    def public_url(self, physical_path):
        """URL of the object at ``physical_path`` as people outside see it."""
        return self.effective_server_url() + physical_path

    @security.private
    def mail_sender(self):
        """(MailHost, from address) for notifications: the settings' Mail host
        (an id found from here upwards, or a path) and From address; the
        MailHost is None when there is none there."""
        settings = self._jobs
        path = getattr(settings, "mail_host", "MailHost") or "MailHost"
        # An id is acquired (traversal would look for views, which needs a request).
        mail_host = (self.unrestrictedTraverse(path, None) if "/" in path
                     else getattr(self, path, None))
        if mail_host is None or not hasattr(aq_base(mail_host), "smtp_host"):
            mail_host = None
        return mail_host, getattr(settings, "mail_from", "")

    @security.private
    def prepare_request(self, request):
        """Make a worker's synthetic request build URLs on effective_server_url()."""
        parts = urlsplit(self.effective_server_url())
        request.setServerURL(parts.scheme or "http", parts.hostname or "localhost", parts.port)

    @security.private
    def served_with(self):
        """The other JobQueues of this database: (claimed before this one, after).

        Workers serve every registered queue, in path order (locations.py).
        """
        root = self._p_jar.root() if self._p_jar is not None else {}
        own = "/".join(self.getPhysicalPath())
        app = self.getPhysicalRoot()
        before, after = [], []
        for path in queue_paths(root):
            other = None if path == own else app.unrestrictedTraverse(path.lstrip("/"), None)
            if IAsyncReportQueue.providedBy(other):
                (before if path < own else after).append(other.job_queue())
        return before, after

    @security.private
    def full_error_log(self, job_id):
        """The full text of a job's error log, for managers; NotFound when there is none."""
        if not job_id or job_id not in self._jobs:
            raise NotFound(f"no job with id {job_id!r}")
        path = self._jobs.get(job_id).error_path
        root = self.getPhysicalRoot()
        stored = root.unrestrictedTraverse(path.lstrip("/"), None) if path else None
        if stored is None:
            raise NotFound(f"job {job_id} has no error log")
        return full_text(stored)

    @security.protected(ManageQueue)
    def purge(self, job_ids=None, older_than=None, states=FINAL_STATES):
        """Remove finished jobs and their result and error-log objects.

        Returns the removed jobs. Raises InvalidTransition for running jobs,
        BadInput for a negative ``older_than`` (that would be every job).
        """
        if older_than is not None and not older_than >= 0:  # also NaN
            raise validation.BadInput(
                f"older than: must not be negative (got {older_than}): that would be every job")
        purged = self._jobs.purge(states=states, older_than=older_than, job_ids=job_ids)
        self._delete_results(purged, "purged")
        return purged

    @security.private
    def purge_expired(self, worker_id, now=None):
        """A worker's purge: one batch of jobs past ``retention_days`` and
        their results (``JobQueue.purge_expired``: only on its turn, never
        kept jobs). Returns the removed jobs."""
        purged = self._jobs.purge_expired(worker_id, now=now)
        self._delete_results(purged, f"retention ({self._jobs.retention_days} days) purged")
        return purged

    def _delete_results(self, purged, what):
        """Delete the results and error logs of ``purged`` jobs, and log it."""
        store = self.result_store()
        for job in purged:
            for path in (job.result_path, job.error_path):
                store.delete(path)
        if purged:
            oldest = min(job.finished or job.created for job in purged)
            logger.info("%s: %s %d job(s) and their results, the oldest finished %s",
                        "/".join(self.getPhysicalPath()), what, len(purged),
                        datetime.fromtimestamp(oldest, UTC).isoformat(timespec="seconds"))


InitializeClass(QueueContainer)
