"""The authors' API: queue reports from add-on code, look jobs up, and, inside a
running report, say how far it got and notice that it was cancelled.

Module functions in the style of plone.api; they work in a plain Zope as in
Plone::

    from collective.asyncreports import api

    job_id = api.enqueue("object-inventory", folder, {"depth": 2})
    api.get_job(job_id)["state"]             # 'queued'

    # inside a report's render():
    job = api.current_job()
    for number, row in enumerate(rows, 1):
        job.progress(number, len(rows), f"row {number}")  # JobCancelled once cancelled
"""

import math
from contextlib import contextmanager
from datetime import datetime
from types import MappingProxyType

from AccessControl import Unauthorized
from AccessControl import getSecurityManager
from AccessControl.SecurityManagement import newSecurityManager
from AccessControl.SecurityManagement import setSecurityManager
from Acquisition import aq_base
from Acquisition import aq_chain
from Acquisition import aq_inner
from zope.component.hooks import getSite
from zope.component.hooks import setSite
from zope.globalrequest import getRequest

from collective.asyncreports.actions import viewer
from collective.asyncreports.cli.arguments import MAX_PRIORITY
from collective.asyncreports.errors import InvalidJobRequest
from collective.asyncreports.errors import JobNotFound
from collective.asyncreports.errors import QueueNotFound
from collective.asyncreports.interfaces import IAsyncReportQueue
from collective.asyncreports.locations import queue_paths
from collective.asyncreports.results.errorlog import owner_text
from collective.asyncreports.rows import job_json
from collective.asyncreports.sites import nearest_site
from collective.asyncreports.submission import submit
from collective.asyncreports.targets import path_of
from collective.asyncreports.users import find_user
from collective.asyncreports.worker.progress import current_job as _current_job
from collective.asyncreports.worker.watchdog import JobCancelled


__all__ = ["JobCancelled", "JobNotFound", "QueueNotFound", "current_job", "enqueue", "get_job"]

# The id of a Plone site's queue (plone/queue.py; not imported: no Plone needed).
PLONE_QUEUE_ID = "portal_asyncreports"


def enqueue(report, target, parameters=None, user=None, priority=0, not_before=None,
            queue=None, format="pdf"):
    """Queue the report ``report`` on ``target``, with the checks of the forms.

    The job is recorded in the current transaction: it exists once that
    commits, and not at all if it aborts. Every check of a submitted form
    runs (``submission.submit``): the report's permission, View on the
    target, the report's ``available(target)``, the target inside the
    queue's site, and the parameters against the report's schema.

    :param report: name of the report type, e.g. ``"object-inventory"``.
    :param target: the object to report on, or its path (absolute, or
        relative to the queue's site).
    :param parameters: dict of parameter names to values of the types the
        report's schema asks for (``{"depth": 2}``); missing ones take their
        defaults. None for none.
    :param user: who queues it, and whom the report runs as: a user id or a
        user object, found in the user folders above the queue; the checks
        run as that user. Default: the current user.
    :param priority: whole number; higher runs first.
    :param not_before: when the job may run at the earliest: epoch seconds
        or a datetime with a time zone. Default: at once.
    :param queue: the queue (an ``IAsyncReportQueue``) or its path. Default:
        the nearest one: the site's ``portal_asyncreports`` in Plone, else
        the only queue of the database.
    :param format: the result's format: ``"pdf"``, ``"csv"`` or ``"xlsx"``,
        one the report offers (its ``formats``); None: the report's default.
    :returns: the new job's id (text).
    :raises collective.asyncreports.errors.UnknownReport: no such report type.
    :raises collective.asyncreports.errors.InvalidPath: the target is
        malformed, missing or outside the queue's site.
    :raises collective.asyncreports.errors.InvalidParameters: listing each
        parameter's problem.
    :raises collective.asyncreports.errors.UnknownUser: no such user above the queue.
    :raises collective.asyncreports.errors.QueueNotFound: no queue there, or
        none or several to choose from.
    :raises collective.asyncreports.errors.InvalidJobRequest: ``priority``
        or ``not_before`` is wrong (one message for each), the report is
        not available for the target, or it does not offer ``format``.
    :raises AccessControl.Unauthorized: the user may not queue this report
        here or may not view the target.

    Like every submission (docs/user/limits.rst): when the
    user has a queued or running job of the same report, target, parameters
    and format, or a done one whose result is younger than the report's
    ``reuse_minutes``, that job's id is returned and nothing is queued; past
    ``max_queued_per_user`` waiting jobs it raises TooManyJobs (an
    InvalidJobRequest).
    """
    problems = [problem for problem in (_priority_problem(priority),
                                        _not_before_problem(not_before)) if problem]
    if problems:
        raise InvalidJobRequest("; ".join(problems))
    queue = _queue(queue, target)
    if isinstance(not_before, datetime):
        not_before = not_before.timestamp()
    path = target if isinstance(target, str) else _path_of(target)
    with _site_of(queue), _acting_as(user, queue):
        job = submit(queue, report, path, parameters, priority=priority,
                     not_before=not_before, typed=True, format=format)
    return job.id


