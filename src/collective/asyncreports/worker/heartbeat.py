"""The heartbeat thread: keeps a worker's leases alive and its record current,
writes its running jobs' progress, and passes cancel requests on to them."""

import os
import socket
import threading
import time
import traceback

from transaction.interfaces import TransientError

from collective.asyncreports import logger
from collective.asyncreports.worker.session import Session


# Heartbeats come every third of the lease, but at least this often, so the
# Workers tab is never much behind.
HEARTBEAT_MAX_SECONDS = 30.0
# The counts a worker's record shows (Workers tab) are at most this far behind:
# a heartbeat follows jobs that end, at most one this often.
COUNTS_BEHIND_SECONDS = 1.0
# While jobs run, the thread looks this often whether a cancel was requested
# for one of them (a read, only after some commit): a cancel reaches a
# running report well within 2 s.
CANCEL_CHECK_SECONDS = 0.25


def beat_interval(lease):
    """Seconds between heartbeats for leases of ``lease`` seconds."""
    return min(max(lease / 3, 0.5), HEARTBEAT_MAX_SECONDS)


class Heartbeat:
    """Writes the worker's record in each queue it serves, from a thread of its own.

    ``status()`` returns what the record shows: current_jobs, started_jobs,
    jobs_done, jobs_failed and last_job_id (asked again on each conflict
    retry). ``soon()`` asks for a beat before the interval is over.
    ``board`` (worker/progress.py) holds the jobs whose report runs: their
    progress goes on the record, and a cancel requested for one of them is
    passed to it and to the ``watchdog``, which interrupts its report code.
    """

    def __init__(self, db, worker_id, status, board=None, watchdog=None):
        self.db = db
        self.worker_id = worker_id
        self.status = status
        self.board = board
        self.watchdog = watchdog
        self.asked = threading.Event()
        self.stopping = threading.Event()
        self.thread = None
        self.looked = None  # (last transaction, jobs) when cancels were last looked for
        self.look_failed = False
        self.written = {}  # queue path -> the board's progress as last written

    def write(self, session, paths):
        """One heartbeat, through ``session``: also the worker's first, at start-up."""
        progress = self.progress(paths)

        def beat(app):
            for path in paths:
                app.unrestrictedTraverse(path).job_queue().heartbeat(
                    self.worker_id, hostname=socket.gethostname(), pid=os.getpid(),
                    progress=progress.get(path), **self.status())
        session.write(beat)
        self.written = progress

    def progress(self, paths):
        """What the running jobs said, per queue path ({} without a board)."""
        if self.board is None:
            return {}
        return {path: self.board.progress(path) for path in paths}

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
        session = self._open_session(interval)
        if session is None:  # told to stop first
            return
        with session:
            self._beat_loop(session, paths, interval)

    def _open_session(self, retry_seconds):
        """The heartbeat's session, opened once the database answers (opening polls
        it on RelStorage, which may be away as the worker starts); None if the
        worker is told to stop first."""
        failed = False
        while not self.stopping.is_set():
            try:
                return Session(self.db)
            except TransientError:
                if not failed:
                    logger.warning("heartbeat: the database is away; retrying:\n%s",
                                   traceback.format_exc())
                failed = True
                self.stopping.wait(retry_seconds)
        return None

    def _beat_loop(self, session, paths, interval):
        beat_at = time.monotonic()  # the worker's first beat was just written
        wanted = False  # a beat was asked for (soon) and is not written yet
        while True:
            # Jobs ending ask for a beat; at most one a second keeps it one
            # small commit a second. While jobs run, look for cancels often.
            due = beat_at + (COUNTS_BEHIND_SECONDS if wanted else interval)
            wait = due - time.monotonic()
            if self.board is not None and self.board.jobs():
                wait = min(wait, CANCEL_CHECK_SECONDS)
            if wanted:
                self.stopping.wait(max(wait, 0))
            elif self.asked.wait(max(wait, 0)):
                self.asked.clear()
                wanted = True
            if self.stopping.is_set():
                return
            self.look_for_cancels(session)
            if self.board is not None and self.progress(paths) != self.written:
                wanted = True  # a job said how far it got: write it, once a second
            now = time.monotonic()
            if now >= beat_at + interval or (wanted and now >= beat_at + COUNTS_BEHIND_SECONDS):
                wanted = False
                try:
                    self.write(session, paths)
                except Exception:  # the next beat tries again; leases outlast a few
                    logger.warning("heartbeat failed:\n%s", traceback.format_exc())
                beat_at = time.monotonic()

    def look_for_cancels(self, session):
        """Tell running jobs a cancel was requested for them; interrupt their report code.

        Reads only, and only when jobs run and something was committed since
        the last look (ZEO invalidations make the read current): an idle
        worker neither reads nor writes for it.
        """
        if self.board is None:
            return
        running = self.board.jobs()
        if not running:
            self.looked = None
            return
        try:
            # ZEO answers lastTransaction() from its cache; RelStorage asks PostgreSQL,
            # which may be away as well.
            mark = (self.db.lastTransaction(),
                    frozenset((job.id, job.token) for job in running))
            requested = (None if mark == self.looked
                         else session.read(lambda app: cancel_requested(app, running)))
        except Exception:  # the database may be away; look again next time
            if not self.look_failed:
                logger.warning("looking for cancel requests failed:\n%s",
                               traceback.format_exc())
            self.look_failed = True
            return
        if requested is not None:
            self.looked, self.look_failed = mark, False
            for job in running:
                if job.id in requested:
                    job.cancel()
        if self.watchdog is not None:
            # Again each time: a job may enter its report code after the request.
            for job_id in self.watchdog.cancel(self.board.to_interrupt()):
                logger.info("job %s: cancel requested; stopping its report", job_id)


def cancel_requested(app, running):
    """The ids of the RunningJobs ``running`` whose cancel was requested, for their lease."""
    requested = set()
    queues = {}
    for job in running:
        if job.queue_path not in queues:
            queues[job.queue_path] = app.unrestrictedTraverse(job.queue_path).job_queue()
        jobs = queues[job.queue_path]
        if job.id in jobs:
            stored = jobs.get(job.id)
            if stored.cancel_requested and stored.lease_token == job.token:
                requested.add(job.id)
    return requested
