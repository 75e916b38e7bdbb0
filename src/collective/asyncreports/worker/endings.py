"""How a job of a batch ended: decided while it ran, written in its batch's commit.

Writing an end fires its event (``events.py``) in that commit, and JobStarted
first for a job of a batch that was not marked started at its claim. A
subscriber that raises (``SubscriberFailed``) fails the job instead, with the
subscriber's error in its error log; the events whose subscribers raised are
not fired again for it, so the job always ends and never runs twice.
"""

import time
import traceback

from AccessControl.SecurityManagement import noSecurityManager
from Testing.makerequest import makerequest
from transaction.interfaces import TransientError
from zope.component.hooks import setSite
from zope.event import notify
from zope.globalrequest import clearRequest
from zope.globalrequest import setRequest

from collective.asyncreports import events
from collective.asyncreports.queue import states
from collective.asyncreports.rendering import exports
from collective.asyncreports.results.errorlog import error_log_text
from collective.asyncreports.sites import nearest_site
from collective.asyncreports.users import load_user


# Outcomes of a job, for the worker's counters and log: the job's final state,
# or what became of a job that did not end here.
DONE = states.DONE
FAILED = states.FAILED
CANCELLED = states.CANCELLED
RELEASED = "released"
LOST = "lost"
HANDED_BACK = "handed back"  # claimed in a batch but not started: not a job run

SHUTTING_DOWN = "interrupted: the worker is shutting down"


class SubscriberFailed(Exception):
    """A subscriber of an event the worker fired for a job raised ``error``."""

    def __init__(self, job_id, event, error):
        super().__init__(f"a subscriber of {type(event).__name__} raised "
                         f"{type(error).__name__}: {error}")
        self.job_id, self.kind, self.error = job_id, type(event), error

    @property
    def text(self):
        """The subscriber's traceback, for an error log."""
        return f"{self}\n" + "".join(traceback.format_exception(self.error))


def fire(event, job_id, silenced=()):
    """``notify(event)``, unless it is None or of a kind in ``silenced``.

    A subscriber's error becomes SubscriberFailed; transient ones (conflicts)
    stay as they are, so the step is tried again.
    """
    if event is None or type(event) in silenced:
        return
    try:
        notify(event)
    except TransientError:
        raise
    except Exception as exc:
        raise SubscriberFailed(job_id, event, exc) from exc


class Ending:
    """The end of one job of a batch; ``write()`` records it in the database.

    ``write`` returns (outcome, detail, result path or None). It may run
    again on a conflict, so it only writes, from a fresh look at the job.
    ``app`` is the root with the job's own synthetic request. ``began``: the
    job's report began to run (JobStarted is due); ``silenced``: the event
    classes whose subscribers raised for this job, not fired again.
    """

    began = True
    silenced = frozenset()

    def __init__(self, claim, started, app=None):
        self.claim = claim
        self.queue_path, self.job_id, self.token = claim
        self.started = started
        self.app = app

    def enter(self, root):
        """Set up the job's surroundings to write as it ran: its synthetic request
        (made now if it has none, as for a job that never started) and its site."""
        if self.app is None:
            self.app = makerequest(root)
            self.app.unrestrictedTraverse(self.queue_path).prepare_request(self.app.REQUEST)
        setRequest(self.app.REQUEST)
        setSite(nearest_site(self.app.unrestrictedTraverse(self.queue_path)))
        return self

    def job_queue(self):
        queue = self.app.unrestrictedTraverse(self.queue_path)
        return queue, queue.job_queue()

    def fire_started(self, queue, job):
        """JobStarted for a job whose start was not committed at its claim."""
        if self.began and not job.started_running:
            fire(events.JobStarted(job, queue), job.id, self.silenced)

    def fire_ended(self, queue, job):
        """The event of how the job ended, if it did."""
        fire(events.ending_of(queue, job), job.id, self.silenced)

    def instead(self, exc):
        """The Ending to write when ``write`` raised ``exc``: the job failed."""
        failed = Failed(self.claim, self.started, exc, self.app)
        failed.began = self.began
        if isinstance(exc, SubscriberFailed):
            failed.silenced = self.silenced | {exc.kind}
        return failed


class Rendered(Ending):
    """The report ran: store its result as the owner's, unless cancelled meanwhile.

    ``pdf``: the result's bytes, in the job's format (``content_type``).
    """

    def __init__(self, claim, started, app, pdf, filename, owner,
                 content_type=exports.PDF.content_type):
        super().__init__(claim, started, app)
        self.pdf, self.filename, self.owner = pdf, filename, owner
        self.content_type = content_type

    def write(self):
        queue, jobs = self.job_queue()
        job = jobs.check_lease(self.job_id, self.token)
        self.fire_started(queue, job)
        if job.cancel_requested:
            jobs.confirm_cancel(self.job_id, self.token)
            self.fire_ended(queue, job)
            return CANCELLED, "cancel requested while running", None
        path = queue.result_store().store_result(
            job, self.pdf, self.filename, self.content_type, self.owner)
        jobs.finish(self.job_id, self.token, path)
        self.fire_ended(queue, job)
        return DONE, f"result {path} ({len(self.pdf)} bytes)", path


