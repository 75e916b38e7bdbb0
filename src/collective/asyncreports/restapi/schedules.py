"""``@report-schedules``: make, list, read, edit, pause, resume, run now and
delete schedules (issue 15).

Every rule is ``scheduling.py``'s, as in the ZMI's Schedules tab and Plone's
My schedules: a schedule is made as the current user after every check a
submission passes, one ``(field, message)`` per problem; owners see and
change their own schedules, those who manage the queue every one
(``actions.viewer``). This module turns JSON into their arguments and their
answers and errors into JSON.

- ``GET {site}/@report-schedules``: the user's schedules (managers: all,
  ``owner`` to narrow them).
- ``POST {context}/@report-schedules``: a schedule of a report on the context.
- ``GET``, ``PATCH``, ``DELETE {site}/@report-schedules/{id}``.
- ``POST {site}/@report-schedules/{id}/pause``, ``/resume``, ``/run-now``.
"""

import time

from plone import api
from plone.restapi.batching import HypermediaBatch

from collective.asyncreports import actions
from collective.asyncreports import rows
from collective.asyncreports import scheduling
from collective.asyncreports import validation
from collective.asyncreports.errors import InvalidSchedule
from collective.asyncreports.errors import ScheduleNotFound
from collective.asyncreports.plone.browser.repeat import site_timezone
from collective.asyncreports.queue.schedules import RUN_ONCE
from collective.asyncreports.restapi.common import bad_request
from collective.asyncreports.restapi.common import batch_size
from collective.asyncreports.restapi.common import body
from collective.asyncreports.restapi.common import job_url
from collective.asyncreports.restapi.jobs import ChangingService
from collective.asyncreports.restapi.jobs import JobsService
from collective.asyncreports.targets import path_of


SCHEDULES = "@report-schedules"
MAX_SCHEDULE_ID = 40
FIELDS = ("report", "parameters", "format", "cron", "timezone", "missed")
STATE_CHANGES = {"pause": scheduling.pause, "resume": scheduling.resume}


def schedules_url():
    return f"{api.portal.get().absolute_url()}/{SCHEDULES}"


def schedule_url(schedule_id):
    return f"{schedules_url()}/{schedule_id}"


def serialize_schedule(schedule, request):
    """The JSON of ``schedule``: ``scheduling.schedule_json`` (times in ISO
    8601, UTC) with links, less the Zope paths of its queue and owner's folder."""
    data = scheduling.schedule_json(schedule)
    last_job = data["last_job_id"]
    return {
        "@id": schedule_url(schedule.id),
        "@type": "AsyncReportSchedule",
        "id": schedule.id,
        "report": data["report"],
        "title": rows.report_title(schedule.report),
        "path": data["path"],
        "target": {"@id": request.physicalPathToURL(schedule.path)},
        "owner": data["owner"],
        "parameters": data["params"],
        "format": data["format"],
        "cron": data["cron"],
        "timezone": data["timezone"],
        "missed": data["missed"],
        "enabled": data["enabled"],
        "paused_reason": data["paused_reason"] or None,
        "created": data["created"],
        "next_run": data["next_run"],
        "last_run": data["last_run"],
        "last_job": {"@id": job_url(last_job), "id": last_job} if last_job else None,
        "fired_count": data["fired_count"],
        "last_refusal": data["last_refusal"] or None,
    }


class SchedulesService(JobsService):
    """JobsService's errors and traversal (the path after the endpoint in
    ``self.params``), plus a schedule's: one entry per problem, 404 for none."""

    def answer(self, queue, who):
        try:
            return self.schedules_answer(queue, who)
        except InvalidSchedule as exc:
            return bad_request(self.request, str(exc), exc.errors)
        except ScheduleNotFound:
            raise self.not_found() from None

    def schedules_answer(self, queue, who):
        raise NotImplementedError

    def schedule_id(self):
        """The ``{id}`` of ``{site}/@report-schedules/{id}[/action]``; 404 elsewhere."""
        if not self.at_site or not 1 <= len(self.params) <= 2:
            raise self.not_found()
        return validation.text(self.params[0], "schedule id", max_length=MAX_SCHEDULE_ID)

    def schedule(self, schedule):
        return serialize_schedule(schedule, self.request)


