"""Jobs and workers as plain dicts for templates (ZMI and Plone) and JSON.

The one place that decides what a viewer sees of a job: managers see error
messages whole and a link to the full error log; owners see server paths
trimmed (results/errorlog.py).
"""

import time

from collective.asyncreports.errors import UnknownReport
from collective.asyncreports.i18n import say
from collective.asyncreports.queue.position import standing
from collective.asyncreports.queue.states import RUNNING
from collective.asyncreports.reports.registry import get_report
from collective.asyncreports.reports.registry import schema_fields
from collective.asyncreports.results.errorlog import owner_text


def when(timestamp):
    """Format epoch seconds for people, in UTC; '' for none."""
    if not timestamp:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def iso_time(timestamp):
    """Format epoch seconds as ISO 8601 in UTC (``2026-12-04T02:00:00Z``); None for none."""
    if not timestamp:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def job_json(job, queue):
    """The public JSON shape of a job: the CLI's ``--json`` and ``api.get_job``."""
    data = job.as_dict()
    # While it runs, its worker's latest report of it (JobQueue.progress_of).
    data["progress"], data["progress_message"] = queue.job_queue().progress_of(job)
    for name in ("created", "started", "finished", "not_before"):
        data[name] = iso_time(data.get(name))
    data["result_url"] = queue.public_url(job.result_path) if job.result_path else None
    data["error_url"] = queue.public_url(job.error_path) if job.error_path else None
    return data


def moment(timestamp, local_time=when):
    """A time as every listing shows it, or None for none.

    ``local_time`` is the UI's one formatting of epoch seconds in its time
    zone (the ZMI: the server's; Plone: the site's). The dict has ``iso``
    (UTC, for ``<time datetime>``), ``utc`` (the hover text) and ``local``.
    """
    if not timestamp:
        return None
    return {
        "iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp)),
        "utc": when(timestamp),
        "local": local_time(timestamp),
    }


def report_title(name):
    """The title of the report type ``name`` in the request's language; the name
    itself for an unknown one (a report whose add-on was removed since the job was
    queued)."""
    report = _report(name)
    return name if report is None else str(say(report.title))


def parameter_titles(name):
    """``{parameter name: its title}`` of the report type ``name``, in the request's
    language ({} for an unknown one)."""
    report = _report(name)
    if report is None:
        return {}
    return {field_name: str(say(field.title) or field_name)
            for field_name, field in schema_fields(report)}


def _report(name):
    try:
        return get_report(name)
    except UnknownReport:
        return None


def job_row(job, request, jobs, manager=False, served_with=((), ()), full_error_url=None,
            local_time=when):
    """Return what a listing shows of ``job``: state, progress, times and links.

    ``manager``: the viewer manages the queue, and sees error messages whole
    and a link to the full error log; others see server paths trimmed
    (results/errorlog.py). ``served_with``: the database's other JobQueues,
    (claimed before this one, after), for queue/position.py.
    ``full_error_url``: a function of the job giving the URL of the UI's
    full-error-log view, for managers. ``local_time``: see ``moment``.
    """
    error_message = job.error_message or ""
    where = standing(job, jobs, *served_with)
    # While it runs: what its worker's heartbeat last wrote (JobQueue.progress_of).
    progress = jobs.progress_of(job)
    return {
        "id": job.id,
        "report": job.report,
        "title": report_title(job.report),
        "path": job.path,
        "owner": job.owner_id,
        "state": job.state,
        "progress": progress.percent,
        "progress_message": progress.message,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "created": moment(job.created, local_time),
        "started": moment(job.started, local_time),
        "finished": moment(job.finished, local_time),
        "error_message": error_message if manager else owner_text(error_message),
        "cancel_requested": job.cancel_requested,
        # What runs first and why it waits, or that it is claimed but not started.
        "position": where["ahead"],
        "state_label": where["label"],
        "state_text": where["text"],
        "result_url": _url(request, job.result_path),
        "result_label": job.format.upper(),  # PDF, CSV, XLSX: what the link gives
        "error_url": _url(request, job.error_path),
        "full_error_url": (full_error_url(job) if manager and job.error_path
                           and full_error_url is not None else None),
        "can_cancel": job.can_cancel,
        "can_retry": job.can_retry,
        "active": job.is_active,
        "keep": job.keep,  # retention never purges it (Keep / Don't keep on its page)
    }


def job_detail(job, request, jobs, manager=False, served_with=((), ()), full_error_url=None,
               local_time=when):
    """What a job's own page shows: its row, and parameters, history and worker.

    Event details are error messages too, so owners see them trimmed as well.
    """
    row = job_row(job, request, jobs, manager, served_with, full_error_url, local_time)
    titles = parameter_titles(job.report)
    row.update(
        params=[{"name": name, "title": titles.get(name, name), "value": _shown(value)}
                for name, value in sorted(job.params.items())],
        history=[{
            "time": moment(event.get("time"), local_time),
            "actor": event.get("actor") or "",
            "event": event.get("event") or "",
            "detail": (event.get("detail") or "") if manager
            else owner_text(event.get("detail") or ""),
        } for event in reversed(job.history)],
        worker=job.lease_worker if job.state == RUNNING else None,
        priority=job.priority,
        not_before=moment(job.not_before, local_time) if job.is_active else None,
        final=job.is_final,
    )
    return row


def _shown(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return ""
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(str(each) for each in value)
    return str(value)


def worker_rows(jobs, now=None, local_time=when):
    """The workers known to ``jobs`` (a JobQueue), newest heartbeat first."""
    now = time.time() if now is None else now
    rows = []
    for record in jobs.workers():
        row = record.as_dict()
        row["alive"] = record.is_alive(now, jobs.lease_seconds)
        row["last_heartbeat_display"] = when(record.last_heartbeat)
        row["last_heartbeat_time"] = moment(record.last_heartbeat, local_time)
        rows.append(row)
    return sorted(rows, key=lambda row: row["last_heartbeat"] or 0, reverse=True)


def _url(request, path):
    return request.physicalPathToURL(path) if path else None
