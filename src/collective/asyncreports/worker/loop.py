"""The worker loop: reap, claim, run batches in a thread pool; sleep until the next commit
(the storage's wake source, see ``collective.asyncreports.wakeup``)."""

import os
import random
import socket
import threading
import time
from secrets import token_hex

from transaction.interfaces import TransientError
from ZODB.POSException import ConflictError

from collective.asyncreports import logger
from collective.asyncreports.errors import LeaseLost
from collective.asyncreports.queue.states import FAILED
from collective.asyncreports.wakeup.sources import wake_source
from collective.asyncreports.worker import queue_steps
from collective.asyncreports.worker import schedules_step
from collective.asyncreports.worker.batches import STUCK_SECONDS
from collective.asyncreports.worker.batches import RunningBatches
from collective.asyncreports.worker.claims import ClaimBudget
from collective.asyncreports.worker.claims import batch_size
from collective.asyncreports.worker.endings import DONE
from collective.asyncreports.worker.endings import HANDED_BACK
from collective.asyncreports.worker.exit_codes import EXIT_OK
from collective.asyncreports.worker.exit_codes import EXIT_RECYCLE
from collective.asyncreports.worker.exit_codes import EXIT_USAGE
from collective.asyncreports.worker.heartbeat import Heartbeat
from collective.asyncreports.worker.memory import EveryNJobs
from collective.asyncreports.worker.memory import give_back_memory
from collective.asyncreports.worker.memory import over_memory
from collective.asyncreports.worker.memory import rss_megabytes
from collective.asyncreports.worker.progress import Board
from collective.asyncreports.worker.runner import JobRunner
from collective.asyncreports.worker.session import Session
from collective.asyncreports.worker.watchdog import Watchdog


# The last write of a stopping worker (its final counts) waits this long for
# the database, which may be down.
STOPPING_WRITE_SECONDS = 10.0

# Leases are looked at (reaped) at most this often, and at least four times a lease.
REAP_EVERY_SECONDS = 1.0

# Cached ghosts and freed heap memory are let go after this many jobs (and when idle).
TRIM_EVERY_JOBS = 100

# An idle worker looks whether it may purge expired jobs at most this often
# (the queue's purge turn decides who purges, see queue/retention.py).
PURGE_CHECK_SECONDS = 60.0


