"""The queue of a Plone site: results as Plone content, settings from the registry."""

from urllib.parse import urlsplit

from AccessControl import ClassSecurityInfo
from AccessControl.class_init import InitializeClass
from Acquisition import aq_inner
from Acquisition import aq_parent
from plone.registry.interfaces import IRegistry
from zope.component import queryUtility
from zope.interface import implementer

from collective.asyncreports import public_url
from collective.asyncreports.permissions import ManageQueue
from collective.asyncreports.plone.interfaces import IAsyncReportsSettings
from collective.asyncreports.plone.interfaces import IPloneReportQueue
from collective.asyncreports.queue import FINAL_STATES
from collective.asyncreports.results import plone as results
from collective.asyncreports.zmi.queue import AsyncReportQueue


QUEUE_ID = "portal_asyncreports"
SETTINGS_PREFIX = "collective.asyncreports"


@implementer(IPloneReportQueue)
class PloneReportQueue(AsyncReportQueue):
    """A site's queue; it stores results as File content in the results folder."""

    meta_type = "Plone Async Report Queue"

    security = ClassSecurityInfo()

    def settings_record(self):
        """The registry settings of the site this queue belongs to, or None."""
        registry = getattr(self.site(), "portal_registry", None)
        if registry is None:
            registry = queryUtility(IRegistry)
        if registry is None:
            return None
        try:
            return registry.forInterface(IAsyncReportsSettings, prefix=SETTINGS_PREFIX)
        except KeyError:
            # Records not (yet, or no longer) installed.
            return None

    @security.private
    def site(self):
        """The Plone site that holds this queue."""
        return aq_parent(aq_inner(self))

    @security.private
    def results_folder(self):
        """The Plone folder for PDFs and error logs, created when missing."""
        settings = self.settings_record()
        path = settings.results_folder if settings is not None else None
        return results.ensure_results_folder(self.site(), path or results.DEFAULT_FOLDER)

    @security.private
    def store_pdf(self, job, data, filename, owner):
        """Store a job's PDF as a File owned by ``owner``; return its path."""
        return results.store_pdf(self, job, data, filename, owner)

    @security.private
    def store_error_log(self, job, text, owner=None):
        """Store a job's error log as a text File; return its path."""
        return results.store_error_log(self, job, text, owner)

    @security.protected(ManageQueue)
    def purge(self, job_ids=None, older_than=None, states=FINAL_STATES):
        """Remove finished jobs and their result Files; return the removed jobs."""
        purged = self._jobs.purge(states=states, older_than=older_than, job_ids=job_ids)
        for job in purged:
            for path in (job.result_path, job.error_path):
                results.delete_result(self.site(), path)
        return purged

    @security.private
    def effective_server_url(self):
        """Public URL of the site for workers, without a trailing slash.

        The registry setting wins; else the URL a person last used to queue a
        report; else the site's own URL in this request.
        """
        return (public_url.known_public_url(self) or self.site().absolute_url()).rstrip("/")

    @security.private
    def remember_site_url(self, url):
        """Keep the site URL seen in a request, for workers, when no URL is set.

        Written only when it changes, so queueing does not rewrite the queue.
        """
        url = url.rstrip("/")
        if url and url != self.server_url:
            self.server_url = url

    @security.private
    def public_url(self, physical_path):
        """The server URL is the site's public URL: paths are relative to the site."""
        site_path = "/".join(self.site().getPhysicalPath())
        if physical_path.startswith(site_path + "/"):
            physical_path = physical_path[len(site_path):]
        return self.effective_server_url() + physical_path

    @security.private
    def prepare_request(self, request):
        """Make a worker's synthetic request look like one to the public site.

        The server URL is the site's public URL, so the site becomes the
        virtual root: ``absolute_url()`` of ``/Plone/docs`` is
        ``https://public.example.org/docs``, as behind a virtual host.
        """
        super().prepare_request(request)
        parts = urlsplit(self.effective_server_url())
        request["PARENTS"] = [self.site()]
        request.setVirtualRoot([segment for segment in parts.path.split("/") if segment])


InitializeClass(PloneReportQueue)
