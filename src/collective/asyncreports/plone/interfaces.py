"""Interfaces of the Plone integration: browser layer, settings, queue marker."""

from zope import schema
from zope.interface import Interface
from zope.interface import Invalid
from zope.interface import invariant
from zope.interface.interface import InterfaceClass
from zope.publisher.interfaces.browser import IDefaultBrowserLayer

from collective.asyncreports.interfaces import IAsyncReportQueue
from collective.asyncreports.plone import _
from collective.asyncreports.queue.settings import ADDRESS
from collective.asyncreports.queue.settings import BOOL
from collective.asyncreports.queue.settings import SETTINGS
from collective.asyncreports.queue.settings import TEXT


class IAsyncReportsLayer(IDefaultBrowserLayer):
    """Browser layer, registered by the default profile."""


class IPloneReportQueue(IAsyncReportQueue):
    """The queue of a Plone site, stored as its ``portal_asyncreports``."""


def _field(setting):
    """The registry field of one setting of the table (its kind's schema field)."""
    common = {"title": _(setting.title), "description": _(setting.description),
              "default": setting.default}
    if setting.kind == BOOL:
        # A required Bool renders a required checkbox: browsers would refuse
        # to send the form with it unticked.
        return schema.Bool(required=False, **common)
    if setting.kind in (TEXT, ADDRESS):
        return schema.TextLine(required=False, max_length=setting.maximum,
                               constraint=_table_rule(setting), **common)
    return schema.Int(min=setting.minimum, max=setting.maximum, **common)


def _table_rule(setting):
    """A field constraint that is the table's own check of ``setting``."""
    def check(value):
        for title, message in SETTINGS.problems({setting.name: value}):
            raise Invalid(f"{title}: {message}")
        return True
    return check


def _number_fields():
    """The registry fields of the queue's settings, from the one table of settings."""
    return {setting.name: _field(setting) for setting in SETTINGS.in_plone()}


# The numbers come first in the control panel, in the table's order.
IQueueNumbers = InterfaceClass("IQueueNumbers", (Interface,), _number_fields(),
                               __module__=__name__)


class SettingsProblem(Invalid):
    """Two settings that do not fit together (see SETTINGS.problems)."""


class IAsyncReportsSettings(IQueueNumbers):
    """Site Setup > Async reports, stored in the registry.

    The numbers are copied onto the site's JobQueue whenever they change,
    because workers read them there.
    """

    @invariant
    def numbers_fit_together(data):
        values = {setting.name: getattr(data, setting.name, None)
                  for setting in SETTINGS.in_plone()}
        for title, message in SETTINGS.problems(values):
            raise SettingsProblem(f"{title}: {message}")

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

    remove_results_on_uninstall = schema.Bool(
        title=_("Delete results when the add-on is uninstalled"),
        description=_("Off: PDFs and error logs are kept as ordinary files."),
        default=False,
        required=False,
    )
