"""Jobs as plain dicts for templates and the JSON status endpoint."""

import time
from urllib.parse import urlencode

from plone import api

from collective.asyncreports.queue.position import standing
from collective.asyncreports.results.errorlog import owner_text


ACTIVE_STATES = ("queued", "running")


def when(timestamp):
    """Format epoch seconds for people, in UTC; '' for none."""
    if not timestamp:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def job_row(job, request, jobs, manager=False, served_with=((), ())):
    """Return what a listing shows of ``job``: state, progress, times and links.

    ``manager``: the viewer manages the queue, and sees error messages whole
    and a link to the full error log; others see server paths trimmed
    (results/errorlog.py). ``served_with``: the database's other JobQueues,
    (claimed before this one, after), for queue/position.py.
    """
    error_message = job.error_message or ""
    where = standing(job, jobs, *served_with)
    return {
        "id": job.id,
        "report": job.report,
        "path": job.path,
        "owner": job.owner_id,
        "state": job.state,
        "progress": int(job.progress or 0),
        "progress_message": job.progress_message,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "created": when(job.created),
        "started": when(job.started),
        "finished": when(job.finished),
        "error_message": error_message if manager else owner_text(error_message),
        "cancel_requested": job.cancel_requested,
        # What runs first and why it waits, or that it is claimed but not started.
        "position": where["ahead"],
        "state_label": where["label"],
        "state_text": where["text"],
        "result_url": _url(request, job.result_path),
        "error_url": _url(request, job.error_path),
        "full_error_url": (
            f"{api.portal.get().absolute_url()}/@@asyncreports-error-log?"
            + urlencode({"job": job.id}) if manager and job.error_path else None),
        "can_cancel": not job.is_final and not job.cancel_requested,
        "can_retry": job.state in ("failed", "cancelled"),
        "active": job.state in ACTIVE_STATES,
    }


def _url(request, path):
    return request.physicalPathToURL(path) if path else None
