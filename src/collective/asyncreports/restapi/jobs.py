"""``@reports``: queue a report, list and read jobs, cancel, retry, run again,
delete and purge them.

Every rule is the Classic UI's own: ``submission.submit`` checks a new job,
``actions`` decides who may see and act on a job (owners their own,
managers every one). This module only turns JSON into their arguments and
their answers and errors into JSON.

- ``GET {site}/@reports``: the user's jobs (managers: all), newest first;
  ``GET {item}/@reports``: the user's jobs on that item.
- ``GET {site}/@reports/{id}``, ``DELETE {site}/@reports/{id}``.
- ``POST {context}/@reports``: queue a report on the context.
- ``POST {site}/@reports/{id}/cancel``, ``/retry``, ``/run-again``, ``/keep``,
  ``/unkeep``;
  ``POST {site}/@reports/purge``.
"""

from plone import api
from plone.protect.interfaces import IDisableCSRFProtection
from plone.restapi.batching import HypermediaBatch
from zExceptions import NotFound
from zope.interface import alsoProvides
from zope.interface import implementer
from zope.publisher.interfaces import IPublishTraverse

from collective.asyncreports import actions
from collective.asyncreports import public_url
from collective.asyncreports import validation
from collective.asyncreports.cli.arguments import MAX_PRIORITY
from collective.asyncreports.errors import AsyncReportsError
from collective.asyncreports.errors import InvalidJobRequest
from collective.asyncreports.errors import InvalidParameters
from collective.asyncreports.plone.browser import require_signed_in
from collective.asyncreports.plone.browser import site_queue
from collective.asyncreports.reports.registry import report_types
from collective.asyncreports.restapi.common import Service
from collective.asyncreports.restapi.common import UnsupportedMediaType
from collective.asyncreports.restapi.common import bad_request
from collective.asyncreports.restapi.common import batch_size
from collective.asyncreports.restapi.common import body
from collective.asyncreports.restapi.common import job_url
from collective.asyncreports.restapi.common import serialize_job
from collective.asyncreports.restapi.common import unsupported_media_type
from collective.asyncreports.submission import submit_noted
from collective.asyncreports.targets import path_of


IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 200


def kept(keep):
    """``actions.keep_job`` as a job action: the job, marked or not."""
    def action(queue, job_id):
        actions.keep_job(queue, job_id, keep)
        return actions.job_for(queue, job_id)
    return action


JOB_ACTIONS = {"cancel": actions.cancel_job, "retry": actions.retry_job,
               "keep": kept(True), "unkeep": kept(False)}


@implementer(IPublishTraverse)
class JobsService(Service):
    """A service with the path after ``@reports`` in ``self.params``."""

    def __init__(self, context, request):
        super().__init__(context, request)
        self.params = []

    def publishTraverse(self, request, name):
        self.params.append(name)
        return self

    @property
    def at_site(self):
        return at_site(self.context)

    def reply(self):
        require_signed_in()
        queue = site_queue()
        try:
            return self.answer(queue, actions.viewer(queue))
        except UnsupportedMediaType as exc:
            return unsupported_media_type(self.request, str(exc))
        except InvalidParameters as exc:
            return bad_request(self.request, str(exc), exc.errors)
        except InvalidJobRequest as exc:  # BadInput among them
            return bad_request(self.request, str(exc))
        except AsyncReportsError as exc:  # e.g. cancelling a job that has ended
            self.request.response.setStatus(409)
            return {"type": "Conflict", "message": str(exc)}

    def answer(self, queue, who):
        raise NotImplementedError

    def not_found(self):
        return NotFound(f"{self.request.getURL()} is no report resource")

    def job(self, queue, who, job):
        return serialize_job(job, self.request, queue, who, full=True)


class JobsGet(JobsService):

    def answer(self, queue, who):
        if not self.params:
            return self.listing(queue, who)
        if len(self.params) == 1 and self.at_site:
            return self.job(queue, who, actions.job_for(queue, self.params[0]))
        raise self.not_found()

    def listing(self, queue, who):
        return listing(self.context, self.request, queue, who, self.at_site)


def at_site(context):
    return context.getPhysicalPath() == api.portal.get().getPhysicalPath()


def listing(context, request, queue, who, site_wide):
    """One batch of the jobs the user sees, newest first, filtered as asked.

    ``site_wide``: every job the user may see (managers: every one);
    otherwise the user's own jobs on ``context``.
    """
    form = request.form
    size = batch_size(request)
    start = validation.start(form.get("b_start"))
    state = validation.state(form.get("state"))
    report = validation.one_of(form.get("report"), "report",
                               [name for name, _ in report_types()])
    owner = validation.optional_text(form.get("owner"), "owner", max_length=200)
    if owner not in (None, who.user_id):
        actions.require_manager(queue, "list other people's jobs")
    jobs = queue.job_queue()
    if site_wide:
        found = JobPages(jobs, state=state, report=report,
                         owner=owner if who.manager else who.user_id)
    else:
        path = path_of(context)
        mine, _ = jobs.list_jobs(owner=who.user_id, state=state, report=report,
                                 start=0, size=len(jobs))
        found = [job for job in mine if job.path == path]
    form.update(b_start=start, b_size=size)
    batch = HypermediaBatch(request, found)
    data = {
        "@id": batch.canonical_url,
        "items_total": batch.items_total,
        "items": [serialize_job(job, request, queue, who) for job in batch],
    }
    if batch.links:
        data["batching"] = batch.links
    return data


