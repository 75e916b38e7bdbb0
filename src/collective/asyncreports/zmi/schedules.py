"""The ZMI queue's Schedules tab: list, create, edit, pause, resume, delete, run now.

A mixin of ``AsyncReportQueue``. The rules are ``scheduling.py``'s: managers
see and change every schedule, others their own; each change is a POST with
the form token; bad input is a 400 with one message per problem.
"""

from urllib.parse import urlencode

from AccessControl import ClassSecurityInfo
from AccessControl.class_init import InitializeClass
from Products.PageTemplates.PageTemplateFile import PageTemplateFile
from zExceptions import NotFound
from ZPublisher import zpublish

from collective.asyncreports import rows
from collective.asyncreports import scheduling
from collective.asyncreports import validation
from collective.asyncreports.actions import viewer
from collective.asyncreports.csrf import check_post
from collective.asyncreports.errors import InvalidSchedule
from collective.asyncreports.errors import ScheduleNotFound
from collective.asyncreports.permissions import QueueReport
from collective.asyncreports.queue.schedules import MISSED_POLICIES
from collective.asyncreports.queue.schedules import RUN_ONCE
from collective.asyncreports.reports.registry import get_report
from collective.asyncreports.reports.registry import queueable_report_types
from collective.asyncreports.targets import MAX_PATH_LENGTH
from collective.asyncreports.targets import site_of
from collective.asyncreports.zmi import forms


ACTIONS = {"pause": scheduling.pause, "resume": scheduling.resume,
           "remove": scheduling.remove}
ERRORS = "asyncreports_schedule_errors"


def _local_time(timestamp):
    from collective.asyncreports.zmi.queue import local_time
    return local_time(timestamp)


def _report_title(name):
    try:
        return get_report(name).title
    except Exception:  # a report type that is gone: its name
        return name


