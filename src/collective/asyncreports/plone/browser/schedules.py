"""Schedules in Plone: ``@@my-schedules``, Site Setup's ``@@asyncreports-schedules``,
and making one from a form.

The rules are ``scheduling.py``'s (the jobs' rule of ``actions.viewer``):
owners see and change their own schedules, those who manage the queue every
one; each change is a POST with Plone's authenticator (``csrf.check_post``).
"""

from urllib.parse import urlencode

from plone import api
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile
from Products.statusmessages.interfaces import IStatusMessage
from zExceptions import NotFound

from collective.asyncreports import rows
from collective.asyncreports import scheduling
from collective.asyncreports import validation
from collective.asyncreports.actions import viewer
from collective.asyncreports.csrf import check_post
from collective.asyncreports.errors import InvalidSchedule
from collective.asyncreports.errors import ScheduleNotFound
from collective.asyncreports.plone import _
from collective.asyncreports.plone.browser import OwnListView
from collective.asyncreports.plone.browser import local_time
from collective.asyncreports.plone.browser import site_queue
from collective.asyncreports.plone.browser.repeat import cron_for
from collective.asyncreports.plone.browser.repeat import in_words
from collective.asyncreports.plone.browser.repeat import show_problems
from collective.asyncreports.plone.browser.repeat import timing_widget
from collective.asyncreports.queue.schedules import timezone_problem


ACTIONS = {"pause": scheduling.pause, "resume": scheduling.resume,
           "remove": scheduling.remove}
DONE = {"pause": _("Paused schedule ${id}."), "resume": _("Resumed schedule ${id}."),
        "remove": _("Deleted schedule ${id}.")}
SCHEDULE_ID_LENGTH = 40


# -- making one from a form ----------------------------------------------------


def add_schedule(form, queue, report, path, params, data, format=None):
    """Make a schedule of ``report`` from a z3c.form's Repeat fields, as the current user.

    Problems are shown on their widgets (the timing's, the parameters'
    ``param.<name>``, ``format``), the rest in the form's status.

    :returns: ``(schedule, note)``; ``note`` says the user had this
        schedule already (a form sent twice makes one); None when refused.
    """
    repeat, zone = data.get("repeat"), data.get("timezone") or ""
    cron, problems = cron_for(data)
    try:
        if problems:  # no expression to check: say what else is wrong, too
            zone_problem = timezone_problem(zone)
            raise InvalidSchedule(problems + ([("timezone", zone_problem)]
                                              if zone_problem else []))
        return scheduling.add_noted(queue, report, path, params, cron, zone, format=format)
    except InvalidSchedule as exc:
        refuse(form, exc.errors, repeat)
        return None


def refuse(form, problems, repeat):
    """Show ``problems`` (``[(field, message)]``) on the form's widgets."""
    timing = timing_widget(repeat)

    def widget_of(name):
        if f"param.{name}" in form.widgets:
            return f"param.{name}"
        return "format" if name == "format" else timing(name)

    unplaced = show_problems(form, problems, widget_of)
    form.status = "; ".join([str(form.formErrorsMessage)] + unplaced)


def scheduled_message(schedule, saved=False):
    """'Scheduled: “Title”, daily at 06:00 (Europe/Berlin); next run <local time>.'
    ('Saved: ...' after an edit)."""
    words = in_words(schedule.cron)
    mapping = {
        "title": rows.report_title(schedule.report),
        "when": f"{words[:1].lower()}{words[1:]}",
        "timezone": schedule.timezone,
        "next_run": local_time(schedule.next_run) if schedule.next_run else _("none"),
    }
    if saved:
        return _("Saved: “${title}”, ${when} (${timezone}); next run ${next_run}.",
                 mapping=mapping)
    return _("Scheduled: “${title}”, ${when} (${timezone}); next run ${next_run}.",
             mapping=mapping)


def my_schedules_url(schedule=None):
    query = f"?{urlencode({'schedule': schedule.id})}" if schedule is not None else ""
    return f"{api.portal.get().absolute_url()}/@@my-schedules{query}"


# -- listings --------------------------------------------------------------------


