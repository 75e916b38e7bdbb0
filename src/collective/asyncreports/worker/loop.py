"""The worker loop: heartbeat, reap, claim, run; sleep until the next commit."""

import os
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

from collective.asyncreports import logger
from collective.asyncreports.errors import LeaseLost
from collective.asyncreports.locations import queue_paths
from collective.asyncreports.results.errorlog import error_log_text
from collective.asyncreports.worker.runner import JobRunner


WAKE_CHECK_SECONDS = 0.05


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
                time.sleep(0.05 * attempt)
            except BaseException:
                self.manager.abort()
                raise

    def close(self):
        self.manager.abort()
        self.connection.close()


def heartbeat(session, worker_id, paths):
    """Record that the worker is alive, on its own record in each queue."""
    def beat(app):
        for path in paths:
            app.unrestrictedTraverse(path).job_queue().heartbeat(
                worker_id, hostname=socket.gethostname(), pid=os.getpid())
    session.write(beat)


class Worker:
    """Claims and runs jobs of one or more queues until told to stop.

    ``once`` processes what is due and returns; ``max_jobs`` returns after that
    many jobs (so a supervisor can recycle the process).
    """

    def __init__(self, db, queues=None, concurrency=1, poll_interval=5.0,
                 max_jobs=None, once=False, worker_id=None):
        self.db = db
        self.requested_queues = list(queues or ())
        self.concurrency = max(1, concurrency)
        self.poll_interval = poll_interval
        self.max_jobs = max_jobs
        self.once = once
        self.worker_id = worker_id or new_worker_id()
        self.runner = JobRunner(db, self.worker_id)
        self.stopping = threading.Event()
        self.jobs_run = 0
        self.session = Session(db)

    def queue_paths(self):
        """The queues this worker serves: the ones asked for, else every registered one."""
        if self.requested_queues:
            return self.requested_queues
        return self.session.read(lambda app: queue_paths(app._p_jar.root()))

    def reap(self, paths):
        """Requeue or abandon jobs whose worker went silent; log abandoned ones."""
        def reap_all(app):
            reaped = []
            for path in paths:
                queue = app.unrestrictedTraverse(path)
                for job in queue.job_queue().reap():
                    if job.state == "failed":
                        text = error_log_text(job, job.error_message)
                        job.error_path = queue.store_error_log(job, text)
                    reaped.append((job.id, job.state))
            return reaped
        for job_id, state in self.session.write(reap_all):
            logger.warning("job %s: lease expired, now %s", job_id, state)

    def claim(self, paths, limit):
        """Claim up to ``limit`` due jobs; return [(queue path, job id, token)]."""
        def claim_from(app):
            claimed = []
            for path in paths:
                if len(claimed) >= limit:
                    break
                jobs = app.unrestrictedTraverse(path).job_queue().claim(
                    self.worker_id, limit=limit - len(claimed))
                claimed += [(path, job.id, job.lease_token) for job in jobs]
            return claimed
        return self.session.write(claim_from)

    def stopped(self, paths):
        """Mark this worker's records as stopped."""
        def mark(app):
            for path in paths:
                app.unrestrictedTraverse(path).job_queue().worker_stopped(self.worker_id)
        self.session.write(mark)

    # -- the loop ----------------------------------------------------------------

    def _heartbeat_forever(self, paths, interval):
        """Background thread: keeps leases alive while jobs run, own connection."""
        session = Session(self.db)
        try:
            while not self.stopping.wait(interval):
                try:
                    heartbeat(session, self.worker_id, paths)
                except Exception:
                    logger.warning("heartbeat failed:\n%s", traceback.format_exc())
        finally:
            session.close()

    def _wait_for_work(self, paths, timeout):
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

    def run(self):
        """Serve until stopped, ``max_jobs`` is reached, or (``once``) nothing is due."""
        paths = self.queue_paths()
        if not paths:
            logger.error("no queues to serve: add an Async Report Queue or pass --queue")
            return 2
        lease = min(self._lease_seconds(paths))
        logger.info("worker %s serving %s (concurrency %d)",
                    self.worker_id, ", ".join(paths), self.concurrency)
        heartbeat(self.session, self.worker_id, paths)
        beater = threading.Thread(
            target=self._heartbeat_forever, args=(paths, max(lease / 3, 0.5)),
            name="asyncreports-heartbeat", daemon=True)
        beater.start()
        running = set()
        try:
            with ThreadPoolExecutor(self.concurrency, "asyncreports-job") as pool:
                while not self.stopping.is_set():
                    self.reap(paths)
                    free = self.concurrency - len(running)
                    if self.max_jobs is not None:
                        free = min(free, self.max_jobs - self.jobs_run - len(running))
                    claimed = self.claim(paths, free) if free > 0 else []
                    for path, job_id, token in claimed:
                        running.add(pool.submit(self.runner.run, path, job_id, token))
                    if running:
                        done, running = wait(running, timeout=self.poll_interval,
                                             return_when=FIRST_COMPLETED)
                        self.jobs_run += len(done)
                        running = set(running)
                    elif self.once or self._limit_reached():
                        break
                    else:
                        self._wait_for_work(paths, self._next_wait(paths))
                    if self._limit_reached() and not running:
                        break
        finally:
            self.stopping.set()
            beater.join(timeout=5)
            self._safely(self.stopped, paths)
            self.session.close()
        logger.info("worker %s stopped after %d job(s)", self.worker_id, self.jobs_run)
        return 0

    def _limit_reached(self):
        return self.max_jobs is not None and self.jobs_run >= self.max_jobs

    def _lease_seconds(self, paths):
        return self.session.read(
            lambda app: [app.unrestrictedTraverse(p).job_queue().lease_seconds for p in paths])

    def _safely(self, step, *args):
        try:
            step(*args)
        except (TransientError, LeaseLost, OSError):
            logger.warning("%s failed while stopping", step.__name__)

    def install_signal_handlers(self):
        """SIGTERM/SIGINT: finish running jobs, then stop; a second signal stops at once."""
        def handle(signum, frame):
            if self.stopping.is_set():
                logger.warning("second signal: stopping at once")
                os._exit(1)
            logger.info("signal %d: finishing running jobs, then stopping", signum)
            self.stopping.set()
        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
