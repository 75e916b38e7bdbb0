"""Job: one queued report run, with its lease, outcome and short history."""

from persistent import Persistent

from collective.asyncreports.queue.clock import now_or_time
from collective.asyncreports.queue.states import CANCELLED
from collective.asyncreports.queue.states import FAILED
from collective.asyncreports.queue.states import FINAL_STATES
from collective.asyncreports.queue.states import QUEUED
from collective.asyncreports.queue.states import RUNNING


HISTORY_LENGTH = 50


class Job(Persistent):
    """A report to run on a path with parameters, as a user, and how it went.

    Jobs are created and changed only through ``JobQueue``, which keeps its
    indexes in step with ``state``, ``priority`` and ``not_before``.
    ``format`` is the result's format (``rendering/exports.py``).
    """

    format = "pdf"  # jobs stored before there were formats made PDFs
    # Marked by its owner or a manager: never purged by age (retention.py).
    keep = False
    # A job a schedule queued: its id and the tick (epoch seconds) it stands for.
    schedule_id = None
    schedule_tick = None

    def __init__(
        self,
        id,
        report,
        path,
        params,
        owner_id,
        owner_folder="/acl_users",
        priority=0,
        created=0.0,
        not_before=None,
        max_attempts=3,
        queue_path="",
        dedup_key=None,
        format="pdf",
    ):
        self.id = id
        self.queue_path = queue_path
        self.report = report
        self.path = path
        self.params = dict(params or {})
        self.owner_id = owner_id
        self.owner_folder = owner_folder
        self.priority = int(priority)
        self.created = created
        self.not_before = created if not_before is None else not_before
        self.state = QUEUED
        self.max_attempts = max_attempts
        self.lease_worker = None
        self.lease_token = None
        self.lease_expires = None
        self.result_path = None
        self.dedup_key = dedup_key
        self.format = format
        self.clear_outcome()
        # A tuple, stored with the job: a PersistentList was one more object
        # written on every state change.
        self.history = ()
        # When the current attempt's report began to run, and that attempt's
        # lease token: a claim takes a job, but in a batch it may wait for the
        # jobs before it. A new claim's fresh token makes an old mark stale
        # by itself.
        self.run_started = None
        self.started_token = None
        # Runs lost with a worker that died on its host, taken back uncounted
        # (JobQueue.reap_worker) up to max_attempts times.
        self.lost_runs = 0

    def clear_outcome(self):
        """Forget the attempts made and how they went, for a fresh start
        (``JobQueue.retry``; the history keeps them)."""
        self.attempts = 0
        self.started = None
        self.finished = None
        self.progress = 0
        self.progress_message = ""
        self.error_message = None
        self.error_path = None
        self.cancel_requested = False

    def mark_started(self, now=None):
        """Record that the report of the current attempt began to run now.

        The runner calls it as it starts the job (not at claim time).
        """
        self.run_started = now_or_time(now)
        self.started_token = self.lease_token

    @property
    def started_running(self):
        """True while the job runs and its current attempt was marked started."""
        return (self.state == RUNNING and self.lease_token is not None
                and self.started_token == self.lease_token)

    def __repr__(self):
        return f"<Job {self.id} {self.report!r} {self.state}>"

    @property
    def is_final(self):
        """True once the job is done, failed or cancelled."""
        return self.state in FINAL_STATES

    @property
    def is_active(self):
        """True while the job is queued or running."""
        return self.state in (QUEUED, RUNNING)

    @property
    def can_cancel(self):
        """True if cancelling would change the job: it is not final and no
        cancel was requested yet (``JobQueue.cancel``)."""
        return not self.is_final and not self.cancel_requested

    @property
    def can_retry(self):
        """True if the job can be queued again: it failed or was cancelled
        (``JobQueue.retry``)."""
        return self.state in (FAILED, CANCELLED)

    def add_event(self, now, actor, event, detail=""):
        """Append an event to the history, keeping only the latest ones."""
        event = {"time": now, "actor": actor, "event": event, "detail": detail}
        self.history = (*self.history[1 - HISTORY_LENGTH:], event)

    def as_dict(self):
        """Return the job as a JSON-serialisable dict (the lease token left out)."""
        return {
            "id": self.id,
            "queue_path": self.queue_path,
            "state": self.state,
            "report": self.report,
            "path": self.path,
            "params": dict(self.params),
            "format": self.format,
            "owner": self.owner_id,
            "owner_folder": self.owner_folder,
            "priority": self.priority,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "created": self.created,
            "not_before": self.not_before,
            "started": self.started,
            "finished": self.finished,
            "progress": self.progress,
            "progress_message": self.progress_message,
            "result_path": self.result_path,
            "error_path": self.error_path,
            "error_message": self.error_message,
            "cancel_requested": self.cancel_requested,
            "dedup_key": self.dedup_key,
            "keep": self.keep,
            "lease_worker": self.lease_worker,
            "lease_expires": self.lease_expires,
            "run_started": self.run_started if self.started_running else None,
            "history": [dict(event) for event in self.history],
        }
