"""Who may see and act on a queue's jobs, and the actions themselves, for every UI.

The ZMI tabs, the Plone views and the REST API decide here, in one place:
managers (ManageQueue on the queue) see and act on every job, everybody else
on their own jobs only. Each action returns the sentence a UI shows.
"""

from typing import NamedTuple

from AccessControl import Unauthorized
from AccessControl import getSecurityManager
from zExceptions import NotFound
from zope.i18nmessageid import Message

from collective.asyncreports import events
from collective.asyncreports import validation
from collective.asyncreports.errors import AsyncReportsError
from collective.asyncreports.errors import InvalidJobRequest
from collective.asyncreports.errors import InvalidTransition
from collective.asyncreports.i18n import _
from collective.asyncreports.i18n import say
from collective.asyncreports.permissions import ManageQueue
from collective.asyncreports.submission import submit_noted


class Viewer(NamedTuple):
    """The current user as a queue sees them."""

    user_id: str
    manager: bool

    def may_see(self, job):
        """Managers see every job, others their own; the same for schedules
        (anything with an ``owner_id``: ``scheduling.py``)."""
        return self.manager or job.owner_id == self.user_id


def viewer(queue):
    """The current user, and whether they manage ``queue``."""
    security = getSecurityManager()
    return Viewer(security.getUser().getId(),
                  bool(security.checkPermission(ManageQueue, queue)))


def job_for(queue, job_id, name="job id"):
    """The job ``job_id`` if the current user may see it (a job page).

    :raises BadInput: no single short text.
    :raises NotFound: there is no such job.
    :raises Unauthorized: it is somebody else's and the user does not
        manage the queue.
    """
    job_id, jobs = validation.job_id(job_id, name), queue.job_queue()
    if not job_id or job_id not in jobs:
        raise NotFound(say(_("no job with id ${id}", mapping={"id": repr(job_id)})))
    job = jobs.get(job_id)
    if not viewer(queue).may_see(job):
        raise Unauthorized(say(_("you may not see job ${id}", mapping={"id": job_id})))
    return job


JOB_ACTIONS = ("cancel", "retry", "run_again", "keep", "unkeep")


def job_action(queue, job_id, action):
    """Run one action of a job's page: ``cancel``, ``retry``, ``run_again``,
    ``keep`` or ``unkeep``.

    Returns ``(message, job id to show next)``: the same job, or the new one
    for *Run again*.

    :raises BadInput: an unknown action.
    :raises NotFound, Unauthorized: see ``job_for``; also *Retry* by
        somebody who does not manage the queue, and *Run again* by somebody
        who may no longer queue that report there.
    """
    action = validation.one_of(action, "action", JOB_ACTIONS)
    job = job_for(queue, job_id)
    if action == "cancel":
        return cancel(queue, [job.id]), job.id
    if action == "retry":
        require_manager(queue, _("retry jobs"))
        return retry(queue, [job.id]), job.id
    if action in ("keep", "unkeep"):
        return keep_job(queue, job.id, action == "keep"), job.id
    try:
        new, note = run_again_noted(queue, job)
    except InvalidJobRequest as exc:  # the report, target or parameters no longer pass
        return say(_("Job ${id} cannot run again: ${reason}",
                     mapping={"id": job.id, "reason": exc})), job.id
    if new.id == job.id or note:
        return note, new.id
    return say(_("Queued job ${new}, a new run of job ${id}.",
                 mapping={"new": new.id, "id": job.id})), new.id


def require_manager(queue, what):
    """Unauthorized unless the current user manages ``queue``.

    :param what: what they tried, for the message ("retry jobs").
    """
    if not viewer(queue).manager:
        raise Unauthorized(say(_("only those who manage the queue may ${what}",
                                 mapping={"what": say(what)})))


def cancel_job(queue, job_id):
    """Cancel one job the current user may see (``job_for``); returns it.

    :raises InvalidTransition: it has ended already.
    """
    job = job_for(queue, job_id)
    _cancel(queue, job.id, viewer(queue).user_id)
    return job


def retry_job(queue, job_id):
    """Queue one failed or cancelled job again; managers only. Returns it.

    :raises InvalidTransition: it did not fail and was not cancelled.
    """
    job = job_for(queue, job_id)
    require_manager(queue, _("retry jobs"))
    queue.job_queue().retry(job.id, actor=viewer(queue).user_id)
    return job


