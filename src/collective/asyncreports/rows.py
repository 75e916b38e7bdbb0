"""Jobs and workers as plain dicts for templates (ZMI and Plone) and JSON.

The one place that decides what a viewer sees of a job: managers see error
messages whole and a link to the full error log; owners see server paths
trimmed (results/errorlog.py).
"""

import time

from collective.asyncreports.queue.position import standing
from collective.asyncreports.results.errorlog import owner_text


def when(timestamp):
    """Format epoch seconds for people, in UTC; '' for none."""
    if not timestamp:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def job_row(job, request, jobs, manager=False, served_with=((), ()), full_error_url=None):
    """Return what a listing shows of ``job``: state, progress, times and links.

    ``manager``: the viewer manages the queue, and sees error messages whole
    and a link to the full error log; others see server paths trimmed
    (results/errorlog.py). ``served_with``: the database's other JobQueues,
    (claimed before this one, after), for queue/position.py.
    ``full_error_url``: a function of the job giving the URL of the UI's
    full-error-log view, for managers.
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
        "full_error_url": (full_error_url(job) if manager and job.error_path
                           and full_error_url is not None else None),
        "can_cancel": job.can_cancel,
        "can_retry": job.can_retry,
        "active": job.is_active,
    }


def worker_rows(jobs, now=None):
    """The workers known to ``jobs`` (a JobQueue), newest heartbeat first."""
    now = time.time() if now is None else now
    rows = []
    for record in jobs.workers():
        row = record.as_dict()
        row["alive"] = record.is_alive(now, jobs.lease_seconds)
        row["last_heartbeat_display"] = when(record.last_heartbeat)
        rows.append(row)
    return sorted(rows, key=lambda row: row["last_heartbeat"] or 0, reverse=True)


def _url(request, path):
    return request.physicalPathToURL(path) if path else None
