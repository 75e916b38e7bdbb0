"""The "Generate report" form: queue a report on the content one is looking at.

The form is built with z3c.form from the chosen report type's schema; only
report types whose ``available(context)`` is true are offered.
"""

import uuid
from urllib.parse import urlencode

from plone import api
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile
from z3c.form import button
from z3c.form import field
from z3c.form import form
from z3c.form.interfaces import HIDDEN_MODE
from zope import schema
from zope.interface import Interface
from zope.schema.interfaces import IBool
from zope.schema.interfaces import IChoice
from zope.schema.vocabulary import SimpleTerm
from zope.schema.vocabulary import SimpleVocabulary

from collective.asyncreports import public_url
from collective.asyncreports import validation
from collective.asyncreports.csrf import check_post
from collective.asyncreports.errors import InvalidJobRequest
from collective.asyncreports.errors import InvalidParameters
from collective.asyncreports.plone import _
from collective.asyncreports.plone.browser import check_text_widgets
from collective.asyncreports.plone.browser import site_queue
from collective.asyncreports.plone.browser.repeat import ONCE
from collective.asyncreports.plone.browser.repeat import IRepeat
from collective.asyncreports.plone.browser.repeat import use_radio_buttons
from collective.asyncreports.plone.browser.schedules import add_schedule
from collective.asyncreports.plone.browser.schedules import my_schedules_url
from collective.asyncreports.plone.browser.schedules import scheduled_message
from collective.asyncreports.reports.formats import FORMAT_FIELD
from collective.asyncreports.reports.formats import check_format
from collective.asyncreports.reports.formats import format_choices
from collective.asyncreports.reports.registry import queueable_report_types
from collective.asyncreports.submission import submit_noted
from collective.asyncreports.targets import path_of


PARAMETER_PREFIX = "param"


class IGenerateReport(Interface):
    """Fields every Generate report form has besides the report's own."""

    submission_id = schema.ASCIILine(
        title=_("Submission id"),
        description=_("Makes a form sent twice queue one job."),
        required=False,
    )


class GenerateReportForm(form.Form):
    """Choose a report type, fill in its parameters, queue it."""

    template = ViewPageTemplateFile("templates/generate.pt")
    ignoreContext = True
    enableCSRFProtection = True
    label = _("Generate report")

    report_name = None
    report = None

    def update(self):
        self.reports = queueable_report_types(site_queue(), self.context)
        available = dict(self.reports)
        chosen = validation.text(self.request.form.get("report"), "report", max_length=200)
        if chosen not in available and len(self.reports) == 1:
            chosen = self.reports[0][0]
        if chosen in available:
            self.report_name, self.report = chosen, available[chosen]
            check_submitted_format(self.request, self.report)
            self.fields = field.Fields(IGenerateReport) + field.Fields(
                format_field(self.report)) + field.Fields(
                self.report.schema, prefix=PARAMETER_PREFIX) + field.Fields(IRepeat)
            self.fields["submission_id"].mode = HIDDEN_MODE
            use_radio_buttons(self.fields)
            check_text_widgets(self.request, IGenerateReport)
            check_text_widgets(self.request, IRepeat)
            check_text_widgets(self.request, self.report.schema,
                               prefix=f"form.widgets.{PARAMETER_PREFIX}.")
        else:
            self.fields = field.Fields()
        super().update()

    @property
    def action(self):
        """Post back to this form with the chosen report in the query string."""
        return f"{self.request.getURL()}?{urlencode({'report': self.report_name or ''})}"

    def updateWidgets(self):
        super().updateWidgets()
        widget = self.widgets.get("submission_id")
        if widget is not None and not widget.value:
            widget.value = uuid.uuid4().hex

    def choices(self):
        """The offered report types, with the URL that opens each one's form."""
        base = self.request.getURL()
        return [
            {
                "name": name,
                "title": report.title,
                "description": report.description,
                "url": f"{base}?{urlencode({'report': name})}",
                "chosen": name == self.report_name,
            }
            for name, report in self.reports
        ]

    @button.buttonAndHandler(_("Queue report"), name="queue")
    def handle_queue(self, action):
        check_post(self.request)
        data, errors = self.extractData()
        if errors:
            self.status = self.formErrorsMessage
            return
        queue, params = site_queue(), self.parameters(data)
        if data.get("repeat", ONCE) != ONCE:
            return self.schedule(queue, params, data)
        try:
            job, note = submit_noted(
                queue, self.report_name, path_of(self.context), params,
                dedup_key=data.get("submission_id") or None, format=data.get(FORMAT_FIELD))
        except InvalidParameters as exc:
            self.status = "; ".join(f"{name}: {problem}" for name, problem in exc.errors)
            return
        except InvalidJobRequest as exc:
            self.status = str(exc)
            return
        public_url.remember_served_url(queue, api.portal.get().absolute_url())
        api.portal.show_message(
            note or _("Your report “${title}” is queued (job ${id}). It appears here when "
                      "ready.", mapping={"title": self.report.title, "id": job.id}),
            request=self.request,
        )
        self.request.response.redirect(
            f"{api.portal.get().absolute_url()}/@@my-reports?{urlencode({'job': job.id})}")


    def parameters(self, data):
        """The report's parameters as text, as ``submit`` takes them from any client."""
        # z3c.form keys the data by the prefixed field name.
        raw = {
            name: as_text(
                self.report.schema[name].bind(self.context),
                data.get(f"{PARAMETER_PREFIX}.{name}"))
            for name in schema.getFieldNames(self.report.schema)
        }
        return {name: text for name, text in raw.items() if text is not None}

    def schedule(self, queue, params, data):
        """Make a schedule of the report (a Repeat other than Once); nothing runs now."""
        made = add_schedule(self, queue, self.report_name, path_of(self.context), params,
                            data, format=data.get(FORMAT_FIELD))
        if made is None:
            return
        schedule, note = made
        public_url.remember_served_url(queue, api.portal.get().absolute_url())
        api.portal.show_message(note or scheduled_message(schedule), request=self.request)
        self.request.response.redirect(my_schedules_url(schedule))


def format_field(report):
    """The form's choice of the result formats ``report`` offers, its default first."""
    terms = [SimpleTerm(name, name, title) for name, title in format_choices(report)]
    return schema.Choice(
        __name__=FORMAT_FIELD,
        title=_("Format"),
        description=_("CSV holds the report's largest table; an Excel workbook has a "
                      "sheet per table."),
        vocabulary=SimpleVocabulary(terms),
        default=terms[0].value,
        required=True,
    )


def check_submitted_format(request, report):
    """A 400 (BadInput) for a format sent that ``report`` does not offer.

    z3c.form would drop an unknown choice silently and ask again.
    """
    sent = request.form.get(f"form.widgets.{FORMAT_FIELD}")
    if sent is None:
        return
    values = list(sent) if isinstance(sent, (list, tuple)) else [sent]
    if len(values) != 1:
        raise validation.BadInput(f"{FORMAT_FIELD}: choose one format, not {len(values)}")
    check_format(report, values[0])


def as_text(field, value):
    """Turn a form value back into the text ``submit`` checks, as from any client."""
    if value is None:
        return None
    if IBool.providedBy(field):
        return "yes" if value else "no"
    if IChoice.providedBy(field):
        return field.vocabulary.getTerm(value).token
    return str(value)
