"""Events for integrators: a job queued, started, finished, failed or cancelled.

Each is an object event fired with ``zope.event.notify`` inside the
transaction that makes the change, so what a subscriber writes commits or
rolls back with it. Its ``object`` is what the change is about: the stored
result for a finished job, the error log for a failed one, the job
otherwise. Every event has ``job`` (the ``queue.job.Job``) and ``queue``
(the ``IAsyncReportQueue``). Subscribe in ZCML::

    <subscriber
        for="collective.asyncreports.events.IJobFinished"
        handler=".handlers.report_ready"
        />

Where each is fired (one place per change):

- queued: ``submission.submit`` (every UI and the command line), in the
  request's transaction;
- started: where an attempt's start is committed: the worker's claim for the
  first job of a batch, the batch's commit (before its ending) for the others;
- finished, failed, cancelled: the worker's commit of a job's end
  (``worker/endings.py``), the reapers' commit of an abandoned job
  (``worker/queue_steps.py``), and ``actions.cancel`` for a queued job.

A subscriber that raises makes the change fail as in any Zope transaction
(a request then shows an error and changes nothing). In the worker nothing is
lost or run twice because of it: see ``worker/endings.py`` (``SubscriberFailed``).
"""

from zope.event import notify
from zope.interface import Attribute
from zope.interface import implementer
from zope.interface.interfaces import IObjectEvent

from collective.asyncreports.queue.states import CANCELLED
from collective.asyncreports.queue.states import DONE
from collective.asyncreports.queue.states import FAILED


class IJobEvent(IObjectEvent):
    """Something happened to a job of a queue."""

    job = Attribute("The job (collective.asyncreports.queue.job.Job).")
    queue = Attribute("The queue object that holds it (IAsyncReportQueue).")


class IJobQueued(IJobEvent):
    """A job was queued. ``object`` is the job."""


class IJobStarted(IJobEvent):
    """An attempt of a job began to run in a worker. ``object`` is the job."""


class IJobFinished(IJobEvent):
    """A job ended done. ``object`` is its stored result (also ``result``)."""

    result = Attribute("The stored result (an OFS File, or a File in Plone).")


class IJobFailed(IJobEvent):
    """A job ended failed. ``object`` is its error log (also ``error_log``)."""

    error_log = Attribute("The stored error log (a text file).")


class IJobCancelled(IJobEvent):
    """A job was cancelled (queued, or running and its worker stopped it).
    ``object`` is the job."""


class JobEvent:
    def __init__(self, job, queue, object=None):
        self.job = job
        self.queue = queue
        self.object = job if object is None else object

    def __repr__(self):
        return f"<{type(self).__name__} {self.job.id}>"


@implementer(IJobQueued)
class JobQueued(JobEvent):
    pass


@implementer(IJobStarted)
class JobStarted(JobEvent):
    pass


@implementer(IJobFinished)
class JobFinished(JobEvent):
    def __init__(self, job, queue, result):
        super().__init__(job, queue, result)
        self.result = result


@implementer(IJobFailed)
class JobFailed(JobEvent):
    def __init__(self, job, queue, error_log):
        super().__init__(job, queue, error_log)
        self.error_log = error_log


@implementer(IJobCancelled)
class JobCancelled(JobEvent):
    pass


def queued(queue, job):
    """Fire JobQueued."""
    notify(JobQueued(job, queue))


def started(queue, job):
    """Fire JobStarted."""
    notify(JobStarted(job, queue))


def ending_of(queue, job):
    """The event for how ``job`` now stands, or None (it is queued or running)."""
    if job.state == DONE:
        return JobFinished(job, queue, stored(queue, job.result_path))
    if job.state == FAILED:
        return JobFailed(job, queue, stored(queue, job.error_path))
    if job.state == CANCELLED:
        return JobCancelled(job, queue)
    return None


def ended(queue, job):
    """Fire JobFinished, JobFailed or JobCancelled if ``job`` just ended so."""
    event = ending_of(queue, job)
    if event is not None:
        notify(event)


def stored(queue, path):
    """The result or error log at physical ``path``, reached through ``queue``
    (so it keeps the queue's request), or None."""
    if not path:
        return None
    return queue.unrestrictedTraverse(path, None)