class SchedulesGet(SchedulesService):

    def schedules_answer(self, queue, who):
        if not self.params:
            return self.listing(queue, who)
        if len(self.params) != 1:
            raise self.not_found()
        return self.schedule(scheduling.get(queue, self.schedule_id()))

    def listing(self, queue, who):
        """One batch of the schedules the user may see, by next run (paused last)."""
        if not self.at_site:
            raise self.not_found()
        form = self.request.form
        size = batch_size(self.request)
        start = validation.start(form.get("b_start"))
        owner = validation.optional_text(form.get("owner"), "owner", max_length=200)
        if owner not in (None, who.user_id):
            actions.require_manager(queue, "list other people's schedules")
        found = sorted((schedule for schedule in scheduling.listing(queue)
                        if owner is None or schedule.owner_id == owner),
                       key=lambda s: (not s.enabled, s.next_run or 0, s.id))
        form.update(b_start=start, b_size=size)
        batch = HypermediaBatch(self.request, found)
        data = {
            "@id": batch.canonical_url,
            "items_total": batch.items_total,
            "items": [self.schedule(schedule) for schedule in batch],
        }
        if batch.links:
            data["batching"] = batch.links
        return data


class SchedulesPost(ChangingService, SchedulesService):

    def schedules_answer(self, queue, who):
        if not self.params:
            return self.add(queue)
        schedule_id = self.schedule_id()
        action = self.params[1] if len(self.params) == 2 else None
        if action in STATE_CHANGES:
            return self.schedule(STATE_CHANGES[action](queue, schedule_id))
        if action == "run-now":
            return self.run_now(queue, who, schedule_id)
        raise self.not_found()

    def add(self, queue):
        """A schedule of a report on the context, as the current user: 201 + Location."""
        data = fields_of(body(self.request))
        name = validation.text(data.get("report"), "report", max_length=200)
        if not name:
            raise InvalidSchedule([("report", "required: which report to schedule")])
        schedule, note = scheduling.add_noted(
            queue, name, path_of(self.context), data.get("parameters") or {},
            data.get("cron"), site_timezone() if data.get("timezone") is None
            else data["timezone"], format=data.get("format"),
            missed=RUN_ONCE if data.get("missed") is None else data["missed"],
            typed=True)
        if note:  # the same schedule again: that one, 200, as for a job
            return {**self.schedule(schedule), "note": note}
        self.request.response.setStatus(201)
        self.request.response.setHeader("Location", schedule_url(schedule.id))
        return self.schedule(schedule)

    def run_now(self, queue, who, schedule_id):
        """Queue the schedule's job now, as its owner: 201 + Location of a new
        job, 200 for an identical one still waiting (it stands for this run),
        409 when the owner's submission is refused."""
        scheduling.get(queue, schedule_id)  # 404 or 401 for the caller first
        asked = time.time()
        try:
            job = scheduling.run_now(queue, schedule_id)
        except scheduling.REFUSALS as exc:
            self.request.response.setStatus(409)
            return {"type": "Conflict",
                    "message": f"schedule {schedule_id} cannot run now: {exc}"}
        if job.created >= asked:
            self.request.response.setStatus(201)
            self.request.response.setHeader("Location", job_url(job.id))
        return self.job(queue, who, job)


class SchedulesPatch(ChangingService, SchedulesService):

    def schedules_answer(self, queue, who):
        schedule_id = self.schedule_id()
        if len(self.params) != 1:
            raise self.not_found()
        data = fields_of(body(self.request))
        scheduling.get(queue, schedule_id)  # 404 or 401 before the body's problems
        return self.schedule(scheduling.edit(
            queue, schedule_id, report=data.get("report"), params=data.get("parameters"),
            cron=data.get("cron"), timezone=data.get("timezone"), format=data.get("format"),
            missed=data.get("missed"), typed=True))


class SchedulesDelete(ChangingService, SchedulesService):

    def schedules_answer(self, queue, who):
        schedule_id = self.schedule_id()
        if len(self.params) != 1:
            raise self.not_found()
        scheduling.remove(queue, schedule_id)
        return self.reply_no_content()


def fields_of(data):
    """The body's fields, checked for what scheduling.py does not check itself:
    no unknown field, parameters an object, the report a text.

    :raises InvalidSchedule: one entry per problem.
    """
    problems = [(name, "unknown field") for name in sorted(set(data) - set(FIELDS))]
    parameters = data.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        problems.append(("parameters", "must be an object"))
    for name in ("report", "format"):
        if data.get(name) is not None and not isinstance(data[name], str):
            problems.append((name, "must be a text"))
    if problems:
        raise InvalidSchedule(problems)
    return data