def new_worker_id():
    """Unique per process and start: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{token_hex(3)}"


class Worker:
    """Claims and runs jobs of one or more queues until told to stop.

    ``once`` processes what is due and returns; ``max_jobs`` and
    ``max_memory`` (MB) make it finish its jobs and return EXIT_RECYCLE so a
    supervisor starts a fresh process. Once ``stop()`` is called it stops
    claiming, lets running jobs finish for ``grace`` seconds, then hands
    the rest back as interrupted (no attempt counted). Signals and the exit
    of the process are ``worker.process``'s.
    """

    def __init__(self, db, queues=None, concurrency=1, poll_interval=5.0,
                 max_jobs=None, max_memory=None, grace=30.0, once=False, worker_id=None):
        self.db = db
        self.requested_queues = list(queues or ())
        self.concurrency = max(1, concurrency)
        self.poll_interval = poll_interval
        self.max_jobs = max_jobs
        self.max_memory = max_memory
        self.grace = grace
        self.once = once
        self.worker_id = worker_id or new_worker_id()
        self.stopping = threading.Event()  # stop claiming (signal, limits)
        self.stopped_at = threading.Event()  # the loop is done, but for the exit
        self.watchdog = Watchdog()
        # The jobs whose report runs: progress for the heartbeat, cancels back.
        self.board = Board()
        self.runner = JobRunner(db, watchdog=self.watchdog, on_start=self._started,
                                board=self.board)
        self.batches = RunningBatches(self.runner, self.watchdog, self.concurrency,
                                      self.stopping, on_abandon=self._recycle)
        self.heartbeat = Heartbeat(db, self.worker_id, self.status, self.board, self.watchdog)
        self.budget = ClaimBudget(max_jobs)
        self.batch_size = 1  # grows as soon as jobs turn out short
        self.reaped_at = None  # monotonic time of the last reap
        self.purge_checked_at = None  # monotonic time of the last retention purge check
        self.reap_every = REAP_EVERY_SECONDS
        self.exit_code = EXIT_OK
        self.jobs_run = 0
        self.trims = EveryNJobs(TRIM_EVERY_JOBS)
        self.trimmed_at = 0  # jobs_run when memory was last given back
        self.outcomes = {}  # outcome -> count, reported by heartbeats
        self.last_job_id = None
        # What this worker saw of other workers' heartbeats, per queue: lets it
        # tell a dead worker by its own clock alone (JobQueue.lease_expired).
        self.seen = {}
        self.session = Session(db, explicit=True)
        self.schedule_timer = schedules_step.ScheduleTimer()
        # What an idle worker sleeps in until a commit may have made a job due.
        self.wake = wake_source(db)
        self.clock_woke = False  # the last wait ended by the clock, not by a commit

    def stop(self):
        """Stop claiming; running jobs may finish for ``grace`` seconds."""
        self.stopping.set()
        self.wake.interrupt()

    def queue_paths(self):
        """The queues this worker serves: the ones asked for, else every registered one."""
        return self.requested_queues or queue_steps.registered_queues(self.session)

    def reap(self, paths):
        """Requeue or abandon jobs whose worker went silent."""
        self.reaped_at = time.monotonic()
        queue_steps.reap_lost_leases(self.session, self.worker_id, paths, self.seen)

    def claim(self, paths, wanted):
        """Claim up to ``wanted`` due jobs (within --max-jobs); return [(path, job id, token)]."""
        limit = self.budget.take(wanted)
        claimed = []
        try:
            if limit:
                claimed = queue_steps.claim(self.session, self.worker_id, paths, limit)
        finally:
            self.budget.give_back(limit - len(claimed))
        return claimed

    def stopped(self, paths):
        """Report the final counts and mark this worker's records as stopped."""
        queue_steps.mark_stopped(self.session, self.worker_id, paths, self.status)

    # -- the loop ----------------------------------------------------------------

    def run(self):
        """Serve until stopped, a limit is reached, or (``once``) nothing is due.

        Returns the process exit code. ``batches.abandoned`` is not empty
        when a thread stuck in report code was given up on: only exiting
        the process ends it.
        """
        started = self._until_available(self._start_up)
        if started is None:  # told to stop before the database came back
            self.stopped_at.set()
            return self.exit_code
        paths, lease = started
        if not paths:
            logger.error("no queues to serve: add an Async Report Queue or pass --queue")
            return EXIT_USAGE
        self.reap_every = min(REAP_EVERY_SECONDS, lease / 4)
        logger.info("worker %s serving %s (concurrency %d)",
                    self.worker_id, ", ".join(paths), self.concurrency)
        self.heartbeat.start(paths, lease)
        try:
            self._serve(paths)
            self._drain()
        finally:
            self.batches.shutdown()
            self.heartbeat.stop()
            if self._safely(self.stopped, paths):
                self.session.close()
            self.wake.close()
        self.stopped_at.set()
        logger.info("worker %s stopped after %d job(s)", self.worker_id, self.jobs_run)
        return self.exit_code

    def _start_up(self):
        """Find the queues and their lease; announce this worker; take back the
        jobs of workers that died on this host. Returns (paths, lease)."""
        paths = self.queue_paths()
        if not paths:
            return paths, None
        lease = queue_steps.shortest_lease(self.session, paths)
        self.heartbeat.write(self.session, paths)
        # Workers that died on this host hold jobs nobody runs: take them back now.
        queue_steps.reap_dead_workers_here(self.session, self.worker_id, paths, once=self.once)
        return paths, lease

    def _until_available(self, step):
        """``step()``, tried again while the database is away; None once told to stop.

        A ZEO server may die while a worker starts, as at any other moment.
        """
        while not self.stopping.is_set():
            try:
                return step()
            except TransientError as exc:
                self._wait_after(exc, "database unavailable")
        return None

    def _serve(self, paths):
        while not self.stopping.is_set():
            try:
                if not self._serve_once(paths):
                    return
            except TransientError as exc:  # jobs keep running meanwhile
                self._wait_after(exc, "queue unavailable")
            self._check_limits()

    def _wait_after(self, exc, unavailable):
        """Pause after a control step's retries all failed with ``exc``."""
        if isinstance(exc, ConflictError):
            # Other workers' claims kept winning: step aside for a random
            # moment, not a poll interval, or a busy worker starves an idle one.
            logger.info("queue busy (%s); claiming again shortly", type(exc).__name__)
            self.stopping.wait(random.uniform(0.02, 0.2))
        else:  # ZEO down: try again after a poll interval
            logger.warning("%s (%s: %s); retrying in %gs",
                           unavailable, type(exc).__name__, exc, self.poll_interval)
            self.stopping.wait(self.poll_interval)

    def _serve_once(self, paths):
        """Reap, claim, then wait for a batch to end or new work; False when done (once)."""
        # Before looking at the queues: a commit made while we look ends the wait below.
        self.wake.arm()
        if self.clock_woke and self._wait_if_nothing_to_do(paths):
            return True
        if self.reaped_at is None or time.monotonic() - self.reaped_at >= self.reap_every:
            self.reap(paths)
        if self.schedule_timer.due():  # their jobs are claimed below, by any worker
            schedules_step.fire_due(self.session, paths)
        for _ in range(self.batches.free()):
            claims = self.claim(paths, self.batch_size)
            if not claims:
                break
            self.batches.start(claims, self._keep_going)
        if self.batches:
            self._wait_for_jobs(self.poll_interval)
        elif self._purge_when_quiet(paths):
            pass  # a full batch was purged: claim, then purge more at once
        elif self.once:
            return False
        else:
            self._give_back_memory()
            self.clock_woke = not self.wake.wait(self._next_wait(paths))
        return True

    def _wait_if_nothing_to_do(self, paths):
        """Woken by the clock (the poll interval, a job or a tick due): look
        with one read whether a full round has anything to do; if not, wait
        again and return True.

        A full round takes about ten transactions (reap, schedules, claim,
        when the next job is due), and on RelStorage each one begins with a
        query: an idle worker woken every poll interval would send six
        queries a second (issue 17's target: at most one). Commits that make
        a job due end the wait themselves (the wake source); the clock only
        brings due times, and leases that expire, which need a running job.
        """
        self.clock_woke = False
        checked = self.purge_checked_at
        if self.once or self.batches or checked is None or (
                time.monotonic() - checked >= PURGE_CHECK_SECONDS):
            return False
        quiet, job_due, tick_due = queue_steps.nothing_to_do(self.session, paths)
        if not quiet:
            return False
        self.clock_woke = not self.wake.wait(self._wait_until(job_due, tick_due))
        return True

    def _purge_when_quiet(self, paths):
        """Idle: purge a batch of expired jobs if it is this worker's turn.

        Returns True if more may wait. A failure is logged: retention never
        stops a worker (a ConflictError is another worker's turn or a claim).
        """
        checked = self.purge_checked_at
        if checked is not None and time.monotonic() - checked < PURGE_CHECK_SECONDS:
            return False
        self.purge_checked_at = time.monotonic()
        try:
            more = queue_steps.purge_expired(self.session, self.worker_id, paths)
        except TransientError as exc:
            logger.info("retention purge skipped (%s)", type(exc).__name__)
            return False
        except Exception:
            logger.exception("retention purge failed")
            return False
        if more:
            self.purge_checked_at = None
        return more

    def _wait_for_jobs(self, timeout):
        """Wait until a batch ends (or ``timeout``); count its jobs, size the next batch."""
        for claims, outcomes, seconds in self.batches.wait(timeout):
            ran = self._count(claims, outcomes)
            if ran:
                self.batch_size = batch_size(seconds / ran)

    def _started(self, job_id):
        """A job thread began a job's report: heartbeats say so soon (Workers
        tab, "waiting" in listings for the jobs of a batch not started yet)."""
        self.batches.started(job_id)
        self.heartbeat.soon()

    def _count(self, claims, outcomes):
        """Count the jobs a batch ran and return how many; give memory back
        every TRIM_EVERY_JOBS jobs. Jobs it handed back unstarted count for
        nothing, also not against --max-jobs."""
        before = self.jobs_run
        for (_, job_id, _), outcome in zip(claims, outcomes, strict=True):
            if outcome == HANDED_BACK:
                self.budget.give_back(1)
                continue
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            self.jobs_run += 1
            self.last_job_id = job_id
        ran = self.jobs_run - before
        if ran:
            self.heartbeat.soon()  # the Workers tab shows the new counts soon
        if self.trims.add(ran):
            self._give_back_memory()
        return ran

    def _give_back_memory(self):
        """Empty the loop's cache and trim the heap, once per run of jobs.

        The cache holds ghosts of the jobs the reaper looked at, kept by
        cached index buckets. An idle worker comes here on every poll: with
        no job run since the last time there is nothing to give back.
        """
        if self.jobs_run == self.trimmed_at:
            return
        self.trimmed_at = self.jobs_run
        self.session.connection.cacheMinimize()
        give_back_memory()

    def _keep_going(self):
        """False once no more jobs should be taken: told to stop, or over --max-memory."""
        return not self.stopping.is_set() and not over_memory(self.max_memory)

    def _check_limits(self):
        if self.max_jobs is not None and self.jobs_run >= self.max_jobs:
            logger.info("ran %d job(s), the --max-jobs limit: recycling", self.jobs_run)
            self._recycle()
        if over_memory(self.max_memory):
            logger.info("using %.0f MB, above --max-memory %s MB: recycling",
                        rss_megabytes(), self.max_memory)
            self._recycle()

    def _recycle(self):
        self.exit_code = EXIT_RECYCLE
        self.stop()

    def _drain(self):
        """Let running jobs finish for ``grace`` seconds, then interrupt them."""
        if not self.batches:
            return
        logger.info("waiting up to %gs for %d running job(s)", self.grace, len(self.batches))
        self._wait_for_jobs_until(self.grace)
        if self.batches:
            interrupted = self.watchdog.interrupt_all()
            logger.warning("grace period over: interrupting job(s) %s", ", ".join(interrupted))
            self._wait_for_jobs_until(STUCK_SECONDS)
        self.batches.give_up_stuck(every=True)

    def _wait_for_jobs_until(self, seconds):
        deadline = time.monotonic() + seconds
        while self.batches and time.monotonic() < deadline:
            self._wait_for_jobs(deadline - time.monotonic())

    def status(self):
        """What heartbeats report on the worker's record."""
        return {
            "current_jobs": self.batches.job_ids,
            "started_jobs": self.batches.started_jobs(),
            "jobs_done": self.outcomes.get(DONE, 0),
            "jobs_failed": self.outcomes.get(FAILED, 0),
            "last_job_id": self.last_job_id,
        }

    def _next_wait(self, paths):
        """Seconds until the next queued job becomes due, capped by the poll interval."""
        return self._wait_until(queue_steps.next_due(self.session, paths),
                                schedules_step.next_due(self.session, paths))

    def _wait_until(self, job_due, tick_due):
        """Seconds until the next job or schedule tick (epoch seconds, or None)
        is due, capped by the poll interval."""
        dues = [job_due, self.schedule_timer.not_before(tick_due)]
        due = min((due for due in dues if due is not None), default=None)
        if due is None:
            return self.poll_interval
        return min(self.poll_interval, max(due - time.time(), 0.0))

    def _safely(self, step, *args):
        """Run a last write while stopping; return False if it may still be running.

        With the ZEO server down, a write can wait for it without end; a
        worker told to stop must stop all the same (its leases then expire).
        """
        def attempt():
            try:
                step(*args)
            except (TransientError, LeaseLost, OSError):
                logger.warning("%s failed while stopping", step.__name__)

        thread = threading.Thread(target=attempt, name="asyncreports-stopping", daemon=True)
        thread.start()
        thread.join(STOPPING_WRITE_SECONDS)
        if thread.is_alive():
            logger.warning("%s: no answer from the database in %gs; stopping without it",
                           step.__name__, STOPPING_WRITE_SECONDS)
        return not thread.is_alive()