def schedule_row(schedule, request):
    """What a Plone listing shows of ``schedule``."""
    portal_url = api.portal.get().absolute_url()
    return {
        "id": schedule.id,
        "report": schedule.report,
        "title": rows.report_title(schedule.report),
        "path": schedule.path,
        "target_url": request.physicalPathToURL(schedule.path),
        "owner": schedule.owner_id,
        "format": (schedule.format or "").upper(),
        "words": in_words(schedule.cron),
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "next": rows.moment(schedule.next_run, local_time),
        "last": rows.moment(schedule.last_run, local_time),
        "last_job_id": schedule.last_job_id,
        "last_job_url": (f"{portal_url}/@@asyncreports-job?"
                         + urlencode({"job": schedule.last_job_id})
                         if schedule.last_job_id else None),
        "enabled": schedule.enabled,
        "paused_reason": schedule.paused_reason,
        "edit_url": f"{portal_url}/@@edit-schedule?" + urlencode({"schedule": schedule.id}),
    }


def schedule_for(queue, schedule_id):
    """The schedule ``schedule_id`` the current user may see.

    :raises BadInput: no single short text. :raises NotFound: there is none.
    :raises Unauthorized: somebody else's, for who does not manage the queue.
    """
    schedule_id = validation.text(schedule_id, "schedule", max_length=SCHEDULE_ID_LENGTH)
    try:
        return scheduling.get(queue, schedule_id or "")
    except ScheduleNotFound:
        raise NotFound(f"no schedule with id {schedule_id!r}") from None


class SchedulesView(OwnListView):
    """A list of schedules with Pause/Resume, Run now, Edit and Delete (POST)."""

    table = ViewPageTemplateFile("templates/schedules_table.pt")
    view_name = None
    show_owner = False

    def query(self):
        form = self.request.form
        return {
            "schedule": validation.text(form.get("schedule"), "schedule",
                                        max_length=SCHEDULE_ID_LENGTH),
        }

    def schedules(self):
        """The schedules this page lists (``scheduling.listing``, narrowed)."""
        raise NotImplementedError

    def listing(self):
        return {
            "rows": [schedule_row(schedule, self.request) for schedule in sorted(
                self.schedules(), key=lambda s: (not s.enabled, s.next_run or 0, s.id))],
            "highlight": self.query()["schedule"],
            "url": self.url(),
        }

    def url(self):
        return f"{api.portal.get().absolute_url()}/@@{self.view_name}"

    def apply_action(self):
        """Pause, resume, run now or delete one schedule (``action``, ``schedule_id``)."""
        check_post(self.request)
        form, queue = self.request.form, site_queue()
        action = validation.one_of(form.get("action"), "action", (*ACTIONS, "run_now"))
        schedule = schedule_for(queue, form.get("schedule_id"))
        shown = schedule.id
        if action == "run_now":
            try:
                job = scheduling.run_now(queue, schedule.id)
            except scheduling.REFUSALS as exc:
                message = _("Schedule ${id} cannot run now: ${reason}",
                            mapping={"id": schedule.id, "reason": str(exc)})
            else:
                message = _("Queued job ${job} of schedule ${id}; see My reports.",
                            mapping={"job": job.id, "id": schedule.id})
        else:
            ACTIONS[action](queue, schedule.id)
            message = _(DONE[action], mapping={"id": schedule.id})
            shown = None if action == "remove" else shown
        IStatusMessage(self.request).add(message, type="info")
        query = f"?{urlencode({'schedule': shown})}" if shown else ""
        self.request.response.redirect(self.url() + self.back_query(query))
        return ""

    def back_query(self, query):
        return query


class MySchedulesView(SchedulesView):
    """``@@my-schedules``: the current user's own schedules (managers' too: only theirs)."""

    index = ViewPageTemplateFile("templates/myschedules.pt")
    view_name = "my-schedules"

    def schedules(self):
        user_id = viewer(site_queue()).user_id
        return [s for s in scheduling.listing(site_queue()) if s.owner_id == user_id]


class SiteSchedulesView(SchedulesView):
    """Site Setup › Async reports › Schedules: every schedule, filtered by owner."""

    index = ViewPageTemplateFile("templates/queue_schedules.pt")
    view_name = "asyncreports-schedules"
    show_owner = True

    def query(self):
        query = super().query()
        query["owner"] = validation.text(self.request.form.get("owner"), "owner",
                                         max_length=200)
        return query

    def schedules(self):
        owner = self.query()["owner"]
        return [s for s in scheduling.listing(site_queue()) if not owner or s.owner_id == owner]

    def owners(self):
        return sorted({s.owner_id for s in scheduling.listing(site_queue())})

    def back_query(self, query):
        owner = self.request.form.get("owner")
        if isinstance(owner, str) and owner:
            return (query + "&" if query else "?") + urlencode({"owner": owner})
        return query
