"""The worker loop: heartbeat, reap, claim, run; sleep until the next commit."""

import ctypes
import os
import random
import signal
import socket
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait
from secrets import token_hex

from transaction import TransactionManager
from transaction.interfaces import TransientError
from ZODB.POSException import ConflictError

from collective.asyncreports import logger
from collective.asyncreports.errors import LeaseLost
from collective.asyncreports.locations import queue_paths
from collective.asyncreports.results.errorlog import error_log_text
from collective.asyncreports.worker.host import reap_dead_workers_here
from collective.asyncreports.worker.runner import DONE
from collective.asyncreports.worker.runner import FAILED
from collective.asyncreports.worker.runner import HANDED_BACK
from collective.asyncreports.worker.runner import SHUTTING_DOWN
from collective.asyncreports.worker.runner import JobRunner
from collective.asyncreports.worker.watchdog import JobTimedOut
from collective.asyncreports.worker.watchdog import Watchdog


WAKE_CHECK_SECONDS = 0.05
# Heartbeats come every third of the lease, but at least this often, so the
# Workers tab is never much behind.
HEARTBEAT_MAX_SECONDS = 30.0
# The counts a worker's record shows (Workers tab) are at most this far behind:
# a heartbeat follows jobs that end, at most one this often.
COUNTS_BEHIND_SECONDS = 1.0
# How long report code told to stop may take to notice before the worker
# gives up on its thread (stuck in C code), hands the job back and exits.
STUCK_SECONDS = 10.0

# The last write of a stopping worker (its final counts) waits this long for
# the database, which may be down.
STOPPING_WRITE_SECONDS = 10.0

# Busy workers take their jobs at random among the first few due ones (at
# least this many, and twice their batch), not all the very first: see
# JobQueue.claim.
CLAIM_SPREAD = 64

# Short jobs run in batches: claimed in one commit, ended in one commit. A
# batch is sized to take about BATCH_SECONDS, from how long the last one
# took per job, and holds at most MAX_BATCH jobs; slow jobs run one by one.
BATCH_SECONDS = 0.1
MAX_BATCH = 64

# Leases are looked at (reaped) at most this often, and at least four times a lease.
REAP_EVERY_SECONDS = 1.0

# Cached ghosts and freed heap memory are let go after this many jobs (and when idle).
TRIM_EVERY_JOBS = 100

# Exit codes, for supervisors: 0 stopped as asked or --once finished;
# 2 bad configuration or usage; 3 please restart me (--max-jobs or
# --max-memory reached, or a thread stuck in report code was abandoned).
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_RECYCLE = 3


def _malloc_trim():
    """glibc's malloc_trim, or None elsewhere."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _malloc_trim()


def give_back_memory():
    """Return freed heap pages to the OS.

    Jobs allocate in several threads, so glibc spreads them over arenas, and
    freed memory stays resident in holes between live blocks: without this a
    worker's RSS grows by half over its first thousands of jobs (``make bench``,
    scenario 8) though it holds no more objects.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def rss_megabytes():
    """Resident memory of this process in MB (Linux /proc; else peak RSS)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def new_worker_id():
    """Unique per process and start: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{token_hex(3)}"


class Session:
    """A connection with a transaction manager of its own, for short control steps."""

    def __init__(self, db):
        self.manager = TransactionManager()
        self.connection = db.open(transaction_manager=self.manager)

    def read(self, step):
        """Return ``step(app)`` from a fresh view of the database, writing nothing."""
        self.manager.begin()
        try:
            return step(self.connection.root()["Application"])
        finally:
            self.manager.abort()

    def write(self, step, attempts=5):
        """Run ``step(app)`` and commit, retrying on conflicts and disconnects."""
        for attempt in range(1, attempts + 1):
            self.manager.begin()
            try:
                result = step(self.connection.root()["Application"])
                self.manager.commit()
                return result
            except TransientError:
                self.manager.abort()
                if attempt == attempts:
                    raise
                # Control steps are short: retry at once, then back off a little.
                time.sleep(random.uniform(0, 0.01 * (attempt - 1)))
            except BaseException:
                self.manager.abort()
                raise

    def close(self):
        self.manager.abort()
        self.connection.close()


