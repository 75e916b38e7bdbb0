"""Stopping report code that runs too long or must give way to a shutdown.

A thread cannot be killed, but CPython can raise an exception in it at its
next bytecode (``PyThreadState_SetAsyncExc``). The watchdog does so only while
the job's thread is inside report code (``rendering``), never while it stores
or commits, so an interrupted job leaves nothing half-written. Code blocked in
C for longer is given up on by the worker (see ``Worker``), not by this class.
"""

import ctypes
import threading
import time
from contextlib import contextmanager


class JobInterrupted(BaseException):
    """Raised inside report code when the worker shuts down (not the job's fault).

    A BaseException, so report code's ``except Exception`` does not swallow it.
    """


class JobTimedOut(JobInterrupted):
    """Raised inside report code that ran past its time limit."""


class JobCancelled(JobInterrupted):
    """Raised inside report code whose job somebody cancelled while it ran.

    By ``progress()`` of the job's handle (``api.current_job()``), or by the
    watchdog when the worker's heartbeat sees the request (``cancel``). The
    job then ends cancelled, with no result.
    """


CANCELLED_WHILE_RUNNING = "cancelled: a cancel was requested while the report ran"


def _raise_in_thread(thread_id, exception_class):
    # exception_class None clears a pending asynchronous exception.
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id),
        ctypes.py_object(exception_class) if exception_class is not None else None,
    )


class _Entry:
    def __init__(self, job_id, limit):
        self.job_id = job_id
        self.thread_id = threading.get_ident()
        self.limit = limit
        self.deadline = time.monotonic() + limit
        self.sent = None  # the exception class raised into the thread, if any
        self.leaving = False  # its thread left report code: send nothing more
        self.sent_at = None


class Watchdog:
    """Deadlines of the jobs that are inside report code right now."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rendering = {}

    @contextmanager
    def rendering(self, job_id, limit):
        """Mark the calling thread as running report code for ``job_id``.

        Raises JobTimedOut / JobInterrupted in the thread when told to stop;
        an exception that arrived just as report code returned is raised on
        leaving, so the caller always sees it before it stores anything.
        """
        entry = _Entry(job_id, limit)
        with self._lock:
            self._rendering[job_id] = entry
        try:
            yield entry
        finally:
            entry.leaving = True  # before the lock: no exception lands inside it
            with self._lock:
                del self._rendering[job_id]
                if entry.sent is not None:
                    _raise_in_thread(entry.thread_id, None)
            if entry.sent is not None:
                raise entry.sent(_message(entry))

    def expire(self, now=None):
        """Stop report code past its deadline; return the job ids told to stop."""
        now = time.monotonic() if now is None else now
        return self._send(lambda entry: entry.deadline <= now, JobTimedOut)

    def cancel(self, job_ids):
        """Stop the report code of these jobs (cancelled); return the job ids told to.

        Jobs not inside report code (yet) are left alone: call again.
        """
        job_ids = frozenset(job_ids)
        if not job_ids:
            return []
        return self._send(lambda entry: entry.job_id in job_ids, JobCancelled)

    def interrupt_all(self):
        """Stop every job's report code (shutdown); return the job ids."""
        return self._send(lambda entry: True, JobInterrupted)

    def overdue(self, grace, now=None):
        """Job ids told to stop more than ``grace`` seconds ago (stuck in C code)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return [
                job_id for job_id, entry in self._rendering.items()
                if entry.sent is not None and now - entry.sent_at > grace
            ]

    def _send(self, select, exception_class):
        sent = []
        with self._lock:
            for job_id, entry in self._rendering.items():
                if entry.sent is None and not entry.leaving and select(entry):
                    entry.sent = exception_class
                    entry.sent_at = time.monotonic()
                    _raise_in_thread(entry.thread_id, exception_class)
                    sent.append(job_id)
        return sent


def _message(entry):
    if entry.sent is JobTimedOut:
        return f"timed out: report code ran longer than its limit of {entry.limit:g}s"
    if entry.sent is JobCancelled:
        return CANCELLED_WHILE_RUNNING
    return "interrupted: the worker is shutting down"