def get_job(job_id, queue=None):
    """Look a job up: what ``asyncreports show JOBID --json`` prints.

    Owners see their own jobs, those who manage the queue every job; others'
    error messages and history details have server paths trimmed, as in
    every listing. While the job runs, ``progress`` and ``progress_message``
    are its report's latest (written by its worker once a second).

    :param job_id: the id ``enqueue`` returned.
    :param queue: the queue or its path; default as for ``enqueue``.
    :returns: a read-only mapping: ``id``, ``state``, ``report``, ``path``,
        ``params``, ``owner``, ``attempts``, ``progress``, ``progress_message``,
        ``created``, ``started``, ``finished`` (ISO 8601, UTC), ``result_url``,
        ``error_url``, ``error_message``, ``cancel_requested``, ``history``...
    :raises collective.asyncreports.errors.JobNotFound: no such job.
    :raises collective.asyncreports.errors.QueueNotFound: see ``enqueue``.
    :raises AccessControl.Unauthorized: it is somebody else's job and the
        current user does not manage the queue.
    """
    queue = _queue(queue, None)
    job = queue.job_queue().get(job_id)  # JobNotFound, also for a non-text id
    who = viewer(queue)
    if not who.may_see(job):
        raise Unauthorized(f"{who.user_id} may not see job {job.id}")
    data = job_json(job, queue)
    if not who.manager:
        data["error_message"] = owner_text(data["error_message"])
        for event in data["history"]:
            event["detail"] = owner_text(event.get("detail") or "")
    return _frozen(data)


def current_job():
    """The job whose report runs in this thread, for report code.

    :returns: a handle with ``id``, ``attempt``, ``owner_id``,
        ``progress(done, total=None, message="")`` and ``cancelled()``; None
        outside a running report. ``progress`` raises ``JobCancelled`` once
        a cancel was requested: let it propagate, the job ends cancelled
        with no result. Report code that never calls it is interrupted all
        the same (within about a second of the request).
    """
    return _current_job()


# -- helpers -------------------------------------------------------------------


def _path_of(target):
    if not callable(getattr(target, "getPhysicalPath", None)):
        raise InvalidJobRequest(
            f"target must be an object or its path, not {type(target).__name__}")
    return path_of(target)


def _priority_problem(priority):
    if isinstance(priority, bool) or not isinstance(priority, int):
        return f"priority must be a whole number (got {type(priority).__name__})"
    if abs(priority) > MAX_PRIORITY:
        return f"priority must lie between -{MAX_PRIORITY} and {MAX_PRIORITY} (got {priority})"
    return None


def _not_before_problem(not_before):
    if not_before is None:
        return None
    if isinstance(not_before, datetime):
        if not_before.tzinfo is None:
            return "not_before: a datetime needs a time zone (e.g. datetime.timezone.utc)"
        return None
    if isinstance(not_before, bool) or not isinstance(not_before, (int, float)):
        return ("not_before must be epoch seconds or a datetime "
                f"(got {type(not_before).__name__})")
    if not math.isfinite(not_before):
        return f"not_before must be a finite number (got {not_before})"
    return None


def _queue(queue, target):
    """The queue object asked for, or the nearest one (see ``enqueue``)."""
    if queue is not None and not isinstance(queue, str):
        if not IAsyncReportQueue.providedBy(aq_base(queue)):
            raise QueueNotFound(
                "queue must be an Async Report Queue or its path, "
                f"not {type(aq_base(queue)).__name__}")
        return queue
    anchor = _anchor(target)
    app = anchor.getPhysicalRoot()
    if queue is not None:
        return _queue_at(app, queue)
    for item in aq_chain(aq_inner(anchor)):
        if IAsyncReportQueue.providedBy(getattr(aq_base(item), PLONE_QUEUE_ID, None)):
            return getattr(item, PLONE_QUEUE_ID)
    paths = queue_paths(app._p_jar.root())
    if len(paths) != 1:
        raise QueueNotFound(
            f"pass queue=: there is no single queue to choose ({len(paths)} queues: "
            f"{', '.join(paths) or 'none'})")
    return _queue_at(app, paths[0])


def _anchor(target):
    """An object to find queues from: the target, the current site, the request's root."""
    if target is not None and callable(getattr(target, "getPhysicalRoot", None)):
        return target
    site = getSite()
    if site is not None and callable(getattr(site, "getPhysicalRoot", None)):
        return site
    parents = getattr(getRequest(), "other", {}).get("PARENTS") or ()
    if parents:
        return parents[-1]
    raise QueueNotFound("pass the queue (or the target) as an object: "
                        "there is no site or request to find a queue from")


def _queue_at(app, path):
    if not isinstance(path, str):
        raise QueueNotFound(f"queue path must be text, not {type(path).__name__}")
    found = app.unrestrictedTraverse(path.lstrip("/"), None)
    # The queue itself, not something that acquires from it (/asyncreports/results).
    if found is None or not IAsyncReportQueue.providedBy(aq_base(found)):
        raise QueueNotFound(f"no Async Report Queue at {path!r}")
    return found


@contextmanager
def _site_of(queue):
    """The queue's site as the current site, if none is set (a script): its
    local components (Plone's report types) are found then."""
    if getSite() is not None:
        yield
        return
    setSite(nearest_site(queue))
    try:
        yield
    finally:
        setSite(None)


@contextmanager
def _acting_as(user, queue):
    """Run the block as ``user`` (an id or a user object); None: as the current user.

    Like plone.api's ``env.adopt_user``, in plain Zope too: the user is found
    in the user folders above the queue, and the security manager put back
    whatever happens.
    """
    if user is None:
        yield
        return
    if isinstance(user, str):
        user_id = user
    elif callable(getattr(user, "getId", None)):
        user_id = user.getId()
    else:
        raise InvalidJobRequest(f"user must be a user id or a user object, "
                                f"not {type(user).__name__}")
    found = find_user(queue, user_id)
    before = getSecurityManager()
    newSecurityManager(getRequest(), found)
    try:
        yield
    finally:
        setSecurityManager(before)


def _frozen(value):
    """``value`` with every dict read-only and every list a tuple."""
    if isinstance(value, dict):
        return MappingProxyType({key: _frozen(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    return value

