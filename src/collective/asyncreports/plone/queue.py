"""The queue of a Plone site: results as Plone content, settings from the registry."""

from email.utils import formataddr
from urllib.parse import urlsplit

from AccessControl import ClassSecurityInfo
from AccessControl.class_init import InitializeClass
from Acquisition import aq_inner
from Acquisition import aq_parent
from plone.registry.interfaces import IRegistry
from zope.component import queryUtility
from zope.interface import implementer

from collective.asyncreports import public_url
from collective.asyncreports.plone.interfaces import IAsyncReportsSettings
from collective.asyncreports.plone.interfaces import IPloneReportQueue
from collective.asyncreports.plone.results import PloneResultStore
from collective.asyncreports.zmi.queue import AsyncReportQueue


QUEUE_ID = "portal_asyncreports"
SETTINGS_PREFIX = "collective.asyncreports"


@implementer(IPloneReportQueue)
class PloneReportQueue(AsyncReportQueue):
    """A site's queue: results as File content, settings and URL from the site."""

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
    def result_store(self):
        """PDFs and error logs as File content in the site's results folder."""
        return PloneResultStore(self)

    @security.private
    def configured_url(self):
        """The registry's Server URL ('' when none is set)."""
        settings = self.settings_record()
        return (getattr(settings, "server_url", None) or "").rstrip("/")

    @security.private
    def effective_server_url(self):
        """Public URL of the site for workers, without a trailing slash.

        The registry setting wins; else the URL a person last used to queue a
        report; else the site's own URL in this request.
        """
        return (public_url.known_public_url(self) or self.site().absolute_url()).rstrip("/")

    @security.private
    def public_url(self, physical_path):
        """The server URL is the site's public URL: paths are relative to the site."""
        site_path = "/".join(self.site().getPhysicalPath())
        if physical_path.startswith(site_path + "/"):
            physical_path = physical_path[len(site_path):]
        return self.effective_server_url() + physical_path

    @security.private
    def mail_sender(self):
        """The site's MailHost and its from-address (Site Setup › Mail), with
        its name when one is set."""
        site = self.site()
        registry = getattr(site, "portal_registry", None)
        address = (registry.get("plone.email_from_address") if registry is not None else "")
        name = (registry.get("plone.email_from_name") if registry is not None else "")
        sender = formataddr((name or "", address)) if address else ""
        return getattr(site, "MailHost", None), sender

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
