"""``@@edit-schedule?schedule=<id>``: change a schedule's timing, format and parameters.

A z3c.form like Generate report's, its fields filled with the schedule's
values; saved through ``scheduling.edit``, which checks it all again as the
owner. Who may open it: the owner, or who manages the queue.
"""

import copy

from plone import api
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile
from z3c.form import button
from z3c.form import field
from z3c.form import form
from zope import schema
from zope.schema.vocabulary import SimpleTerm
from zope.schema.vocabulary import SimpleVocabulary

from collective.asyncreports import rows
from collective.asyncreports import scheduling
from collective.asyncreports.actions import viewer
from collective.asyncreports.csrf import check_post
from collective.asyncreports.errors import InvalidSchedule
from collective.asyncreports.errors import UnknownReport
from collective.asyncreports.plone import _
from collective.asyncreports.plone.browser import check_text_widgets
from collective.asyncreports.plone.browser import require_signed_in
from collective.asyncreports.plone.browser import site_queue
from collective.asyncreports.plone.browser.generate import PARAMETER_PREFIX
from collective.asyncreports.plone.browser.generate import as_text
from collective.asyncreports.plone.browser.generate import check_submitted_format
from collective.asyncreports.plone.browser.generate import format_field
from collective.asyncreports.plone.browser.repeat import ONCE
from collective.asyncreports.plone.browser.repeat import REPEATS
from collective.asyncreports.plone.browser.repeat import IRepeat
from collective.asyncreports.plone.browser.repeat import cron_for
from collective.asyncreports.plone.browser.repeat import repeat_of
from collective.asyncreports.plone.browser.repeat import use_radio_buttons
from collective.asyncreports.plone.browser.schedules import my_schedules_url
from collective.asyncreports.plone.browser.schedules import refuse
from collective.asyncreports.plone.browser.schedules import schedule_for
from collective.asyncreports.plone.browser.schedules import scheduled_message
from collective.asyncreports.reports.formats import FORMAT_FIELD
from collective.asyncreports.reports.registry import get_report


# A schedule repeats: Once is no choice here (delete it instead).
REPEAT_AGAIN = schema.Choice(
    __name__="repeat",
    title=IRepeat["repeat"].title,
    vocabulary=SimpleVocabulary([SimpleTerm(v, v, t) for v, t in REPEATS if v != ONCE]),
    required=True,
)


class EditScheduleForm(form.Form):
    """The schedule's Repeat fields, format and the report's parameters."""

    template = ViewPageTemplateFile("templates/editschedule.pt")
    ignoreContext = True
    enableCSRFProtection = True
    label = _("Edit schedule")

    def update(self):
        require_signed_in()
        self.queue = site_queue()
        self.schedule = schedule_for(self.queue, self.request.form.get("schedule"))
        try:
            self.report = get_report(self.schedule.report)
        except UnknownReport:  # its add-on is gone: only the timing can change
            self.report = None
        fields = field.Fields(REPEAT_AGAIN) + field.Fields(IRepeat).omit("repeat")
        if self.report is not None:
            check_submitted_format(self.request, self.report)
            fields += field.Fields(format_field(self.report)) + field.Fields(
                self.report.schema, prefix=PARAMETER_PREFIX)
            check_text_widgets(self.request, self.report.schema,
                               prefix=f"form.widgets.{PARAMETER_PREFIX}.")
        check_text_widgets(self.request, IRepeat)
        use_radio_buttons(fields)
        self.fields = _filled(fields, self.stored_values())
        super().update()

    def stored_values(self):
        """The schedule's values by widget name: what the form starts with."""
        values = dict(repeat_of(self.schedule.cron), timezone=self.schedule.timezone)
        values[FORMAT_FIELD] = self.schedule.format
        for name, value in self.schedule.params.items():
            values[f"{PARAMETER_PREFIX}.{name}"] = value
        return values

    @property
    def action(self):
        return f"{self.request.getURL()}?schedule={self.schedule.id}"

    def title(self):
        return rows.report_title(self.schedule.report)

    def target_url(self):
        return self.request.physicalPathToURL(self.schedule.path)

    @button.buttonAndHandler(_("Save schedule"), name="save")
    def handle_save(self, action):
        check_post(self.request)
        data, errors = self.extractData()
        if errors:
            self.status = self.formErrorsMessage
            return
        cron, problems = cron_for(data)
        if problems:
            refuse(self, problems, data.get("repeat"))
            return
        try:
            schedule = scheduling.edit(
                self.queue, self.schedule.id, params=self.parameters(data), cron=cron,
                timezone=data.get("timezone") or "", format=data.get(FORMAT_FIELD))
        except InvalidSchedule as exc:
            refuse(self, exc.errors, data.get("repeat"))
            return
        api.portal.show_message(scheduled_message(schedule, saved=True), request=self.request)
        self.request.response.redirect(self.back_url())

    @button.buttonAndHandler(_("Cancel"), name="cancel")
    def handle_cancel(self, action):
        self.request.response.redirect(self.back_url())

    def parameters(self, data):
        """The parameters as text, as Generate report sends them; None: keep them."""
        if self.report is None:
            return None
        target = api.portal.get().unrestrictedTraverse(self.schedule.path, None)
        raw = {name: as_text(self.report.schema[name].bind(target or self.context),
                             data.get(f"{PARAMETER_PREFIX}.{name}"))
               for name in schema.getFieldNames(self.report.schema)}
        return {name: text for name, text in raw.items() if text is not None}

    def back_url(self):
        """My schedules for one's own schedule; Site Setup's list for a manager's
        edit of somebody else's."""
        if self.schedule.owner_id == viewer(self.queue).user_id:
            return my_schedules_url(self.schedule)
        return f"{api.portal.get().absolute_url()}/@@asyncreports-schedules"


def _filled(fields, values):
    """``fields`` whose defaults are ``values`` (by field name): the form shows
    the schedule without a content object to read it from."""
    for name, value in values.items():
        if name in fields and value is not None:
            stored = copy.copy(fields[name].field)
            stored.defaultFactory = None
            stored.default = value
            fields[name].field = stored
    return fields