class SchedulesTab:
    """The Schedules tab's pages and POST methods."""

    security = ClassSecurityInfo()

    _schedules_page = PageTemplateFile("www/schedules.zpt", globals(),
                                       __name__="schedules")

    @zpublish(False)
    @security.protected(QueueReport)
    def schedule_rows(self):
        """The schedules the current user may see, as rows for the tab."""
        manager = viewer(self).manager
        return [dict(
            scheduling.schedule_json(schedule),
            report_title=_report_title(schedule.report),
            next=rows.moment(schedule.next_run, _local_time),
            last=rows.moment(schedule.last_run, _local_time),
            last_job_url=(f"manage_job?{urlencode({'job_id': schedule.last_job_id})}"
                          if schedule.last_job_id else None),
            mine=schedule.owner_id == viewer(self).user_id or manager,
        ) for schedule in scheduling.listing(self)]

    @zpublish(False)
    @security.protected(QueueReport)
    def schedule_form(self, REQUEST):
        """The create (or, with ``schedule_id``, edit) form's values and widgets."""
        form = REQUEST.form
        editing = None
        if form.get("schedule_id"):
            editing = self._schedule(form.get("schedule_id"))
        values = _form_values(form, editing, self._site_path())
        reports = queueable_report_types(self)
        chosen = values["report"] or (reports[0][0] if reports else "")
        report = dict(reports).get(chosen) or (
            _known_report(chosen) if editing is not None else None)
        filled = dict(form)
        if editing is not None:
            for name, value in editing.params.items():
                filled.setdefault(forms.PARAM_PREFIX + name, str(value))
            filled.setdefault(forms.FORMAT_FIELD, editing.format)
        errors = REQUEST.other.get(ERRORS, {})
        return dict(
            values,
            report=chosen,
            editing=editing is not None,
            reports=[{"name": n, "title": r.title} for n, r in reports],
            widgets=forms.widgets(report, filled, errors) if report else [],
            formats=forms.format_options(report, filled) if report else [],
            policies=MISSED_POLICIES,
            errors=errors,
        )

    @zpublish(methods=("GET", "HEAD", "POST"))
    @security.protected(QueueReport)
    def manage_schedules(self, REQUEST=None, **kw):
        """The Schedules tab: the list and a form to create or edit one."""
        if REQUEST is not None:
            self.schedule_form(REQUEST)  # bad values are a 400 before rendering
        return self._schedules_page(shared=self._shared.macros, **kw)

    @zpublish(methods="POST")
    @security.protected(QueueReport)
    def manage_addSchedule(self, REQUEST):
        """Make a schedule owned by the current user."""
        check_post(REQUEST, self._csrf_secret)
        values = _form_values(REQUEST.form)
        try:
            schedule = scheduling.add(
                self, values["report"], values["path"], forms.raw_parameters(REQUEST.form),
                values["cron"], values["timezone"], format=REQUEST.form.get("format"),
                missed=values["missed"])
        except InvalidSchedule as exc:
            return self._refused(REQUEST, exc)
        return self._schedules_redirect(REQUEST, f"Added schedule {schedule.id}.")

    @zpublish(methods="POST")
    @security.protected(QueueReport)
    def manage_editSchedule(self, REQUEST):
        """Save the edit form of a schedule."""
        check_post(REQUEST, self._csrf_secret)
        schedule = self._schedule(REQUEST.form.get("schedule_id"))
        values = _form_values(REQUEST.form, schedule)
        try:
            scheduling.edit(
                self, schedule.id, report=values["report"], path=values["path"],
                params=forms.raw_parameters(REQUEST.form), cron=values["cron"],
                timezone=values["timezone"], format=REQUEST.form.get("format"),
                missed=values["missed"])
        except InvalidSchedule as exc:
            return self._refused(REQUEST, exc)
        return self._schedules_redirect(REQUEST, f"Saved schedule {schedule.id}.")

    @zpublish(methods="POST")
    @security.protected(QueueReport)
    def manage_scheduleAction(self, schedule_id=None, action=None, REQUEST=None):
        """Pause, resume, remove or run now one schedule."""
        check_post(REQUEST, self._csrf_secret)
        action = validation.one_of(action, "action", (*ACTIONS, "run_now"))
        schedule = self._schedule(schedule_id)
        if action == "run_now":
            try:
                job = scheduling.run_now(self, schedule.id)
            except scheduling.REFUSALS as exc:
                message = f"Schedule {schedule.id} cannot run now: {exc}"
            else:
                message = f"Queued job {job.id} of schedule {schedule.id}."
        else:
            ACTIONS[action](self, schedule.id)
            message = {"pause": "Paused", "resume": "Resumed",
                       "remove": "Removed"}[action] + f" schedule {schedule.id}."
        return self._schedules_redirect(REQUEST, message)

    def _site_path(self):
        return "/".join(site_of(self).getPhysicalPath()) or "/"

    def _schedule(self, schedule_id):
        schedule_id = validation.text(schedule_id, "schedule id", max_length=40)
        try:
            return scheduling.get(self, schedule_id)
        except ScheduleNotFound as exc:
            raise NotFound(str(exc)) from None

    def _refused(self, request, exc):
        request.other[ERRORS] = dict(exc.errors)
        request.RESPONSE.setStatus(400)
        return self.manage_schedules()

    def _schedules_redirect(self, request, message):
        query = urlencode({"manage_tabs_message": message})
        request.RESPONSE.redirect(f"{self.absolute_url()}/manage_schedules?{query}")
        return message


InitializeClass(SchedulesTab)


def _known_report(name):
    try:
        return get_report(name)
    except Exception:
        return None


def _form_values(form, schedule=None, default_path="/"):
    """The form's own fields, checked as text (``BadInput``: a 400); those not
    sent are the schedule's (or the defaults)."""
    def text(name, label, default, max_length=200):
        value = form.get(name)
        if value is None:
            return default
        return validation.text(value, label, max_length=max_length)

    return {
        "schedule_id": getattr(schedule, "id", ""),
        "report": text("report", "report", getattr(schedule, "report", "")),
        "path": text("path", "target path", getattr(schedule, "path", default_path),
                     max_length=MAX_PATH_LENGTH),
        "cron": text("cron", "cron expression", getattr(schedule, "cron", "0 6 * * 1")),
        "timezone": text("timezone", "time zone", getattr(schedule, "timezone", "UTC"),
                         max_length=64),
        "missed": text("missed", "missed ticks", getattr(schedule, "missed", RUN_ONCE)),
    }