def keep_job(queue, job_id, keep=True):
    """Mark a job "keep" (retention never purges it) or take the mark off:
    its owner or a manager (``job_for``). Returns the sentence to show."""
    job = job_for(queue, job_id)
    queue.job_queue().set_keep(job.id, keep, actor=viewer(queue).user_id)
    if keep:
        return say(_("Job ${id} is kept: it is not purged when it gets old.",
                     mapping={"id": job.id}))
    return say(_("Job ${id} is no longer kept: it is purged after the retention time.",
                 mapping={"id": job.id}))


def delete_job(queue, job_id):
    """Delete one finished job and its result: the owner's own, or any for
    managers (the rule of My reports and of the queue view's purge).

    :raises InvalidTransition: it has not finished (cancel it first).
    """
    job = job_for(queue, job_id)
    if not job.is_final:
        raise InvalidTransition(f"job {job.id} has not finished yet (cancel it first)")
    queue.purge(job_ids=[job.id])
    return job


def run_again(queue, job):
    """Queue ``job``'s report on its target with its parameters again, as the
    current user, through ``submission.submit``: every check runs again (the
    report may be gone, the user may have lost the right, the target moved;
    the stored values are checked as the worker checks them).

    :raises Unauthorized, InvalidJobRequest: as ``submit`` does.
    """
    return run_again_noted(queue, job).job


def run_again_noted(queue, job):
    """``run_again``, as a ``submission.Submitted`` (an identical job waiting, or
    a recent result reused, comes with its note)."""
    return submit_noted(queue, job.report, job.path, dict(job.params),
                        priority=job.priority, format=job.format, typed=True)


def delete_own(queue, job_ids):
    """Delete the current user's own finished jobs and their results (My reports).

    Only final jobs, only the user's own, managers too (they purge any job
    from the queue view).

    :raises Unauthorized: a job id of somebody else's job (nothing is
        deleted then).
    """
    who, jobs = viewer(queue), queue.job_queue()
    ids = validation.job_ids(job_ids)
    mine, problems = [], []
    for job_id in ids:
        if job_id not in jobs:
            problems.append(f"{job_id}: {say(_('no such job'))}")
            continue
        job = jobs.get(job_id)
        if job.owner_id != who.user_id:
            raise Unauthorized(say(_("you may not delete job ${id}", mapping={"id": job_id})))
        if job.is_final:
            mine.append(job_id)
        else:
            problems.append(f"{job_id}: {say(_('not finished yet (cancel it first)'))}")
    if not ids:
        return say(_("Choose jobs to delete."))
    deleted = queue.purge(job_ids=mine) if mine else []
    return (say(_("Deleted ${count} job(s) and their results.", mapping={"count": len(deleted)}))
            + "".join(f" {problem}." for problem in problems))


def cancel(queue, job_ids):
    """Cancel jobs: managers any job, other users only their own.

    :raises Unauthorized: a non-manager names somebody else's job (nothing
        is cancelled then).
    """
    who, jobs = viewer(queue), queue.job_queue()
    job_ids = validation.job_ids(job_ids)
    for job_id in job_ids:
        if job_id in jobs and not who.may_see(jobs.get(job_id)):
            raise Unauthorized(say(_("you may not cancel job ${id}", mapping={"id": job_id})))
    return _each(job_ids, lambda job_id, actor: _cancel(queue, job_id, actor),
                 _("Cancelled ${count} job(s)."), who.user_id)


def _cancel(queue, job_id, actor):
    """Cancel one job; a queued one is cancelled now, in this transaction:
    JobCancelled (a running one when its worker stops it)."""
    events.ended(queue, queue.job_queue().cancel(job_id, actor=actor))


def retry(queue, job_ids):
    """Queue failed or cancelled jobs again (the caller checks ManageQueue)."""
    jobs = queue.job_queue()
    return _each(validation.job_ids(job_ids), jobs.retry, _("Requeued ${count} job(s)."),
                 viewer(queue).user_id)


def purge(queue, job_ids, older_than_days):
    """Remove the chosen finished jobs, or all finished more than N days ago."""
    ids = validation.job_ids(job_ids)
    days = validation.days(older_than_days)
    if not ids and days is None:
        return say(_("Choose jobs or an age to purge."))
    try:
        purged = queue.purge(job_ids=ids or None, older_than=None if ids else days * 86400)
    except AsyncReportsError as exc:
        return str(exc)
    return say(_("Purged ${count} job(s) and their results.", mapping={"count": len(purged)}))


def _each(job_ids, operation, done_message, actor):
    done, problems = 0, []
    for job_id in job_ids:
        try:
            operation(job_id, actor=actor)
        except AsyncReportsError as exc:
            problems.append(f"{job_id}: {exc}")
        else:
            done += 1
    summary = say(Message(done_message, mapping={"count": done}))
    return summary + "".join(f" {problem}." for problem in problems)
