"""State changes of jobs: how attempts end, cancelling, retrying (part of
``JobQueue``).

``_move`` is the one place that changes a job's state; ``_end_attempt`` the
one place that decides what becomes of a running job when its attempt ends.
"""

import enum
import random

from collective.asyncreports.errors import InvalidTransition
from collective.asyncreports.queue import indexes
from collective.asyncreports.queue.clock import now_or_time
from collective.asyncreports.queue.states import CANCELLED
from collective.asyncreports.queue.states import DONE
from collective.asyncreports.queue.states import FAILED
from collective.asyncreports.queue.states import FINAL_STATES
from collective.asyncreports.queue.states import QUEUED
from collective.asyncreports.queue.states import RUNNING
from collective.asyncreports.wakeup import job_due


class Ended(enum.Enum):
    """How a running job's attempt ended (see ``Transitions._end_attempt``)."""

    FINISHED = "finished"  # the report ran: done
    FAILED = "failed"  # the report raised: failed for good
    CANCELLED = "cancel confirmed"  # its worker stopped it, as was asked
    TRANSIENT = "transient error"  # counted; may succeed on a later try
    INTERRUPTED = "interrupted"  # through no fault of the job: not counted
    HANDED_BACK = "handed back"  # claimed in a batch, never started: not counted
    LOST = "lost"  # its worker's lease expired: counted
    WORKER_DEAD = "worker dead"  # its worker's process is gone: see _end_attempt


