"""What a running report tells its worker (progress) and learns from it (cancelled).

Who writes what, so that no two writers ever share an object:

- The job thread only records a report's latest progress in memory, on its
  ``RunningJob`` (``api.current_job()``); it writes nothing for it.
- The worker's heartbeat thread writes the latest progress of the worker's
  running jobs into the worker's own record (``JobQueue.heartbeat``), in its
  own commit, at most one a second. The record has no other writer.
- The job's own ending (one commit per batch) copies the last progress onto
  the job, which it writes anyway; UIs read ``JobQueue.progress_of``.
- The heartbeat thread also reads (never writes) whether a cancel was
  requested for a running job, and tells the job: ``progress()`` raises
  JobCancelled, and report code that never calls it is interrupted by the
  watchdog, as at its time limit.
"""

import math
import threading
import time
from contextlib import contextmanager

from collective.asyncreports.worker.watchdog import CANCELLED_WHILE_RUNNING
from collective.asyncreports.worker.watchdog import JobCancelled


# Longer progress messages are cut: a listing shows one line.
MAX_MESSAGE_LENGTH = 200

# A report that called progress() this recently is left to stop there when
# cancelled, for this long, before the worker interrupts it.
COOPERATIVE_SECONDS = 0.5

_current = threading.local()


def current_job():
    """The RunningJob whose report this thread runs now, or None."""
    return getattr(_current, "job", None)


class RunningJob:
    """A job whose report runs now, as its report code sees it.

    ``id``, ``attempt`` (1 for the first try) and ``owner_id`` describe the
    job; ``progress()`` and ``cancelled()`` are for report code; the rest is
    for the worker.
    """

    def __init__(self, queue_path, job_id, token):
        self.queue_path, self.id, self.token = queue_path, job_id, token
        self.attempt = self.owner_id = None  # known once its report begins
        # Plain attributes, replaced whole: report code may be interrupted at
        # any bytecode (see ``interruptible``), so progress() takes no lock.
        self._latest = (0, "")  # percent, message
        self._called_at = None  # monotonic time of the last progress() call
        self._cancel_seen_at = None  # monotonic time the worker saw a cancel

    def __repr__(self):
        return f"<RunningJob {self.id} attempt={self.attempt}>"

    def progress(self, done, total=None, message=""):
        """Say how far the report got; raise JobCancelled once it was cancelled.

        Cheap enough to call for every row: it records the value in memory;
        the worker writes the latest one at most once a second.

        :param done: how much is done: out of ``total`` when given, else a
            percentage (0 to 100).
        :param total: how much there is to do (more than 0), or None.
        :param message: a line for people, e.g. ``"Folder 3 of 12"`` (cut to
            MAX_MESSAGE_LENGTH characters).
        :raises TypeError: ``done``, ``total`` are no numbers, ``message`` no text.
        :raises ValueError: negative, not finite, a percentage above 100, or
            a ``total`` of 0 or less.
        :raises JobCancelled: a cancel was requested for this job; let it
            propagate (it is no ``Exception``): the job ends cancelled.
        """
        self._latest = (_percent(done, total), _message(message))
        self._called_at = time.monotonic()
        if self._cancel_seen_at is not None:
            raise JobCancelled(CANCELLED_WHILE_RUNNING)

    def cancelled(self):
        """True once a cancel was requested for this job (seen by its worker)."""
        return self._cancel_seen_at is not None

    def latest(self):
        """The last progress: ``(percent, message)``."""
        return self._latest

    def cancel(self, now=None):
        """The worker saw a cancel request for this job."""
        if self._cancel_seen_at is None:
            self._cancel_seen_at = time.monotonic() if now is None else now

    def interruptible(self, now=None):
        """True if the worker should interrupt this cancelled job's report code.

        An exception raised into a thread may land anywhere, also inside a
        lock's critical section: a report that calls ``progress()`` (within
        COOPERATIVE_SECONDS) stops there by itself, and is interrupted only
        if it has not done so COOPERATIVE_SECONDS after the cancel was seen.
        """
        if self._cancel_seen_at is None:
            return False
        now = time.monotonic() if now is None else now
        called = self._called_at
        cooperating = called is not None and now - called < COOPERATIVE_SECONDS
        return not cooperating or now - self._cancel_seen_at >= COOPERATIVE_SECONDS


def _number(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"progress: {name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"progress: {name} must be a finite number of at least 0 (got {value})")
    return value


def _percent(done, total):
    done = _number(done, "done")
    if total is None:
        if done > 100:
            raise ValueError(f"progress: done without a total is a percentage, "
                             f"at most 100 (got {done})")
        return int(done)
    if _number(total, "total") == 0:
        raise ValueError("progress: total must be more than 0")
    return int(min(done, total) * 100 // total)


def _message(message):
    if not isinstance(message, str):
        raise TypeError(f"progress: message must be text, not {type(message).__name__}")
    if len(message) > MAX_MESSAGE_LENGTH:
        message = message[:MAX_MESSAGE_LENGTH - 1] + "\u2026"
    return message.replace("\x00", "")


class Board:
    """The jobs whose report runs in this worker now, shared by its threads.

    Job threads add and remove their jobs (``running``); the heartbeat reads
    their progress (``progress``) and tells them of cancels.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._jobs = {}  # job id -> RunningJob

    def new(self, claim):
        """A RunningJob for ``claim`` (queue path, job id, token), not running yet."""
        return RunningJob(*claim)

    @contextmanager
    def running(self, handle):
        """While the calling thread runs ``handle``'s report: ``api.current_job()``."""
        with self._lock:
            self._jobs[handle.id] = handle
        _current.job = handle
        try:
            yield handle
        finally:
            _current.job = None
            with self._lock:
                if self._jobs.get(handle.id) is handle:
                    del self._jobs[handle.id]

    def jobs(self):
        """The RunningJobs of this worker now."""
        with self._lock:
            return list(self._jobs.values())

    def progress(self, queue_path):
        """What the heartbeat writes on the worker's record in ``queue_path``:
        ``((job id, token, percent, message), ...)`` of the jobs that said any."""
        return tuple(sorted((job.id, job.token, *job.latest()) for job in self.jobs()
                            if job.queue_path == queue_path and job.latest() != (0, "")))

    def to_interrupt(self, now=None):
        """The ids of the cancelled jobs whose report code the worker should
        interrupt (``RunningJob.interruptible``)."""
        return [job.id for job in self.jobs() if job.interruptible(now)]
