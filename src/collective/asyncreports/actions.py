"""Who may see and act on a queue's jobs, and the actions themselves, for every UI.

The ZMI tabs, the Plone views (and later APIs) decide here, in one place:
managers (ManageQueue on the queue) see and act on every job, everybody else
on their own jobs only. Each action returns the sentence a UI shows.
"""

from typing import NamedTuple

from AccessControl import Unauthorized
from AccessControl import getSecurityManager

from collective.asyncreports import validation
from collective.asyncreports.errors import AsyncReportsError
from collective.asyncreports.permissions import ManageQueue


class Viewer(NamedTuple):
    """The current user as a queue sees them."""

    user_id: str
    manager: bool

    def may_see(self, job):
        """Managers see every job, others their own."""
        return self.manager or job.owner_id == self.user_id


def viewer(queue):
    """The current user, and whether they manage ``queue``."""
    security = getSecurityManager()
    return Viewer(security.getUser().getId(),
                  bool(security.checkPermission(ManageQueue, queue)))


def cancel(queue, job_ids):
    """Cancel jobs: managers any job, other users only their own.

    :raises Unauthorized: a non-manager names somebody else's job (nothing
        is cancelled then).
    """
    who, jobs = viewer(queue), queue.job_queue()
    job_ids = validation.job_ids(job_ids)
    for job_id in job_ids:
        if job_id in jobs and not who.may_see(jobs.get(job_id)):
            raise Unauthorized(f"you may not cancel job {job_id}")
    return _each(job_ids, jobs.cancel, "Cancelled", who.user_id)


def retry(queue, job_ids):
    """Queue failed or cancelled jobs again (the caller checks ManageQueue)."""
    jobs = queue.job_queue()
    return _each(validation.job_ids(job_ids), jobs.retry, "Requeued", viewer(queue).user_id)


def purge(queue, job_ids, older_than_days):
    """Remove the chosen finished jobs, or all finished more than N days ago."""
    ids = validation.job_ids(job_ids)
    days = validation.days(older_than_days)
    if not ids and days is None:
        return "Choose jobs or an age to purge."
    try:
        purged = queue.purge(job_ids=ids or None, older_than=None if ids else days * 86400)
    except AsyncReportsError as exc:
        return str(exc)
    return f"Purged {len(purged)} job(s) and their results."


def _each(job_ids, operation, verb, actor):
    done, problems = 0, []
    for job_id in job_ids:
        try:
            operation(job_id, actor=actor)
        except AsyncReportsError as exc:
            problems.append(f"{job_id}: {exc}")
        else:
            done += 1
    return f"{verb} {done} job(s)." + "".join(f" {problem}." for problem in problems)
