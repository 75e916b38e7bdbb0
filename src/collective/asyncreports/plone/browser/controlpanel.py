"""Site Setup > Async reports: the registry settings form."""

from plone.app.registry.browser.controlpanel import ControlPanelFormWrapper
from plone.app.registry.browser.controlpanel import RegistryEditForm
from plone.z3cform import layout

from collective.asyncreports.plone import _
from collective.asyncreports.plone.browser import check_text_widgets
from collective.asyncreports.plone.interfaces import IAsyncReportsSettings
from collective.asyncreports.plone.queue import SETTINGS_PREFIX


NAVIGATION = (
    '<a href="{url}/@@asyncreports-jobs">Queue</a> · '
    '<a href="{url}/@@asyncreports-workers">Workers</a> · '
    '<a href="{url}/@@asyncreports-schedules">Schedules</a>'
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
        """Links to the queue and workers views (the wrapper renders it as HTML)."""
        return NAVIGATION.format(url=self.context.absolute_url())


SettingsView = layout.wrap_form(SettingsForm, ControlPanelFormWrapper)
