"""How a job of a batch ended: decided while it ran, written in its batch's commit."""

import time
import traceback

from AccessControl.SecurityManagement import noSecurityManager
from Testing.makerequest import makerequest
from zope.component.hooks import setSite
from zope.component.interfaces import ISite
from zope.globalrequest import clearRequest
from zope.globalrequest import setRequest

from collective.asyncreports.queue import states
from collective.asyncreports.results.errorlog import error_log_text
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


class Ending:
    """The end of one job of a batch; ``write()`` records it in the database.

    ``write`` returns (outcome, detail, result path or None). It may run
    again on a conflict, so it only writes, from a fresh look at the job.
    ``app`` is the root with the job's own synthetic request.
    """

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

    def instead(self, exc):
        """The Ending to write when ``write`` raised ``exc``: the job failed."""
        return Failed(self.claim, self.started, exc, self.app)


class Rendered(Ending):
    """The report ran: store its PDF as the owner's, unless cancelled meanwhile."""

    def __init__(self, claim, started, app, pdf, filename, owner):
        super().__init__(claim, started, app)
        self.pdf, self.filename, self.owner = pdf, filename, owner

    def write(self):
        queue, jobs = self.job_queue()
        job = jobs.check_lease(self.job_id, self.token)
        if job.cancel_requested:
            jobs.confirm_cancel(self.job_id, self.token)
            return CANCELLED, "cancel requested while running", None
        path = queue.result_store().store_pdf(job, self.pdf, self.filename, self.owner)
        jobs.finish(self.job_id, self.token, path)
        return DONE, f"result {path} ({len(self.pdf)} bytes)", path


class Failed(Ending):
    """Report code raised: store the error log with the traceback, fail the job."""

    def __init__(self, claim, started, exc, app=None):
        super().__init__(claim, started, app)
        self.text = "".join(traceback.format_exception(exc))
        self.summary = f"{type(exc).__name__}: {exc}"

    def write(self):
        queue, jobs = self.job_queue()
        job = jobs.check_lease(self.job_id, self.token)
        path = store_error_log(queue, job, self.text, _owner(self.app, job))
        jobs.fail(self.job_id, self.token, self.summary, error_path=path)
        return FAILED, f"{self.summary} (error log {path})", path

    def instead(self, exc):
        return Lost(self.claim, self.started, f"could not store the error log "
                    f"({type(exc).__name__}: {exc}); the lease will expire")


class Released(Ending):
    """Not the job's fault (shutdown, transient errors): hand it back to the queue."""

    def __init__(self, claim, started, message, count_attempt=True, app=None):
        super().__init__(claim, started, app)
        self.message, self.count_attempt = message, count_attempt

    def write(self):
        queue, jobs = self.job_queue()
        job = jobs.release(self.job_id, self.token, self.message, count_attempt=self.count_attempt)
        if job.state == FAILED:  # that was its last attempt: it ends with its error log
            job.error_path = store_error_log(queue, job, self.message, _owner(self.app, job))
            return RELEASED, f"{self.message}; no attempts left, job failed", job.error_path
        return RELEASED, f"{self.message}; job is {job.state} again", None


class HandedBack(Ending):
    """Claimed in a batch but not started: due again at once, for any worker."""

    def __init__(self, claim, reason):
        super().__init__(claim, time.monotonic())
        self.reason = reason

    def write(self):
        _, jobs = self.job_queue()
        job = jobs.hand_back(self.job_id, self.token, self.reason)
        return HANDED_BACK, f"{self.reason}; job is {job.state} again", None


class Lost(Ending):
    """Another worker owns the job now: write nothing."""

    def __init__(self, claim, started, message):
        super().__init__(claim, started)
        self.message = message

    def write(self):
        return LOST, self.message, None


def store_error_log(queue, job, detail, owner=None):
    """Store ``job``'s error log (``detail`` under its header) in ``queue``'s
    result store; return its path. ``owner`` None: for managers only."""
    return queue.result_store().store_error_log(job, error_log_text(job, detail), owner)


def _owner(app, job):
    """The job's owner, to own its error log; None if the user is gone (managers only)."""
    try:
        return load_user(app, job.owner_folder, job.owner_id)
    except Exception:
        return None


def nearest_site(obj):
    """The closest ISite (a Plone site) above ``obj``, or None."""
    while obj is not None:
        if ISite.providedBy(obj):
            return obj
        obj = getattr(obj, "__parent__", None) or getattr(obj, "aq_parent", None)
    return None


def clear_globals():
    """Forget the last job's user, site and request (thread-global state)."""
    noSecurityManager()
    setSite(None)
    clearRequest()