class Transitions:
    """JobQueue's methods that move jobs from state to state.

    Uses the queue's indexes and counters (``_due``, ``_by_state``,
    ``_counts``), ``_jobs``, the lease methods of ``Leases`` and the
    ``backoff_seconds`` and ``backoff_max`` settings.
    """

    # Workers: outcomes of a leased job

    def finish(self, job_id, token, result_path, now=None):
        """Mark a leased job done with the path of its result.

        :raises LeaseLost: see ``check_lease``.
        """
        job = self.check_lease(job_id, token)
        job.result_path = result_path
        job.error_message = None
        job.progress = 100
        return self._end_leased(job, Ended.FINISHED, result_path, now)

    def fail(self, job_id, token, error_message, error_path=None, now=None):
        """Mark a leased job failed for good (e.g. the report raised).

        :param error_path: path of the stored error log, if any.
        :raises LeaseLost: see ``check_lease``.
        """
        job = self.check_lease(job_id, token)
        job.error_message = error_message
        job.error_path = error_path
        return self._end_leased(job, Ended.FAILED, error_message, now)

    def release(self, job_id, token, error_message, count_attempt=True, now=None):
        """Give a leased job back after a transient failure.

        The job is queued again after ``backoff(attempts)`` if it has
        attempts left, else it fails. With ``count_attempt=False`` (the run
        was interrupted, e.g. the worker is shutting down, through no fault of
        the job) the attempt is not counted and the job is due at once. A job
        whose cancel was requested is cancelled instead.

        :raises LeaseLost: see ``check_lease``.
        """
        job = self.check_lease(job_id, token)
        job.error_message = error_message  # whatever becomes of the job
        ended = Ended.TRANSIENT if count_attempt else Ended.INTERRUPTED
        return self._end_leased(job, ended, error_message, now)

    def hand_back(self, job_id, token, reason, now=None):
        """Give back a leased job its worker did not start (its batch ran long).

        It is due again at once, in its old place in line, for any worker;
        the attempt is not counted. A job whose cancel was requested is
        cancelled instead.

        :raises LeaseLost: see ``check_lease``.
        """
        return self._end_leased(self.check_lease(job_id, token), Ended.HANDED_BACK, reason, now)

    def confirm_cancel(self, job_id, token, now=None):
        """The worker acknowledges a requested cancel: the job is cancelled.

        :raises LeaseLost: see ``check_lease``.
        :raises InvalidTransition: no cancel was requested.
        """
        job = self.check_lease(job_id, token)
        if not job.cancel_requested:
            raise InvalidTransition(f"no cancel was requested for job {job_id}")
        return self._end_leased(job, Ended.CANCELLED, "", now)

    def backoff(self, attempts):
        """Seconds to wait before the next try after ``attempts`` attempts.

        Doubles from ``backoff_seconds``, capped at ``backoff_max``, plus up
        to 10% random jitter so retried jobs do not all wake at once.
        """
        delay = min(self.backoff_seconds * 2 ** max(0, attempts - 1), self.backoff_max)
        return delay + random.uniform(0, delay / 10)

    # Reapers: jobs whose worker is gone

    def reap(self, now=None, actor=None, seen=None, observed_at=None):
        """Take back running jobs whose lease expired (their worker died).

        Each goes back to the queue with backoff, or fails as "abandoned"
        when its attempts are used up (or is cancelled if that was asked).
        Only running jobs are looked at.

        :param actor: who reaps (a worker id), for the history.
        :param seen: the reaper's observations, see ``lease_expired``
            (``observed_at``: the reaper's monotonic time, default now).
        :returns: list of the Jobs taken back.
        """
        now = now_or_time(now)
        reaped = []
        for key in list(self._running_keys()):
            job = self._jobs[key[-1]]
            if self.lease_expired(job, now, seen, observed_at):
                reason = f"the lease of worker {job.lease_worker} expired"
                self._end_attempt(job, Ended.LOST, now, actor, reason)
                reaped.append(job)
        return reaped

    def reap_worker(self, worker_id, reason, actor=None, now=None):
        """Take back at once every job a dead worker holds (its process is gone).

        Unlike ``reap``, nothing waits for the lease to expire, and the
        attempt is not counted: the job is due again at once, in its old
        place. But a job that loses its worker every time may kill it
        (a poison job): after ``max_attempts`` such losses they count, so it
        still ends failed as abandoned. The worker's record is marked stopped.

        :param reason: why the worker is known dead, for the history.
        :returns: list of the Jobs taken back.
        """
        now = now_or_time(now)
        index = self._running.get(worker_id)
        reaped = [self._jobs[key[-1]] for key in indexes.keys(index)] if index is not None else []
        for job in reaped:
            self._end_attempt(job, Ended.WORKER_DEAD, now, actor, reason)
        record = self._workers.get(worker_id)
        if record is not None and record.stopped is None:
            record.stopped = now
        self._drop_running_index(worker_id)
        return reaped

    # People and administrators

    def cancel(self, job_id, actor=None, now=None):
        """Cancel a job.

        A queued job is cancelled at once; a running one gets
        ``cancel_requested`` and stays running until its worker confirms.

        :raises JobNotFound: no such job.
        :raises InvalidTransition: the job is already done, failed or cancelled.
        """
        now = now_or_time(now)
        job = self.get(job_id)
        if job.state == QUEUED:
            self._move(job, CANCELLED, now, actor, "cancelled")
        elif job.state == RUNNING:
            if not job.cancel_requested:
                job.cancel_requested = True
                job.add_event(now, actor, "cancel requested")
        else:
            raise InvalidTransition(f"job {job_id} is already {job.state} and cannot be cancelled")
        return job

    def retry(self, job_id, actor=None, now=None):
        """Queue a failed or cancelled job again, due now, with fresh attempts.

        The error message and error log path are cleared (the old error is
        kept in the history).

        :raises JobNotFound: no such job.
        :raises InvalidTransition: the job is not failed or cancelled.
        """
        job = self.get(job_id)
        if not job.can_retry:
            raise InvalidTransition(
                f"job {job_id} is {job.state}; only failed or cancelled jobs can be retried"
            )
        detail = job.error_message or ""
        job.clear_outcome()
        self._move(job, QUEUED, now_or_time(now), actor, "retried", detail)
        return job

    # Internals

    def _end_leased(self, job, ended, message, now):
        """End the attempt of a job whose lease its worker holds; return the job."""
        self._end_attempt(job, ended, now_or_time(now), job.lease_worker, message)
        return job

    def _end_attempt(self, job, ended, now, actor, message):
        """Decide and apply what becomes of a running job whose attempt ended.

        ``ended`` says how (an ``Ended``); ``message`` is the result path,
        the error, or why the job was taken back, for the history. Done and
        failed stand as they are. Otherwise a requested cancel wins; an
        uncounted end queues the job again at once; a counted one queues it
        with backoff while attempts are left, else fails it ("abandoned" if
        its worker lost it).
        """
        if ended is Ended.FINISHED:
            return self._move(job, DONE, now, actor, "finished", message)
        if ended is Ended.FAILED:
            return self._move(job, FAILED, now, actor, "failed", message)
        if ended is Ended.WORKER_DEAD:
            job.lost_runs += 1
        if job.cancel_requested or ended is Ended.CANCELLED:
            return self._move(job, CANCELLED, now, actor, "cancelled", message)
        if ended is Ended.INTERRUPTED:
            return self._back_uncounted(job, now, actor, "interrupted", message, now)
        if ended is Ended.HANDED_BACK:
            return self._back_uncounted(job, now, actor, "handed back", message, job.not_before)
        if ended is Ended.WORKER_DEAD and job.lost_runs <= job.max_attempts:
            # A job that kills its worker every time (a poison job) must still
            # end: only its first max_attempts losses go uncounted.
            return self._back_uncounted(job, now, actor, "reaped",
                                        f"{message}; attempt not counted", job.not_before)
        attempts_left = job.attempts < job.max_attempts
        if ended is Ended.TRANSIENT:
            if attempts_left:
                return self._back_with_backoff(job, now, actor, "released", message)
            return self._move(job, FAILED, now, actor, "failed", message)
        # Lost with its worker, counted.
        used = f"{job.attempts} of {job.max_attempts} attempts"
        if attempts_left:
            return self._back_with_backoff(job, now, actor, "reaped", f"{message} ({used} used)")
        job.error_message = f"abandoned: {message}, and all {used} are used"
        return self._move(job, FAILED, now, actor, "abandoned", job.error_message)

    def _back_with_backoff(self, job, now, actor, event, message):
        """Queue a job again after ``backoff``: its attempt counted."""
        job.error_message = message
        delay = self.backoff(job.attempts)
        detail = f"{message}; next try in {delay:.0f}s"
        self._move(job, QUEUED, now, actor, event, detail, not_before=now + delay)

    def _back_uncounted(self, job, now, actor, event, detail, not_before):
        """Queue a job again, due at ``not_before``, taking back the attempt
        its claim counted."""
        job.attempts = max(0, job.attempts - 1)
        self._move(job, QUEUED, now, actor, event, detail, not_before=not_before)

    def _move(self, job, state, now, actor, event, detail="", not_before=None):
        """Move a job to ``state``, keeping indexes, counters, lease, worker
        record and history in step (the one place that changes ``state``)."""
        old = job.state
        indexes.drop(*self._filed(job))
        if old == RUNNING:
            self._unassign(job)
        self._counts[old].change(-1)
        job.state = state
        self._counts[state].change(1)
        if state == QUEUED:
            job.not_before = now if not_before is None else not_before
        index, key = self._filed(job)
        index.add(key)
        if state in FINAL_STATES:
            job.finished = now
        if (old in FINAL_STATES) != (state in FINAL_STATES):
            self._active_changed(job, state not in FINAL_STATES)
        job.add_event(now, actor, event, detail)
        # Due (again), or a worker and its report's concurrency slot free for
        # a waiting job: sleeping workers look once this commits.
        if state == QUEUED:
            job_due(self)
        elif old == RUNNING:
            job_due(self, only_if=self._counts[QUEUED])

    def _filed(self, job):
        """The index a job is filed in for its state, and its key there.

        Queued jobs are found through ``_due`` alone, running ones through
        their worker's index (``_running_index``), the others by state.
        """
        if job.state == QUEUED:
            return self._due, indexes.due_key(job)
        if job.state == RUNNING:
            return self._running_index(job.lease_worker), indexes.newest_key(job)
        return self._by_state[job.state], indexes.newest_key(job)
