"""Interfaces of the Plone integration: browser layer, settings, queue marker."""

from zope import schema
from zope.interface import Interface
from zope.publisher.interfaces.browser import IDefaultBrowserLayer

from collective.asyncreports.interfaces import IAsyncReportQueue
from collective.asyncreports.plone import _


class IAsyncReportsLayer(IDefaultBrowserLayer):
    """Browser layer, registered by the default profile."""


class IPloneReportQueue(IAsyncReportQueue):
    """The queue of a Plone site, stored as its ``portal_asyncreports``."""


class IAsyncReportsSettings(Interface):
    """Site Setup > Async reports, stored in the registry.

    The numbers are copied onto the site's JobQueue whenever they change,
    because workers read them there.
    """

    lease_seconds = schema.Int(
        title=_("Lease time (seconds)"),
        description=_(
            "How long a worker may go without a heartbeat before its job is "
            "handed to another worker."
        ),
        min=10,
        max=604800,
        default=300,
    )

    max_attempts = schema.Int(
        title=_("Maximum attempts"),
        description=_("How often a job is tried before it fails for good."),
        min=1,
        max=100,
        default=3,
    )

    backoff_seconds = schema.Int(
        title=_("Backoff (seconds)"),
        description=_("Wait before a job is tried again; it doubles with each attempt."),
        min=0,
        max=604800,
        default=30,
    )

    backoff_max = schema.Int(
        title=_("Longest backoff (seconds)"),
        min=0,
        max=604800,
        default=3600,
    )

    retention_days = schema.Int(
        title=_("Retention (days)"),
        description=_("Finished jobs older than this may be purged from the queue view."),
        min=0,
        max=36500,
        default=30,
    )

    results_folder = schema.TextLine(
        title=_("Results folder"),
        description=_(
            "Path of the folder, relative to the site, where PDFs and error "
            "logs are stored. It is created (private, not in navigation) when "
            "missing."
        ),
        default="/reports",
    )

    server_url = schema.URI(
        title=_("Server URL"),
        description=_(
            "Public URL of this site, used by workers so that links inside "
            "reports point at it (e.g. https://intranet.example.org). Empty: "
            "the URL the site was last seen at by a person queueing a report."
        ),
        required=False,
    )

    notify_submitter = schema.Bool(
        title=_("Notify the submitter"),
        description=_("Send an email to the person who queued a report when it is ready."),
        default=False,
        # A required Bool renders a required checkbox: browsers would refuse
        # to send the form with it unticked.
        required=False,
    )

    remove_results_on_uninstall = schema.Bool(
        title=_("Delete results when the add-on is uninstalled"),
        description=_("Off: PDFs and error logs are kept as ordinary files."),
        default=False,
        required=False,
    )