def heartbeat(session, worker_id, paths, status):
    """Record that the worker is alive, on its own record in each queue.

    ``status()`` returns what the worker reports: current_jobs, jobs_done,
    jobs_failed and last_job_id (asked again on each conflict retry).
    """
    def beat(app):
        for path in paths:
            app.unrestrictedTraverse(path).job_queue().heartbeat(
                worker_id, hostname=socket.gethostname(), pid=os.getpid(), **status())
    session.write(beat)


class ClaimBudget:
    """How many more jobs the worker may claim (``--max-jobs``); shared by its threads."""

    def __init__(self, limit=None):
        self.left = limit
        self.lock = threading.Lock()

    def take(self, wanted):
        """Reserve up to ``wanted`` claims; return how many were granted."""
        with self.lock:
            if self.left is None:
                return wanted
            granted = max(0, min(wanted, self.left))
            self.left -= granted
            return granted

    def give_back(self, count):
        with self.lock:
            if self.left is not None:
                self.left += count


def batch_size(seconds_per_job):
    """How many jobs to claim at once, for jobs that took ``seconds_per_job`` each."""
    if seconds_per_job <= 0:
        return MAX_BATCH
    return max(1, min(MAX_BATCH, int(BATCH_SECONDS / seconds_per_job)))


class Worker:
    """Claims and runs jobs of one or more queues until told to stop.

    ``once`` processes what is due and returns; ``max_jobs`` and
    ``max_memory`` (MB) make it finish its jobs and return EXIT_RECYCLE so a
    supervisor starts a fresh process. On SIGTERM/SIGINT it stops claiming,
    lets running jobs finish for ``grace`` seconds, then hands the rest back
    as interrupted (no attempt counted).
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
        self.watchdog = Watchdog()
        self.runner = JobRunner(db, self.worker_id, watchdog=self.watchdog,
                                on_start=self._started)
        self.stopping = threading.Event()  # stop claiming (signal, limits)
        self.stopped_at = threading.Event()  # the loop is done, but for the exit
        self.budget = ClaimBudget(max_jobs)
        self.batch_size = 1  # grows as soon as jobs turn out short
        self.reaped_at = None  # monotonic time of the last reap
        self.reap_every = REAP_EVERY_SECONDS
        self.pool = None
        self.exit_code = EXIT_OK
        self.signals = 0
        self.abandoned = []  # futures whose thread is stuck in report code
        self.jobs_run = 0
        self.memory_given_back_at = 0  # jobs_run when memory was last given back
        self.outcomes = {}  # outcome -> count, reported by heartbeats
        self.last_job_id = None
        self.running_ids = ()  # every claimed job not yet ended, for heartbeats
        self.started_ids = set()  # those of them whose report has begun
        self.started_lock = threading.Lock()  # job threads add, the loop prunes
        self.beat_now = threading.Event()
        # What this worker saw of other workers' heartbeats, per queue: lets it
        # tell a dead worker by its own clock alone (JobQueue.lease_expired).
        self.seen = {}
        self.session = Session(db)

    def queue_paths(self):
        """The queues this worker serves: the ones asked for, else every registered one."""
        if self.requested_queues:
            return self.requested_queues
        return self.session.read(lambda app: queue_paths(app._p_jar.root()))

    def reap(self, paths):
        """Requeue or abandon jobs whose worker went silent; log abandoned ones."""
        self.reaped_at = time.monotonic()

        def reap_all(app):
            reaped = []
            for path in paths:
                queue = app.unrestrictedTraverse(path)
                seen = self.seen.setdefault(path, {})
                for job in queue.job_queue().reap(actor=self.worker_id, seen=seen):
                    if job.state == "failed":
                        text = error_log_text(job, job.error_message)
                        job.error_path = queue.result_store().store_error_log(job, text)
                    reaped.append((job.id, job.state))
            return reaped
        for job_id, state in self.session.write(reap_all):
            logger.warning("job %s: lease expired, now %s", job_id, state)

    def claim(self, paths, wanted):
        """Claim up to ``wanted`` due jobs (within --max-jobs); return [(path, job id, token)]."""
        limit = self.budget.take(wanted)

        def claim_from(app):
            claimed = []
            for path in paths:
                if len(claimed) >= limit:
                    break
                jobs = app.unrestrictedTraverse(path).job_queue().claim(
                    self.worker_id, limit=limit - len(claimed),
                    spread=max(CLAIM_SPREAD, 2 * limit), start_first=not claimed)
                claimed += [(path, job.id, job.lease_token) for job in jobs]
            return claimed
        claimed = []
        try:
            claimed = self.session.write(claim_from) if limit else []
        finally:
            self.budget.give_back(limit - len(claimed))
        return claimed

    def stopped(self, paths):
        """Report the final counts and mark this worker's records as stopped."""
        def mark(app):
            for path in paths:
                jobs = app.unrestrictedTraverse(path).job_queue()
                jobs.heartbeat(self.worker_id, **self.status())
                jobs.worker_stopped(self.worker_id)
        self.session.write(mark)

    # -- the loop ----------------------------------------------------------------

    def run(self):
        """Serve until stopped, a limit is reached, or (``once``) nothing is due.

        Returns the process exit code.
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
        beating = threading.Event()
        beater = threading.Thread(
            target=self._heartbeat_until,
            args=(beating, paths, min(max(lease / 3, 0.5), HEARTBEAT_MAX_SECONDS)),
            name="asyncreports-heartbeat", daemon=True)
        beater.start()
        self.pool = ThreadPoolExecutor(self.concurrency, "asyncreports-job")
        running = {}  # future -> (claims of its batch, monotonic time started)
        try:
            self._serve(paths, running)
            self._drain(running)
        finally:
            self.pool.shutdown(wait=not self.abandoned)
            beating.set()
            self.beat_now.set()
            beater.join(timeout=5)
            if self._safely(self.stopped, paths):
                self.session.close()
        self.stopped_at.set()
        logger.info("worker %s stopped after %d job(s)", self.worker_id, self.jobs_run)
        if self.abandoned:
            # Threads stuck in C code cannot be stopped; only a new process helps.
            logging_shutdown()
            os._exit(EXIT_RECYCLE)
        return self.exit_code

    def _start_up(self):
        """Find the queues and their lease; announce this worker; take back the
        jobs of workers that died on this host. Returns (paths, lease)."""
        paths = self.queue_paths()
        if not paths:
            return paths, None
        lease = min(self._lease_seconds(paths))
        heartbeat(self.session, self.worker_id, paths, self.status)
        # Workers that died on this host hold jobs nobody runs: take them back now.
        reap_dead_workers_here(self.session, self.worker_id, paths, once=self.once)
        return paths, lease

    def _until_available(self, step):
        """``step()``, tried again while the database is away; None once told to stop.

        A ZEO server may die while a worker starts, as at any other moment.
        """
        while not self.stopping.is_set():
            try:
                return step()
            except TransientError as exc:
                logger.warning("database unavailable (%s: %s); retrying in %gs",
                               type(exc).__name__, exc, self.poll_interval)
                self.stopping.wait(self.poll_interval)
        return None

    def _serve(self, paths, running):
        while not self.stopping.is_set():
            try:
                if not self._serve_once(paths, running):
                    return
            except ConflictError as exc:
                # Other workers' claims kept winning: step aside for a random
                # moment, not a poll interval, or a busy worker starves an idle one.
                logger.info("queue busy (%s); claiming again shortly", type(exc).__name__)
                self.stopping.wait(random.uniform(0.02, 0.2))
            except TransientError as exc:
                # ZEO down: jobs keep running; try again.
                logger.warning("queue unavailable (%s: %s); retrying in %gs",
                               type(exc).__name__, exc, self.poll_interval)
                self.stopping.wait(self.poll_interval)
            self._check_limits()

    def _serve_once(self, paths, running):
        """Reap, claim, then wait for a batch to end or new work; False when done (once)."""
        if self.reaped_at is None or time.monotonic() - self.reaped_at >= self.reap_every:
            self.reap(paths)
        for _ in range(self.concurrency - len(running)):
            claims = self.claim(paths, self.batch_size)
            if not claims:
                break
            self._start(running, claims)
        if running:
            self._wait_for_jobs(running, self.poll_interval)
        elif self.once:
            return False
        else:
            self._give_back_memory()
            self._wait_for_work(self._next_wait(paths))
        return True

    def _wait_for_jobs(self, running, timeout):
        """Wait until a batch ends (or ``timeout``), enforcing time limits meanwhile."""
        deadline = time.monotonic() + timeout
        while running and time.monotonic() < deadline:
            done, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                claims, started = running.pop(future)
                ran = self._count(claims, future.result())
                if ran:
                    self.batch_size = batch_size((time.monotonic() - started) / ran)
            if done:
                self._note_running(running)
                return
            self.watchdog.expire()
            self._give_up_stuck(running)
            if self.stopping.is_set():
                return

    def _start(self, running, claims):
        """Run a batch of claimed jobs [(queue path, id, token)] in the pool."""
        future = self.pool.submit(self.runner.run_batch, claims, self._keep_going)
        running[future] = (claims, time.monotonic())
        self._note_running(running)

    def _note_running(self, running):
        self.running_ids = tuple(job_id for claims, _ in running.values()
                                 for _, job_id, _ in claims)
        with self.started_lock:
            self.started_ids.intersection_update(self.running_ids)

    def _started(self, job_id):
        """A job thread began a job's report: heartbeats say so soon (Workers
        tab, "waiting" in listings for the jobs of a batch not started yet)."""
        with self.started_lock:
            self.started_ids.add(job_id)
        self.beat_now.set()

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
        if self.jobs_run != before:
            self.beat_now.set()  # the Workers tab shows the new counts soon
        if self.jobs_run // TRIM_EVERY_JOBS != before // TRIM_EVERY_JOBS:
            self._give_back_memory()
        return self.jobs_run - before

    def _give_back_memory(self):
        """Empty the loop's cache and trim the heap, once per run of jobs.

        The cache holds ghosts of the jobs the reaper looked at, kept by
        cached index buckets. An idle worker comes here on every poll: with
        no job run since the last time there is nothing to give back.
        """
        if self.jobs_run == self.memory_given_back_at:
            return
        self.memory_given_back_at = self.jobs_run
        self.session.connection.cacheMinimize()
        give_back_memory()

    def _keep_going(self):
        """False once no more jobs should be taken: told to stop, or over --max-memory."""
        return not self.stopping.is_set() and not self._over_memory()

    def _over_memory(self):
        return self.max_memory is not None and rss_megabytes() > self.max_memory

    def _check_limits(self):
        if self.max_jobs is not None and self.jobs_run >= self.max_jobs:
            logger.info("ran %d job(s), the --max-jobs limit: recycling", self.jobs_run)
            self._recycle()
        if self._over_memory():
            logger.info("using %.0f MB, above --max-memory %s MB: recycling",
                        rss_megabytes(), self.max_memory)
            self._recycle()

    def _recycle(self):
        self.exit_code = EXIT_RECYCLE
        self.stopping.set()

    def _drain(self, running):
        """Let running jobs finish for ``grace`` seconds, then interrupt them."""
        if not running:
            return
        logger.info("waiting up to %gs for %d running job(s)", self.grace, len(running))
        deadline = time.monotonic() + self.grace
        while running and time.monotonic() < deadline:
            self._wait_for_jobs(running, deadline - time.monotonic())
        if running:
            interrupted = self.watchdog.interrupt_all()
            logger.warning("grace period over: interrupting job(s) %s", ", ".join(interrupted))
            deadline = time.monotonic() + STUCK_SECONDS
            while running and time.monotonic() < deadline:
                self._wait_for_jobs(running, deadline - time.monotonic())
        self._give_up_stuck(running, every=True)

    def _give_up_stuck(self, running, every=False):
        """Hand back batches whose thread ignores being told to stop (stuck in C code).

        The stuck job fails when it ran past its time limit; the others of
        its batch committed nothing yet, so they go back to the queue.
        """
        stuck = set(self.watchdog.overdue(STUCK_SECONDS))
        for future, (claims, _) in list(running.items()):
            ids = {job_id for _, job_id, _ in claims}
            if future.done() or not (every or ids & stuck):
                continue
            for path, job_id, token in claims:
                if job_id in stuck:
                    logger.error("job %s: report code does not stop; giving up on its thread",
                                 job_id)
                if job_id in stuck and not self.stopping.is_set():
                    self.runner.record_failure(path, job_id, token, JobTimedOut(
                        "timed out: report code did not stop at its time limit"))
                else:
                    self.runner.release(path, job_id, token, SHUTTING_DOWN, count_attempt=False)
            del running[future]
            self.abandoned.append(future)
            self._recycle()

    def status(self):
        """What heartbeats report on the worker's record."""
        return {
            "current_jobs": self.running_ids,
            "started_jobs": tuple(job_id for job_id in self.running_ids
                                  if job_id in self.started_ids),
            "jobs_done": self.outcomes.get(DONE, 0),
            "jobs_failed": self.outcomes.get(FAILED, 0),
            "last_job_id": self.last_job_id,
        }

    def _heartbeat_until(self, stop, paths, interval):
        """Background thread: keeps leases alive while jobs run, own connection."""
        session = Session(self.db)
        try:
            while not stop.is_set():
                self.beat_now.wait(interval)
                self.beat_now.clear()
                if stop.is_set():
                    return
                try:
                    heartbeat(session, self.worker_id, paths, self.status)
                except Exception:
                    logger.warning("heartbeat failed:\n%s", traceback.format_exc())
                # Jobs ending ask for a beat; this many at most keeps it one small commit a second.
                stop.wait(COUNTS_BEHIND_SECONDS)
        finally:
            session.close()

    def _wait_for_work(self, timeout):
        """Sleep until another client commits (ZEO invalidation) or ``timeout``."""
        last = self.db.lastTransaction()
        deadline = time.monotonic() + timeout
        while not self.stopping.is_set() and time.monotonic() < deadline:
            if self.db.lastTransaction() != last:
                return
            time.sleep(WAKE_CHECK_SECONDS)

    def _next_wait(self, paths):
        """Seconds until the next queued job becomes due, capped by the poll interval."""
        def earliest(app):
            dues = [app.unrestrictedTraverse(p).job_queue().next_due() for p in paths]
            dues = [d for d in dues if d is not None]
            return min(dues) if dues else None
        due = self.session.read(earliest)
        if due is None:
            return self.poll_interval
        return min(self.poll_interval, max(due - time.time(), 0.0))

    def _lease_seconds(self, paths):
        return self.session.read(
            lambda app: [app.unrestrictedTraverse(p).job_queue().lease_seconds for p in paths])

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

    def _stop_within(self, seconds):
        """Exit after ``seconds`` if the loop has not stopped by then.

        A step of the loop that waits for a ZEO server that is down (a
        cache miss, a commit) waits its client's timeout, 30 s, on each
        retry: a worker told to stop must not wait with it. Its leases then
        expire; the database's two-phase commit keeps what was half sent out.
        """
        def exit_late():
            if self.stopped_at.wait(seconds):
                return
            logger.warning("no answer from the database %gs after the signal; "
                           "stopping without it", seconds)
            logging_shutdown()
            os._exit(self.exit_code)
        threading.Thread(target=exit_late, name="asyncreports-stop-deadline", daemon=True).start()

    def install_signal_handlers(self):
        """SIGTERM/SIGINT: finish running jobs, then stop; a second signal stops at once."""
        def handle(signum, frame):
            self.signals += 1
            if self.signals > 1:
                logger.warning("second signal: stopping at once")
                logging_shutdown()
                os._exit(1)
            logger.info("signal %d: finishing running jobs, then stopping", signum)
            self.stopping.set()
            self._stop_within(STOPPING_WRITE_SECONDS + (
                self.grace + STUCK_SECONDS if self.running_ids else 0))
        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)


def logging_shutdown():
    """Flush log handlers before os._exit, which skips that."""
    import logging

    logging.shutdown()
