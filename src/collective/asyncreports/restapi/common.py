"""What every REST service shares: the site's queue, URLs, a job as JSON, errors.

A job's JSON is built from what the Classic UI pages show of it
(``rows.job_row`` / ``rows.job_detail``, with the viewer's rights), so the
two never disagree about who sees what (error messages trimmed for owners,
the full log for managers only).
"""

from plone import api
from plone.restapi.deserializer import json_body
from plone.restapi.exceptions import DeserializationError
from plone.restapi.services import Service as RestapiService
from zExceptions import BadRequest

from collective.asyncreports import validation
from collective.asyncreports.plone.browser import job_detail
from collective.asyncreports.plone.browser import job_row
from collective.asyncreports.plone.queue import QUEUE_ID
from collective.asyncreports.restapi.publication import unreadable_input


REPORTS = "@reports"
MAX_BATCH_SIZE = 100


def installed_queue():
    """The site's queue, or None where the add-on is not installed."""
    return api.portal.get()._getOb(QUEUE_ID, None)


def reports_url():
    """``{site}/@reports``: the collection of jobs."""
    return f"{api.portal.get().absolute_url()}/{REPORTS}"


def job_url(job_id):
    return f"{reports_url()}/{job_id}"


class Service(RestapiService):
    """plone.restapi's Service, answering 400 for input Zope could not read
    (see publication.guard_input_processing) before anything else."""

    def render(self):
        problem = unreadable_input(self.request)
        if problem:
            raise BadRequest(problem)
        return super().render()


def body(request):
    """The request's JSON object ({} for no body).

    :raises UnsupportedMediaType: a body that is not application/json (415).
    :raises BadInput: a body that is no JSON object (400).
    """
    raw = request.get("BODY") or b""
    if raw.strip() and not is_json(request.getHeader("Content-Type") or ""):
        raise UnsupportedMediaType(f"expected a JSON body (Content-Type: {JSON})")
    try:
        data = json_body(request)
    except DeserializationError:
        raise validation.BadInput("the body must be a JSON object") from None
    return data


JSON = "application/json"


class UnsupportedMediaType(Exception):
    """A body the service cannot read (415; Zope has no status for
    zExceptions.HTTPUnsupportedMediaType, it would answer 500)."""


def is_json(content_type):
    """application/json or a ``+json`` type, whatever its parameters."""
    media_type = content_type.split(";")[0].strip().lower()
    return media_type == JSON or (media_type.startswith("application/")
                                  and media_type.endswith("+json"))


def unsupported_media_type(request, message):
    request.response.setStatus(415)
    return {"type": "UnsupportedMediaType", "message": message}


def bad_request(request, message, errors=()):
    """A 400 in plone.restapi's error shape, with one entry per field.

    :param errors: ``(field, message)`` pairs.
    """
    request.response.setStatus(400)
    return {
        "type": "BadRequest",
        "message": message,
        "errors": [{"field": field, "message": text} for field, text in errors],
    }


def batch_size(request):
    """``b_size``, 1 to MAX_BATCH_SIZE (25 when missing); BadInput otherwise."""
    return validation.whole_number(request.form.get("b_size"), "b_size", default=25,
                                   minimum=1, maximum=MAX_BATCH_SIZE)


def serialize_job(job, request, queue, who, full=False):
    """The JSON of ``job`` for the viewer ``who`` (actions.Viewer).

    ``full``: with its parameters, history and worker, as its page shows.
    """
    jobs = queue.job_queue()
    build = job_detail if full else job_row
    row = build(job, request, jobs, who.manager, queue.served_with())
    data = {
        "@id": job_url(job.id),
        "@type": "AsyncReportJob",
        "id": job.id,
        "report": job.report,
        "title": row["title"],
        "format": job.format,
        "path": job.path,
        "target": {"@id": request.physicalPathToURL(job.path)},
        "owner": job.owner_id,
        "state": job.state,
        "state_text": row["state_text"],
        "progress": row["progress"],
        "progress_message": row["progress_message"] or "",
        "position": row["position"],
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "priority": job.priority,
        "created": _iso(row["created"]),
        "started": _iso(row["started"]),
        "finished": _iso(row["finished"]),
        "cancel_requested": bool(job.cancel_requested),
        "can_cancel": bool(job.can_cancel),
        "can_retry": bool(who.manager and job.can_retry),
        "can_delete": bool(job.is_final),
        "keep": bool(row["keep"]),  # retention never purges it
        "result": _result(job, row),
        "error": _error(job, row),
    }
    if full:
        data.update(
            parameters=dict(job.params),
            history=[{"time": _iso(event["time"]), "actor": event["actor"],
                      "event": event["event"], "detail": event["detail"]}
                     for event in row["history"]],
            worker=row["worker"],
            not_before=_iso(row["not_before"]),
        )
    return data


def _iso(moment):
    return moment["iso"] if moment else None


def _result(job, row):
    """Links to the result and what it is; None until there is one."""
    if not job.result_path:
        return None
    result = {"@id": row["result_url"], "download": f"{row['result_url']}/@@download/file",
              "content-type": None, "size": None, "filename": None}
    stored = api.content.get(path=job.result_path)  # None: not for this user
    named = getattr(stored, "file", None) if stored is not None else None
    if named is not None:
        result.update({"content-type": named.contentType, "size": named.getSize(),
                       "filename": named.filename})
    return result


def _error(job, row):
    if not (job.error_message or job.error_path):
        return None
    return {"message": row["error_message"], "log": row["error_url"],
            "full_log": row["full_error_url"]}