class JobPages:
    """The jobs ``JobQueue.list_jobs`` finds, as the sequence a batch slices:
    each slice is one call, so no page reads more jobs than it shows."""

    def __init__(self, jobs, **filters):
        self.jobs, self.filters = jobs, filters
        self.total = jobs.list_jobs(start=0, size=0, **filters)[1]

    def __len__(self):
        return self.total

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, _ = index.indices(self.total)
            return self.jobs.list_jobs(start=start, size=max(stop - start, 0),
                                       **self.filters)[0]
        if not 0 <= index < self.total:
            raise IndexError(index)
        return self.jobs.list_jobs(start=index, size=1, **self.filters)[0][0]


class ChangingService(JobsService):
    """POST and DELETE: plone.protect's check is for forms; as plone.restapi's
    own services that write, this one is exempt. A service only answers
    requests that ask for JSON (``Accept``), which no cross-site form sends."""

    def reply(self):
        alsoProvides(self.request, IDisableCSRFProtection)
        return super().reply()


class JobsPost(ChangingService):

    def answer(self, queue, who):
        if not self.params:
            return self.queue_report(queue, who)
        if not self.at_site:
            raise self.not_found()
        if self.params == ["purge"]:
            return self.purge(queue)
        if len(self.params) == 2 and self.params[1] in JOB_ACTIONS:
            job = JOB_ACTIONS[self.params[1]](queue, self.params[0])
            return self.job(queue, who, job)
        if len(self.params) == 2 and self.params[1] == "run-again":
            job = actions.job_for(queue, self.params[0])
            return self.submitted(queue, who, actions.run_again_noted(queue, job))
        raise self.not_found()

    def queue_report(self, queue, who):
        data = body(self.request)
        unknown = sorted(set(data) - {"report", "parameters", "format", "priority"})
        if unknown:
            return bad_request(self.request, "unknown fields: " + ", ".join(unknown),
                               [(name, "unknown field") for name in unknown])
        name = validation.text(data.get("report"), "report", max_length=200)
        if not name:
            return bad_request(self.request, "report: which report to queue",
                               [("report", "required")])
        parameters = data.get("parameters", {})
        parameters = {} if parameters is None else parameters
        if not isinstance(parameters, dict):
            return bad_request(self.request, "parameters: must be an object",
                               [("parameters", "must be an object")])
        priority = self.priority(queue, data.get("priority", 0))
        key = self.idempotency_key(who)
        first = queue.job_queue().queued_with(key) if key else None
        submitted = submit_noted(queue, name, path_of(self.context), parameters,
                                 dedup_key=key, priority=priority,
                                 format=data.get("format"), typed=True)
        public_url.remember_served_url(queue, api.portal.get().absolute_url())
        if first is not None:  # the same request again: its first job
            return self.job(queue, who, submitted.job)
        return self.submitted(queue, who, submitted)

    def priority(self, queue, value):
        """Higher runs first; only managers may put a job before others' (the
        Classic UI offers no priority at all)."""
        priority = validation.whole_number(value, "priority", default=0,
                                           minimum=-MAX_PRIORITY, maximum=MAX_PRIORITY)
        if priority > 0:
            actions.require_manager(queue, "raise a job's priority")
        return priority

    def idempotency_key(self, who):
        """The request's Idempotency-Key, kept apart per user."""
        key = validation.optional_text(self.request.getHeader(IDEMPOTENCY_HEADER),
                                       IDEMPOTENCY_HEADER, max_length=MAX_IDEMPOTENCY_KEY)
        return f"rest:{who.user_id}:{key}" if key else None

    def submitted(self, queue, who, submitted):
        """201 and Location for a new job; 200 and the note for an earlier one
        that the submission returned instead (docs/user/limits.rst)."""
        if submitted.note is not None:
            return dict(self.job(queue, who, submitted.job), note=str(submitted.note))
        self.request.response.setStatus(201)
        self.request.response.setHeader("Location", job_url(submitted.job.id))
        return self.job(queue, who, submitted.job)

    def purge(self, queue):
        actions.require_manager(queue, "purge jobs")
        days = validation.days(body(self.request).get("older_than_days"))
        if days is None:
            return bad_request(self.request, "older_than_days: how old finished jobs must be",
                               [("older_than_days", "required")])
        purged = queue.purge(older_than=days * 86400)
        return {"purged": [job.id for job in purged], "items_total": len(purged)}


class JobsDelete(ChangingService):

    def answer(self, queue, who):
        if len(self.params) != 1 or not self.at_site:
            raise self.not_found()
        actions.delete_job(queue, self.params[0])
        return self.reply_no_content()

