"""Queueing a job: every check a submission must pass, in one place.

The ZMI Submit tab, the CLI and the Plone forms all call ``submit``; the job is
recorded in the caller's transaction, so an aborted request leaves no job.
"""

from AccessControl import Unauthorized
from AccessControl import getSecurityManager
from Acquisition import aq_inner
from Acquisition import aq_parent

from collective.asyncreports.errors import InvalidJobRequest
from collective.asyncreports.permissions import View
from collective.asyncreports.reports.registry import get_report
from collective.asyncreports.reports.registry import parse_parameters
from collective.asyncreports.targets import path_of
from collective.asyncreports.targets import resolve_target
from collective.asyncreports.targets import site_of


def submit(queue, report_name, path, raw_params, dedup_key=None, priority=0):
    """Queue ``report_name`` on ``path`` for the current user.

    ``raw_params`` maps parameter names to strings (form or CLI values); they
    are converted and validated against the report's schema. ``dedup_key``
    (e.g. a form token) makes a repeated submission return the first job.

    Returns the Job. Raises Unauthorized when the user may not queue this
    report or view the target, and InvalidJobRequest (UnknownReport,
    InvalidPath, InvalidParameters) for bad input.
    """
    security = getSecurityManager()
    user = security.getUser()
    report = get_report(report_name)
    if not security.checkPermission(report.permission, queue):
        raise Unauthorized(f"you may not queue the report {report_name!r} here")
    target = resolve_target(site_of(queue), path)
    if not security.checkPermission(View, target):
        raise Unauthorized(f"you may not view {path_of(target)!r}")
    if not report.available(target):
        raise InvalidJobRequest(
            f"report {report_name!r} is not available for {path_of(target)!r}"
        )
    params = parse_parameters(report, raw_params, target)
    user_folder = aq_parent(aq_inner(user))
    if user_folder is None:
        raise InvalidJobRequest("jobs can only be queued by users from a user folder")
    return queue.job_queue().enqueue(
        report_name,
        path_of(target),
        params,
        owner_id=user.getId(),
        owner_folder=path_of(user_folder),
        priority=priority,
        dedup_key=dedup_key,
        queue_path=path_of(queue),
        actor=user.getId(),
    )