class Cancelled(Rendered):
    """Its report stopped for a cancel request (JobCancelled), or never began:
    Rendered's cancelled end, without a PDF (a requested cancel stays
    requested while the job runs, so ``write`` finds it). ``began``: its
    report had begun (JobStarted is due)."""

    def __init__(self, claim, started, app=None, began=True):
        super().__init__(claim, started, app, None, None, None)
        self.began = began


class Failed(Ending):
    """Report code raised: store the error log with the traceback, fail the job."""

    def __init__(self, claim, started, exc, app=None):
        super().__init__(claim, started, app)
        self.text = "".join(traceback.format_exception(exc))
        self.summary = f"{type(exc).__name__}: {exc}"

    def write(self):
        queue, jobs = self.job_queue()
        job = jobs.check_lease(self.job_id, self.token)
        self.fire_started(queue, job)
        path = store_error_log(queue, job, self.text, owner_of(self.app, job))
        jobs.fail(self.job_id, self.token, self.summary, error_path=path)
        self.fire_ended(queue, job)
        return FAILED, f"{self.summary} (error log {path})", path

    def instead(self, exc):
        if isinstance(exc, SubscriberFailed):
            # Fail all the same, without the events whose subscribers raised,
            # with both errors in the log.
            failed = Failed(self.claim, self.started, exc, self.app)
            failed.text = f"{self.text}\n{exc.text}"
            failed.summary, failed.began = self.summary, self.began
            failed.silenced = self.silenced | {exc.kind}
            return failed
        return Lost(self.claim, self.started, f"could not store the error log "
                    f"({type(exc).__name__}: {exc}); the lease will expire")


class Released(Ending):
    """Not the job's fault (shutdown, transient errors): hand it back to the queue."""

    def __init__(self, claim, started, message, count_attempt=True, app=None, began=True):
        super().__init__(claim, started, app)
        self.message, self.count_attempt, self.began = message, count_attempt, began

    def write(self):
        queue, jobs = self.job_queue()
        if self.began:
            self.fire_started(queue, jobs.check_lease(self.job_id, self.token))
        job = jobs.release(self.job_id, self.token, self.message, count_attempt=self.count_attempt)
        if job.state == FAILED:  # that was its last attempt: it ends with its error log
            job.error_path = store_error_log(queue, job, self.message, owner_of(self.app, job))
        self.fire_ended(queue, job)
        if job.state == FAILED:
            return RELEASED, f"{self.message}; no attempts left, job failed", job.error_path
        return RELEASED, f"{self.message}; job is {job.state} again", None


class HandedBack(Ending):
    """Claimed in a batch but not started: due again at once, for any worker."""

    began = False

    def __init__(self, claim, reason):
        super().__init__(claim, time.monotonic())
        self.reason = reason

    def write(self):
        queue, jobs = self.job_queue()
        job = jobs.hand_back(self.job_id, self.token, self.reason)
        self.fire_ended(queue, job)  # cancelled, if that was asked meanwhile
        return HANDED_BACK, f"{self.reason}; job is {job.state} again", None


class Lost(Ending):
    """Another worker owns the job now: write nothing."""

    began = False

    def __init__(self, claim, started, message):
        super().__init__(claim, started)
        self.message = message

    def write(self):
        return LOST, self.message, None


def store_error_log(queue, job, detail, owner=None):
    """Store ``job``'s error log (``detail`` under its header) in ``queue``'s
    result store; return its path. ``owner`` None: for managers only."""
    return queue.result_store().store_error_log(job, error_log_text(job, detail), owner)


def fail_for_subscribers(queue, job, failures, owner=None):
    """Fail a leased ``job`` whose subscribers raised (``failures``, a list of
    SubscriberFailed), outside a batch: their errors in its error log, no
    event of theirs fired again."""
    path = store_error_log(queue, job, "\n".join(failure.text for failure in failures), owner)
    queue.job_queue().fail(job.id, job.lease_token, str(failures[0]), error_path=path)
    fire(events.ending_of(queue, job), job.id, {failure.kind for failure in failures})


def owner_of(app, job):
    """The job's owner, to own its error log; None if the user is gone (managers only)."""
    try:
        return load_user(app, job.owner_folder, job.owner_id)
    except Exception:
        return None


def in_surroundings(root, queue_path):
    """The queue at ``queue_path`` with a synthetic request of its own, made
    current with the queue's site, as for a job: where the loop fires events."""
    app = makerequest(root)
    queue = app.unrestrictedTraverse(queue_path)
    queue.prepare_request(app.REQUEST)
    setRequest(app.REQUEST)
    setSite(nearest_site(queue))
    return queue


def clear_globals():
    """Forget the last job's user, site and request (thread-global state)."""
    noSecurityManager()
    setSite(None)
    clearRequest()
