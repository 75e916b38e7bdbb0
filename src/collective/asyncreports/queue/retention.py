"""Retention: finished jobs older than ``retention_days`` purged by the workers
themselves, a few at a time, except those marked "keep" (part of ``JobQueue``).

Which worker purges is decided by a turn marker (``PurgeTurn``), one small
persistent object per queue that only purges write: two workers that take the
same turn at once both write it, so one of them gets a ConflictError and, on
its retry, sees the turn taken. Claims, enqueues and finishes never touch it.
"""

from persistent import Persistent

from collective.asyncreports.queue import indexes
from collective.asyncreports.queue.clock import now_or_time
from collective.asyncreports.queue.states import FINAL_STATES


DAY = 86400
# Jobs removed per purge transaction: short commits between claims.
PURGE_BATCH = 100
# A new turn to purge starts at most this often per queue (the turn's worker
# goes on with its next batch at once while the last one was full).
PURGE_EVERY_SECONDS = 600


class PurgeTurn(Persistent):
    """Who purged a queue last (``worker_id``), when (``at``), and whether the
    batch was full, so that worker goes on (``more``)."""

    worker_id = None
    at = 0.0
    more = False


class Retention:
    """JobQueue's methods for keeping and purging finished jobs.

    Uses the queue's ``_jobs``, ``_by_state``, ``retention_days`` and
    ``_remove``; ``purge_every`` (seconds) may be set per queue.
    """

    purge_every = PURGE_EVERY_SECONDS
    _purge_turn = None  # queues stored before retention ran in workers

    def set_keep(self, job_id, keep, actor, now=None):
        """Mark a job "keep" (never purged by age) or take the mark off.

        :returns: the Job (written only if the mark changes).
        :raises JobNotFound: no such job.
        """
        job = self.get(job_id)
        keep = bool(keep)
        if job.keep != keep:
            job.keep = keep
            job.add_event(now_or_time(now), actor, "kept" if keep else "no longer kept")
        return job

    def retention_cutoff(self, now=None):
        """Jobs that finished before this time (epoch seconds) are expired;
        None when ``retention_days`` is 0 (keep forever)."""
        days = getattr(self, "retention_days", 0)
        return None if not days else now_or_time(now) - days * DAY

    def expired(self, now=None, limit=PURGE_BATCH):
        """Up to ``limit`` finished jobs past their retention, not kept.

        Reads only the final states' indexes from the first key created
        before the cutoff (a job finishes after it was created), so recent
        jobs cost nothing; kept old jobs are read on every call.
        """
        cutoff = self.retention_cutoff(now)
        if cutoff is None or limit < 1:
            return []
        found = []
        for state in FINAL_STATES:
            for key in indexes.keys(self._by_state[state], (-cutoff,)):
                job = self._jobs[key[-1]]
                if not job.keep and (job.finished or job.created) < cutoff:
                    found.append(job)
                    if len(found) >= limit:
                        return found
        return found

    def purge_turn(self):
        """The queue's PurgeTurn (made on first use: the queue written once)."""
        if self._purge_turn is None:
            self._purge_turn = PurgeTurn()
        return self._purge_turn

    def may_purge(self, worker_id, now=None):
        """True if ``worker_id`` may purge now: jobs are not kept forever, and
        its turn goes on or the last purge was ``purge_every`` seconds ago.
        Reads only."""
        if self.retention_cutoff() is None:
            return False
        turn = self._purge_turn
        if turn is None:
            return True
        now = now_or_time(now)
        return ((turn.more and turn.worker_id == worker_id)
                or not 0 <= now - turn.at < self.purge_every)

    def purge_expired(self, worker_id, now=None, limit=PURGE_BATCH):
        """Take the turn and remove one batch of expired jobs (``expired``).

        Does nothing (and writes nothing) when it is not ``worker_id``'s
        turn (``may_purge``). The turn marker is written otherwise, also
        when nothing had expired: the next check is ``purge_every`` away.

        :returns: the removed Jobs (the caller deletes their results).
        """
        now = now_or_time(now)
        if not self.may_purge(worker_id, now):
            return []
        removed = self.expired(now, limit)
        for job in removed:
            self._remove(job)
        turn = self.purge_turn()
        turn.worker_id, turn.at, turn.more = worker_id, now, len(removed) >= limit
        return removed
