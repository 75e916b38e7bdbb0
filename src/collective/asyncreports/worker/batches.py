"""The job threads: batches of claimed jobs running, and which of their jobs began."""

import threading
import time
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait

from collective.asyncreports import logger
from collective.asyncreports.worker.endings import SHUTTING_DOWN
from collective.asyncreports.worker.watchdog import JobTimedOut


# How long report code told to stop may take to notice before the worker
# gives up on its thread (stuck in C code), hands the job back and exits.
STUCK_SECONDS = 10.0


class RunningBatches:
    """Runs batches of claims [(queue path, job id, token)] in ``concurrency`` threads.

    ``stopping`` is the worker's event: a job stuck past its time limit
    fails while the worker serves, and is handed back once it stops.
    ``on_abandon()`` is called when a thread is given up on: only a new
    process ends it.
    """

    def __init__(self, runner, watchdog, concurrency, stopping, on_abandon):
        self.runner = runner
        self.watchdog = watchdog
        self.concurrency = concurrency
        self.stopping = stopping
        self.on_abandon = on_abandon
        self.pool = ThreadPoolExecutor(concurrency, "asyncreports-job")  # threads start on use
        self.running = {}  # future -> (claims of its batch, monotonic time started)
        self.job_ids = ()  # every claimed job not yet ended, for heartbeats
        self.started_ids = set()  # those of them whose report has begun
        self.started_lock = threading.Lock()  # job threads add, the loop prunes
        self.abandoned = []  # futures whose thread is stuck in report code

    def __len__(self):
        return len(self.running)

    def free(self):
        """How many more batches may start now."""
        return self.concurrency - len(self.running)

    def start(self, claims, keep_going):
        """Run a batch in the pool; ``keep_going()`` false hands back its jobs not begun."""
        future = self.pool.submit(self.runner.run_batch, claims, keep_going)
        self.running[future] = (claims, time.monotonic())
        self._note_running()

    def started(self, job_id):
        """Called by a job thread as the report of ``job_id`` begins."""
        with self.started_lock:
            self.started_ids.add(job_id)

    def started_jobs(self):
        """The running jobs whose report has begun."""
        with self.started_lock:
            return tuple(job_id for job_id in self.job_ids if job_id in self.started_ids)

    def wait(self, timeout):
        """Wait until a batch ends (or ``timeout``), enforcing time limits meanwhile.

        Returns [(claims, outcomes, seconds it ran)] of the batches that ended.
        """
        deadline = time.monotonic() + timeout
        while self.running and time.monotonic() < deadline:
            done, _ = wait(self.running, timeout=0.2, return_when=FIRST_COMPLETED)
            if done:
                now = time.monotonic()
                ended = []
                for future in done:
                    claims, started = self.running.pop(future)
                    ended.append((claims, future.result(), now - started))
                self._note_running()
                return ended
            self.watchdog.expire()
            self.give_up_stuck()
            if self.stopping.is_set():
                break
        return []

    def _note_running(self):
        self.job_ids = tuple(job_id for claims, _ in self.running.values()
                             for _, job_id, _ in claims)
        with self.started_lock:
            self.started_ids.intersection_update(self.job_ids)

    def give_up_stuck(self, every=False):
        """Hand back batches whose thread ignores being told to stop (stuck in C code);
        ``every``: all batches still running (the worker is leaving).

        The stuck job fails when it ran past its time limit; the others of
        its batch committed nothing yet, so they go back to the queue.
        """
        stuck = set(self.watchdog.overdue(STUCK_SECONDS))
        for future, (claims, _) in list(self.running.items()):
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
            del self.running[future]
            self._note_running()
            self.abandoned.append(future)
            self.on_abandon()

    def shutdown(self):
        """Wait for the job threads, unless one was abandoned (it would never end)."""
        self.pool.shutdown(wait=not self.abandoned)
