"""The worker loop's schedule step: fire the due ticks of its queues' schedules.

Any worker may fire a tick; the one whose commit moves the schedule's
``next_run`` on has queued its job (``scheduling.fire_due``), a worker whose
commit conflicts retries, finds the tick taken, and fires nothing. Checked at
most once a second (reading the schedules of a queue costs no commit).
"""

import time

from transaction.interfaces import TransientError

from collective.asyncreports import logger
from collective.asyncreports import scheduling
from collective.asyncreports.queue.schedules import book_of
from collective.asyncreports.worker.endings import clear_globals
from collective.asyncreports.worker.endings import in_surroundings


CHECK_EVERY_SECONDS = 1.0


def any_due(session, paths, now=None):
    """True if a schedule of the queues at ``paths`` has a due tick."""
    def due(app):
        return any(book_of(app.unrestrictedTraverse(path).job_queue()).due(now)
                   for path in paths)
    return session.read(due)


def next_due(session, paths):
    """The earliest next tick of the queues' enabled schedules, or None."""
    def earliest(app):
        ticks = [book_of(app.unrestrictedTraverse(path).job_queue()).next_due()
                 for path in paths]
        return min((tick for tick in ticks if tick is not None), default=None)
    return session.read(earliest)


def fire_due(session, paths, now=None):
    """Fire the due ticks of the queues at ``paths``, each queue's in one commit.

    Returns ``[(queue path, schedule id, job id or None, what happened)]``.
    """
    if not any_due(session, paths, now):
        return []
    fired = []
    for path in paths:
        def step(app, path=path):
            try:
                queue = in_surroundings(app, path)
                return scheduling.fire_due(queue, now)
            finally:
                clear_globals()
        started = time.monotonic()
        try:
            outcomes = session.write(step)
        except TransientError:
            raise
        except Exception:  # a bug must not stop the worker: its jobs run on
            logger.exception("queue %s: firing its schedules failed", path)
            continue
        seconds = time.monotonic() - started
        for schedule_id, job_id, what in outcomes:
            fired.append((path, schedule_id, job_id, what))
            if job_id:
                logger.info("schedule %s fired job %s (%s) in %.3fs",
                            schedule_id, job_id, what, seconds)
            else:
                logger.warning("schedule %s fired nothing: %s", schedule_id, what)
    return fired


class ScheduleTimer:
    """When the loop next looks at schedules: every CHECK_EVERY_SECONDS."""

    def __init__(self, every=CHECK_EVERY_SECONDS):
        self.every = every
        self.checked_at = None

    def due(self):
        now = time.monotonic()
        if self.checked_at is None or now - self.checked_at >= self.every:
            self.checked_at = now
            return True
        return False

    def not_before(self, tick):
        """``tick`` (epoch seconds, or None), but not before the next check."""
        if tick is None or self.checked_at is None:
            return tick
        return max(tick, time.time() + self.every - (time.monotonic() - self.checked_at))
