"""The heartbeat thread: keeps a worker's leases alive and its record current."""

import os
import socket
import threading
import traceback

from collective.asyncreports import logger
from collective.asyncreports.worker.session import Session


# Heartbeats come every third of the lease, but at least this often, so the
# Workers tab is never much behind.
HEARTBEAT_MAX_SECONDS = 30.0
# The counts a worker's record shows (Workers tab) are at most this far behind:
# a heartbeat follows jobs that end, at most one this often.
COUNTS_BEHIND_SECONDS = 1.0


def beat_interval(lease):
    """Seconds between heartbeats for leases of ``lease`` seconds."""
    return min(max(lease / 3, 0.5), HEARTBEAT_MAX_SECONDS)


class Heartbeat:
    """Writes the worker's record in each queue it serves, from a thread of its own.

    ``status()`` returns what the record shows: current_jobs, started_jobs,
    jobs_done, jobs_failed and last_job_id (asked again on each conflict
    retry). ``soon()`` asks for a beat before the interval is over.
    """

    def __init__(self, db, worker_id, status):
        self.db = db
        self.worker_id = worker_id
        self.status = status
        self.asked = threading.Event()
        self.stopping = threading.Event()
        self.thread = None

    def write(self, session, paths):
        """One heartbeat, through ``session``: also the worker's first, at start-up."""
        def beat(app):
            for path in paths:
                app.unrestrictedTraverse(path).job_queue().heartbeat(
                    self.worker_id, hostname=socket.gethostname(), pid=os.getpid(),
                    **self.status())
        session.write(beat)

    def soon(self):
        self.asked.set()

    def start(self, paths, lease):
        self.thread = threading.Thread(
            target=self._beat_until_stopped, args=(paths, beat_interval(lease)),
            name="asyncreports-heartbeat", daemon=True)
        self.thread.start()

    def stop(self, timeout=5):
        self.stopping.set()
        self.asked.set()
        if self.thread is not None:
            self.thread.join(timeout=timeout)

    def _beat_until_stopped(self, paths, interval):
        with Session(self.db) as session:
            while not self.stopping.is_set():
                self.asked.wait(interval)
                self.asked.clear()
                if self.stopping.is_set():
                    return
                try:
                    self.write(session, paths)
                except Exception:  # the next beat tries again; leases outlast a few
                    logger.warning("heartbeat failed:\n%s", traceback.format_exc())
                # Jobs ending ask for a beat; this pause keeps it one small commit a second.
                self.stopping.wait(COUNTS_BEHIND_SECONDS)
