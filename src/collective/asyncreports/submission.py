"""Queueing a job: every check a submission must pass, in one place.

The ZMI Submit tab, the CLI and the Plone forms all call ``submit``; the job is
recorded in the caller's transaction, so an aborted request leaves no job;
``events.JobQueued`` is fired in it.
"""

import time
from typing import NamedTuple

from AccessControl import Unauthorized
from AccessControl import getSecurityManager
from Acquisition import aq_inner
from Acquisition import aq_parent

from collective.asyncreports import events
from collective.asyncreports.errors import InvalidJobRequest
from collective.asyncreports.errors import TooManyJobs
from collective.asyncreports.i18n import _
from collective.asyncreports.i18n import say
from collective.asyncreports.permissions import View
from collective.asyncreports.queue.settings import SETTINGS
from collective.asyncreports.reports.formats import check_format
from collective.asyncreports.reports.registry import get_report
from collective.asyncreports.reports.registry import may_queue
from collective.asyncreports.reports.registry import parse_parameters
from collective.asyncreports.reports.registry import validate_parameters
from collective.asyncreports.targets import path_of
from collective.asyncreports.targets import resolve_target
from collective.asyncreports.targets import site_of


def authorize(queue, name, target):
    """Check that the current user may have the report ``name`` made of ``target``.

    The one rule, at submit time and again in the worker as the job's owner:
    the report's permission (``may_queue``), View on the target, and the
    report's ``available(target)``. Returns the report type; raises
    Unauthorized, or InvalidJobRequest (UnknownReport among them).
    """
    report = get_report(name)
    if not may_queue(report, queue, target):
        raise Unauthorized(say(_(
            "${user} may not queue the report ${report} here: it needs the permission "
            "${permission}", mapping={"user": _user_id(), "report": repr(name),
                                      "permission": repr(report.permission)})))
    if not getSecurityManager().checkPermission(View, target):
        raise Unauthorized(say(_("${user} may not view ${path}",
                                 mapping={"user": _user_id(), "path": repr(path_of(target))})))
    if not report.available(target):
        # A report may say why with an optional unavailable_reason(target).
        reason = getattr(report, "unavailable_reason", lambda target: None)(target)
        message = say(_("report ${report} is not available for ${path}",
                        mapping={"report": repr(name), "path": repr(path_of(target))}))
        raise InvalidJobRequest(message + (f": {say(reason)}" if reason else ""))
    return report


class Submitted(NamedTuple):
    """What a submission gave: the job, and ``note``, the sentence saying why
    it is an earlier job (identical, or its result reused); None for a new job
    or a repeated form post."""

    job: object
    note: object = None


def submit(queue, report_name, path, raw_params, dedup_key=None, priority=0,
           not_before=None, typed=False, format=None):
    """``submit_noted(...).job``: the Job, new or the earlier one."""
    return submit_noted(queue, report_name, path, raw_params, dedup_key=dedup_key,
                        priority=priority, not_before=not_before, typed=typed,
                        format=format).job


def submit_noted(queue, report_name, path, raw_params, dedup_key=None, priority=0,
                 not_before=None, typed=False, format=None):
    """Queue ``report_name`` on ``path`` for the current user; a Submitted.

    Nothing is queued (docs/user/limits.rst) when the user has
    a queued or running job of the same report, target, parameters and
    format, or a done one whose result is younger than the report's
    ``reuse_minutes``: that job is returned with a note. A new job is
    refused with TooManyJobs when the user has ``max_queued_per_user`` jobs
    waiting.

    ``raw_params`` maps parameter names to strings (form or CLI values); they
    are converted and validated against the report's schema. ``dedup_key``
    (e.g. a form token) makes a repeated submission return the first job.
    ``typed``: ``raw_params`` are values already (``api.enqueue``), checked
    as the worker checks them (``validate_parameters``). ``not_before``:
    epoch seconds before which the job does not run. ``format``: the
    result's format, one the report offers (``reports/formats.py``; None:
    its default).

    Raises Unauthorized when the user may not queue this report or view
    the target, and InvalidJobRequest (UnknownReport, InvalidPath,
    InvalidParameters; BadInput for a format the report does not offer;
    TooManyJobs) for bad input.
    """
    user = getSecurityManager().getUser()
    target, params, format = checked(queue, report_name, path, raw_params, typed, format)
    user_folder = aq_parent(aq_inner(user))
    if user_folder is None:
        raise InvalidJobRequest(say(_("jobs can only be queued by users from a user folder")))
    jobs = queue.job_queue()
    repeated = jobs.queued_with(dedup_key)
    if repeated is not None:  # a repeated form post: the same job, said nothing
        return Submitted(repeated)
    earlier = earlier_job(jobs, report_name, user.getId(), path_of(target), params, format)
    if earlier is not None:
        return earlier
    check_waiting(jobs, user.getId())
    job = jobs.enqueue(
        report_name,
        path_of(target),
        params,
        owner_id=user.getId(),
        owner_folder=path_of(user_folder),
        priority=priority,
        not_before=not_before,
        dedup_key=dedup_key,
        queue_path=path_of(queue),
        actor=user.getId(),
        format=format,
    )
    events.queued(queue, job)
    return Submitted(job)


def earlier_job(jobs, report_name, owner_id, path, params, format, now=None):
    """The owner's job that a new one would repeat, as a Submitted; or None.

    The one rule of deduplication: a queued or running job of the same
    report, target, parameters and format, else (when the report sets
    ``reuse_minutes``) a done one whose result is younger than that.
    """
    twin = jobs.active_twin(owner_id, report_name, path, params, format)
    if twin is not None:
        return Submitted(twin, say(_(
            "Job ${id} with the same report, target, parameters and format is ${state} "
            "already: no second one was queued.",
            mapping={"id": twin.id, "state": say(_(twin.state))})))
    minutes = getattr(get_report(report_name), "reuse_minutes", 0)
    if isinstance(minutes, int) and minutes > 0:
        since = (time.time() if now is None else now) - minutes * 60
        done = jobs.recent_result(owner_id, report_name, path, params, format, since)
        if done is not None:
            at = time.strftime("%H:%M UTC", time.gmtime(done.finished))
            return Submitted(done, say(_(
                "Job ${id} has the same report, target, parameters and format: a result "
                "from ${time} is reused.", mapping={"id": done.id, "time": at})))
    return None


def check_waiting(jobs, owner_id):
    """TooManyJobs if ``owner_id`` has ``max_queued_per_user`` jobs waiting (0: no cap)."""
    cap = SETTINGS.of(jobs)["max_queued_per_user"]
    waiting = jobs.queued_count(owner_id) if cap else 0
    if cap and waiting >= cap:
        raise TooManyJobs(say(_(
            "You have ${count} jobs waiting; wait for some to finish or cancel them.",
            mapping={"count": waiting})))


def checked(queue, report_name, path, raw_params, typed=False, format=None):
    """Every check of ``submit`` but the queuing: ``(target, params, format)``.

    Schedules (``scheduling.py``) check what they will queue with it.
    """
    report = get_report(report_name)
    try:
        target = resolve_target(site_of(queue), path)
    except InvalidJobRequest:
        if not may_queue(report, queue):
            # Who may not queue here learns nothing about which paths exist.
            raise Unauthorized(say(_(
                "${user} may not queue the report ${report} here",
                mapping={"user": _user_id(), "report": repr(report_name)}))) from None
        raise
    authorize(queue, report_name, target)
    format = check_format(report, format)
    check = validate_parameters if typed else parse_parameters
    return target, check(report, raw_params, target), format


def _user_id():
    return getSecurityManager().getUser().getId()
