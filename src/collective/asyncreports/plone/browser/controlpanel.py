"""Site Setup > Async reports: the registry settings form."""

from html import escape

from plone.app.registry.browser.controlpanel import ControlPanelFormWrapper
from plone.app.registry.browser.controlpanel import RegistryEditForm
from plone.z3cform import layout

from collective.asyncreports.i18n import say
from collective.asyncreports.plone import _
from collective.asyncreports.plone.browser import check_text_widgets
from collective.asyncreports.plone.interfaces import IAsyncReportsSettings
from collective.asyncreports.plone.queue import SETTINGS_PREFIX


# The links above the form: the view and its title.
NAVIGATION = (
    ("asyncreports-jobs", _("Queue")),
    ("asyncreports-workers", _("Workers")),
    ("asyncreports-schedules", _("Schedules")),
)


class SettingsForm(RegistryEditForm):
    """Lease time, attempts, backoff, retention, results folder, server URL."""

    schema = IAsyncReportsSettings
    schema_prefix = SETTINGS_PREFIX
    label = _("Async reports")

    def update(self):
        check_text_widgets(self.request, self.schema)
        super().update()

    @property
    def description(self):
        """Links to the queue and workers views, in the page's language (the wrapper
        renders it as HTML)."""
        url = self.context.absolute_url()
        return " · ".join(f'<a href="{url}/@@{view}">{escape(say(title, self.request))}</a>'
                          for view, title in NAVIGATION)


SettingsView = layout.wrap_form(SettingsForm, ControlPanelFormWrapper)
