"""A worker as the whole process: ``asyncreports worker``.

The process owns what a ``Worker`` in a test must not touch: signal
handlers, the deadline by which a stopping worker exits even while the
database does not answer, and exiting past threads that cannot be stopped.
"""

import logging
import os
import signal
import threading

from collective.asyncreports import logger
from collective.asyncreports.worker.batches import STUCK_SECONDS
from collective.asyncreports.worker.exit_codes import EXIT_STOPPED_AT_ONCE
from collective.asyncreports.worker.loop import STOPPING_WRITE_SECONDS
from collective.asyncreports.worker.loop import Worker


def serve(db, options):
    """Run a worker on ``db`` until it stops; return the exit code.

    ``options`` are the parsed ``asyncreports worker`` arguments.
    """
    worker = Worker(db, queues=options.queue, concurrency=options.concurrency,
                    poll_interval=options.poll_interval, max_jobs=options.max_jobs,
                    max_memory=options.max_memory, grace=options.grace, once=options.once)
    process = WorkerProcess(worker)
    process.install_signal_handlers()
    return process.run()


def exit_now(code):
    """Exit at once, past threads that would hold up a normal exit; logs flushed."""
    logging.shutdown()
    os._exit(code)


class WorkerProcess:
    """Runs one Worker as this process: SIGTERM/SIGINT and how the process exits."""

    def __init__(self, worker):
        self.worker = worker
        self.signals = 0

    def run(self):
        code = self.worker.run()
        if self.worker.batches.abandoned:
            # Threads stuck in C code cannot be stopped; only a new process helps.
            exit_now(code)
        return code

    def install_signal_handlers(self):
        """SIGTERM/SIGINT: finish running jobs, then stop; a second signal stops at once."""
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        self.signals += 1
        if self.signals > 1:
            logger.warning("second signal: stopping at once")
            exit_now(EXIT_STOPPED_AT_ONCE)
        logger.info("signal %d: finishing running jobs, then stopping", signum)
        worker = self.worker
        worker.stop()
        self._exit_within(STOPPING_WRITE_SECONDS + (
            worker.grace + STUCK_SECONDS if worker.batches else 0))

    def _exit_within(self, seconds):
        """Exit after ``seconds`` if the loop has not stopped by then.

        A step of the loop that waits for a ZEO server that is down (a
        cache miss, a commit) waits its client's timeout, 30 s, on each
        retry: a worker told to stop must not wait with it. Its leases then
        expire; the database's two-phase commit keeps what was half sent out.
        """
        def exit_late():
            if self.worker.stopped_at.wait(seconds):
                return
            logger.warning("no answer from the database %gs after the signal; "
                           "stopping without it", seconds)
            exit_now(self.worker.exit_code)
        threading.Thread(target=exit_late, name="asyncreports-stop-deadline", daemon=True).start()
