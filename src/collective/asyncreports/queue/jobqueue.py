"""JobQueue: the persistent queue of report jobs, built to avoid write hot spots."""

import heapq
import math
import random
import secrets
import time
from itertools import islice
from itertools import takewhile

from BTrees.Length import Length
from BTrees.OOBTree import OOBTree
from BTrees.OOBTree import OOTreeSet
from persistent import Persistent

from collective.asyncreports.errors import InvalidJobRequest
from collective.asyncreports.errors import InvalidTransition
from collective.asyncreports.errors import JobNotFound
from collective.asyncreports.errors import LeaseLost
from collective.asyncreports.queue.job import Job
from collective.asyncreports.queue.states import ALL_STATES
from collective.asyncreports.queue.states import CANCELLED
from collective.asyncreports.queue.states import DONE
from collective.asyncreports.queue.states import FAILED
from collective.asyncreports.queue.states import FINAL_STATES
from collective.asyncreports.queue.states import QUEUED
from collective.asyncreports.queue.states import RUNNING
from collective.asyncreports.queue.workers import WorkerRecord


# BTrees will not merge two concurrent changes to a bucket when one of them
# deletes the bucket's first key (or empties it), and a claim always deletes
# the smallest due key.  So every index starts with this key, which sorts
# before every real (tuple) key and is never deleted: claims and finishes
# then merge with concurrent enqueues instead of conflicting.
_FIRST = ()


# A worker lists a job it claimed in its next heartbeat. Until one this many
# seconds after the claim leaves it out, a missing job is not "forgotten"
# (a heartbeat may have been on its way while the claim committed).
CLAIM_REPORT_SECONDS = 5.0


def _now(now):
    return time.time() if now is None else now


def _job_id(now):
    """A new job id: milliseconds since the epoch, then random.

    Ids sort by age, so the oldest jobs (the next to run) sit together in
    ``_jobs``'s buckets, and a claim in a big queue rarely loads a cold one.
    """
    return f"{int(now * 1000):011x}{secrets.token_hex(3)}"


def _index():
    return OOTreeSet([_FIRST])


def _keys(index, start=_FIRST, stop=None):
    """Real keys of an index in order, after ``start`` and up to ``stop``."""
    return index.keys(min=start, max=stop, excludemin=True)


def _first(index, start=_FIRST):
    return next(iter(_keys(index, start)), None)


def _drained(index):
    """True if the index's first bucket holds only ``_FIRST`` and more follow.

    Reads the tree's and the bucket's pickled state (documented BTrees
    format; both objects are loaded already): the root's state is
    ``(children and keys, first bucket)`` once the tree has buckets of its
    own, and a set bucket's state is ``(keys, next bucket)``.
    """
    state = index.__getstate__()
    if state is None or len(state) < 2:
        return False  # empty, or one bucket stored inline in the tree
    bucket = state[1].__getstate__()
    return len(bucket) == 2 and bucket[0] == (_FIRST,)


def _rotate(index):
    """Move ``_FIRST`` into the next bucket once its own bucket is drained.

    Claims take keys from the front. Once the first bucket held nothing but
    ``_FIRST``, each claim would delete the *first* key of the next bucket:
    BTrees then rewrite the parent node to update its separator key on every
    claim (a whole internal node, ~18 KB in a queue of 100,000 jobs), and
    such a bucket change never merges with a concurrent one (conflict reason
    13). Removing ``_FIRST`` unlinks its empty bucket and adding it again
    puts it at the head of the new first bucket, so claims delete keys
    behind it again: the internal nodes are written once per drained bucket
    (as when a front bucket emptied before), not on every claim.
    """
    if _drained(index):
        index.remove(_FIRST)
        index.add(_FIRST)


def _drop(index, key):
    """Remove ``key`` from an index, keeping ``_FIRST`` in a bucket with real keys."""
    _rotate(index)
    index.remove(key)
    _rotate(index)


def _due_key(job):
    # Claim order: highest priority, then earliest not_before, then oldest.
    return (-job.priority, job.not_before, job.created, job.id)


def _newest_key(job):
    return (-job.created, job.id)


def _owner_key(job):
    return (job.owner_id, -job.created, job.id)


def _check_states(states):
    unknown = [state for state in states if state not in ALL_STATES]
    if unknown:
        raise ValueError(f"unknown job state(s): {', '.join(map(repr, unknown))}")


class JobQueue(Persistent):
    """Jobs waiting, running and finished, and the workers that run them.

    Settings are plain attributes: ``lease_seconds`` (how long a claim holds a
    job without heartbeats), ``max_attempts`` (default per job),
    ``backoff_seconds`` and ``backoff_max`` (delay before a retry) and
    ``retention_days`` (for callers that purge old jobs).

    Every method that depends on the clock takes ``now`` (epoch seconds,
    default ``time.time()``).
    """

    # Longest a report may run before it is stopped and failed as timed out.
    # A class attribute, so queues made before the setting existed have it.
    time_limit = 1800
    # How far apart two machines' clocks may be: heartbeat times written by
    # one worker are only trusted by another with this margin (see
    # lease_expired). A class attribute, like time_limit.
    clock_skew = 60

    def __init__(
        self,
        lease_seconds=300,
        max_attempts=3,
        backoff_seconds=30,
        backoff_max=3600,
        retention_days=30,
        clock_skew=60,
    ):
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.backoff_max = backoff_max
        self.retention_days = retention_days
        self.clock_skew = clock_skew
        self._jobs = OOBTree()
        self._due = _index()
        self._newest = _index()
        self._by_owner = _index()
        # Never reassigned after this, so the queue object itself is not
        # rewritten by enqueues and claims; only the sets and counters are.
        # Queued jobs are found through _due alone: one index fewer to write
        # on every enqueue and claim (queues made before 1.0 have a stale one).
        # Running jobs are in their worker's own index (see _running_index);
        # _by_state[RUNNING] holds only those claimed before those existed.
        self._by_state = {state: _index() for state in ALL_STATES if state != QUEUED}
        self._running = OOBTree()
        self._counts = {state: Length() for state in ALL_STATES}
        self._dedup = OOBTree()
        self._workers = OOBTree()

    # Queues made before per-worker running indexes get theirs on first use.
    _running = None

    def __len__(self):
        return sum(count() for count in self._counts.values())

    def __contains__(self, job_id):
        return isinstance(job_id, str) and job_id in self._jobs

    # Submitting and looking up

    def enqueue(
        self,
        report,
        path,
        params,
        owner_id,
        owner_folder="/acl_users",
        priority=0,
        not_before=None,
        max_attempts=None,
        dedup_key=None,
        queue_path="",
        actor=None,
        now=None,
    ):
        """Queue a report run.

        :param report: name of the report type.
        :param path: path of the object the report runs on.
        :param params: validated report parameters (copied to a plain dict).
        :param owner_id: id of the user the report runs as.
        :param owner_folder: path of the user folder holding that user.
        :param priority: int, higher runs first.
        :param not_before: epoch seconds before which the job is not run.
        :param max_attempts: defaults to the queue's ``max_attempts``.
        :param dedup_key: idempotency key, e.g. from the submitted form. If a
            job was already queued with it, that job is returned and nothing
            is queued, so a retried or doubly submitted request leaves one job.
        :param queue_path: path of the queue object, stored on the job.
        :param actor: who queued it, for the history (default: the owner).
        :returns: the new (or deduplicated) Job.
        :raises InvalidJobRequest: report, path or owner missing, or
            max_attempts below 1.
        """
        now = _now(now)
        if max_attempts is None:
            max_attempts = self.max_attempts
        if not (report and path and owner_id):
            raise InvalidJobRequest("a job needs a report, a path and an owner")
        if max_attempts < 1:
            raise InvalidJobRequest("max_attempts must be at least 1")
        if dedup_key is not None and not isinstance(dedup_key, str):
            # Keys of one BTree must compare with each other: a list among
            # strings breaks every later lookup.
            raise InvalidJobRequest(f"dedup_key must be text, not {type(dedup_key).__name__}")
        if dedup_key is not None and dedup_key in self._dedup:
            return self._jobs[self._dedup[dedup_key]]
        job_id = _job_id(now)
        while job_id in self._jobs:
            job_id = _job_id(now)
        job = Job(
            job_id,
            report,
            path,
            params,
            owner_id,
            owner_folder=owner_folder,
            priority=priority,
            created=now,
            not_before=now if not_before is None else not_before,
            max_attempts=max_attempts,
            queue_path=queue_path,
            dedup_key=dedup_key,
        )
        self._jobs[job_id] = job
        self._due.add(_due_key(job))
        self._counts[QUEUED].change(1)
        self._newest.add(_newest_key(job))
        self._by_owner.add(_owner_key(job))
        if dedup_key is not None:
            self._dedup[dedup_key] = job_id
        job.add_event(now, actor or owner_id, "queued", f"report {report} on {path}")
        return job

    def get(self, job_id):
        """Return the job with this id.

        :raises JobNotFound: no such job in this queue.
        """
        if job_id not in self:
            raise JobNotFound(job_id)
        return self._jobs[job_id]

    # Workers: claiming, leases, outcomes

    def claim(self, worker_id, limit=1, now=None, spread=1, start_first=True):
        """Lease up to ``limit`` due jobs to a worker.

        Jobs are taken highest priority first, then earliest ``not_before``,
        then oldest. Each becomes running with a fresh lease token, and its
        attempt is counted now, before any work is done.

        :param spread: take the jobs at random from the first ``spread``
            due jobs of the highest due priority, not strictly the first.
            Busy workers claiming at the same moment then rarely want the
            same job (which would make all but one commit conflict).
        :param start_first: the worker runs the first job at once: mark it
            started in this commit, for free. The others of a batch wait for
            it; the worker's heartbeats say when they start (``is_started``).
        :returns: list of claimed Jobs, possibly empty (then nothing is
            written, so idle polling costs no commit).
        """
        now = _now(now)
        keys = list(islice(self._due_keys(now), max(limit, spread)))
        if len(keys) > limit:
            level = [key for key in keys if key[0] == keys[0][0]]
            keys = random.sample(level, min(limit, len(level)))
            keys.sort()
        if not keys:
            return []
        jobs = [self._jobs[key[-1]] for key in keys]
        for job in jobs:
            attempt = f"attempt {job.attempts + 1} of {job.max_attempts}"
            job.lease_worker = worker_id  # first: _move files the job under it
            self._move(job, RUNNING, now, worker_id, "claimed", attempt)
            job.attempts += 1
            job.lease_token = secrets.token_hex(8)
            job.lease_expires = now + self.lease_seconds
            job.started = now
            job.progress = 0
            job.progress_message = ""
        if start_first:
            jobs[0].mark_started(now)
        # The worker's record is not written here: its next heartbeat lists
        # the job (see lease_expired), so claims never conflict with heartbeats.
        return jobs

    def heartbeat(self, worker_id, hostname=None, pid=None, now=None, current_jobs=None,
                  jobs_done=None, jobs_failed=None, last_job_id=None, started_jobs=None):
        """Record that a worker is alive; this keeps its leases alive.

        Writes only the worker's own record, so workers never conflict on
        heartbeats. The worker reports here what it is running and how many
        jobs it finished or failed: job outcomes never write the record, so a
        long job's commit cannot conflict with its own worker's heartbeats.
        A different ``pid`` than recorded, or a heartbeat after
        ``worker_stopped``, means a new process under an old id: its
        predecessor's jobs are forgotten so their leases can expire.

        :returns: the WorkerRecord.
        """
        now = _now(now)
        record = self._workers.get(worker_id)
        if record is None:
            record = self._workers[worker_id] = WorkerRecord(worker_id, hostname, pid, now)
        elif record.stopped is not None or (None not in (pid, record.pid) and pid != record.pid):
            record.started = now
            record.current_jobs = ()
            record.stopped = None
        if hostname is not None:
            record.hostname = hostname
        if pid is not None:
            record.pid = pid
        reported = {
            "current_jobs": None if current_jobs is None else tuple(current_jobs),
            "started_jobs": None if started_jobs is None else tuple(started_jobs),
            "jobs_done": jobs_done,
            "jobs_failed": jobs_failed,
            "last_job_id": last_job_id,
        }
        for name, value in reported.items():
            if value is not None and getattr(record, name) != value:
                setattr(record, name, value)
        record.last_heartbeat = now
        return record

    def is_started(self, job):
        """True if a running job's report has begun: marked at its claim (the
        first of a batch), or listed as started by its worker's heartbeat."""
        if job.started_running:
            return True
        record = self._workers.get(job.lease_worker) if job.lease_worker else None
        return record is not None and job.id in record.started_jobs

    def lease_expired(self, job, now=None, seen=None, observed_at=None):
        """Return True if a running job's lease has run out (its worker died).

        The lease holds while ``job.lease_expires`` lies ahead. After that it
        holds while the leasing worker lists the job, has not stopped, and
        heartbeats. Heartbeat times come from the worker's clock, so they are
        compared with ``now`` only with ``clock_skew`` seconds to spare.
        ``seen``, a dict the caller keeps between calls (a long-running
        reaper does), makes the check independent of clocks: the worker is
        silent once its heartbeat has not changed for ``lease_seconds`` of
        the caller's own monotonic time (``observed_at``). Jobs that are not
        running hold no lease and never expire.
        """
        now = _now(now)
        if job.state != RUNNING:
            return False
        if job.lease_expires is not None and job.lease_expires > now:
            return False
        record = self._workers.get(job.lease_worker)
        if record is None or record.stopped is not None:
            return True
        if job.id not in record.current_jobs and (
                record.last_heartbeat >= (job.started or 0) + CLAIM_REPORT_SECONDS):
            # Alive, and a heartbeat well after the claim (both times from the
            # worker's own clock) no longer lists the job: it was forgotten.
            return True
        if record.last_heartbeat + self.lease_seconds + self.clock_skew <= now:
            return True
        if seen is None:
            return False
        observed_at = time.monotonic() if observed_at is None else observed_at
        heartbeat, since = seen.get(record.worker_id, (None, None))
        if heartbeat != record.last_heartbeat:
            seen[record.worker_id] = (record.last_heartbeat, observed_at)
            return False
        return observed_at - since > self.lease_seconds

    def check_lease(self, job_id, token):
        """Return the job if ``token`` still holds its lease.

        Registers the job as read-current, so the transaction cannot commit
        if another one changed the job meanwhile.

        :raises JobNotFound: no such job.
        :raises LeaseLost: the job is not running or has another token.
        """
        job = self.get(job_id)
        if job._p_jar is not None:
            job._p_jar.readCurrent(job)
        if job.state != RUNNING or job.lease_token != token:
            raise LeaseLost(
                f"job {job_id} is {job.state} and no longer leased with this "
                "token; another worker or an administrator took it over"
            )
        return job

    def set_progress(self, job_id, token, percent, message=""):
        """Set a leased job's progress (clamped to 0..100) and message.

        :raises LeaseLost: see ``check_lease``.
        """
        job = self.check_lease(job_id, token)
        job.progress = max(0, min(100, int(percent)))
        job.progress_message = message
        return job

    def finish(self, job_id, token, result_path, now=None):
        """Mark a leased job done with the path of its result.

        :raises LeaseLost: see ``check_lease``.
        """
        job = self.check_lease(job_id, token)
        job.result_path = result_path
        job.error_message = None
        job.progress = 100
        self._move(job, DONE, _now(now), job.lease_worker, "finished", result_path)
        return job

    def fail(self, job_id, token, error_message, error_path=None, now=None):
        """Mark a leased job failed for good (e.g. the report raised).

        :param error_path: path of the stored error log, if any.
        :raises LeaseLost: see ``check_lease``.
        """
        job = self.check_lease(job_id, token)
        job.error_message = error_message
        job.error_path = error_path
        self._move(job, FAILED, _now(now), job.lease_worker, "failed", error_message)
        return job

    def release(self, job_id, token, error_message, count_attempt=True, now=None):
        """Give a leased job back after a transient failure.

        The job is queued again after ``backoff(attempts)`` if it has
        attempts left, else it fails. With ``count_attempt=False`` (the run
        was interrupted, e.g. the worker is shutting down, through no fault of
        the job) the attempt is not counted and the job is due at once. A job
        whose cancel was requested is cancelled instead.

        :raises LeaseLost: see ``check_lease``.
        """
        now = _now(now)
        job = self.check_lease(job_id, token)
        worker = job.lease_worker
        job.error_message = error_message
        if job.cancel_requested:
            self._move(job, CANCELLED, now, worker, "cancelled", error_message)
        elif not count_attempt:
            self._requeue_uncounted(job, now, worker, "interrupted", error_message)
        elif job.attempts < job.max_attempts:
            self._requeue(job, now, worker, "released", error_message)
        else:
            self._move(job, FAILED, now, worker, "failed", error_message)
        return job

    def hand_back(self, job_id, token, reason, now=None):
        """Give back a leased job its worker did not start (its batch ran long).

        It is due again at once, in its old place in line, for any worker;
        the attempt is not counted. A job whose cancel was requested is
        cancelled instead.

        :raises LeaseLost: see ``check_lease``.
        """
        now = _now(now)
        job = self.check_lease(job_id, token)
        worker = job.lease_worker
        if job.cancel_requested:
            self._move(job, CANCELLED, now, worker, "cancelled", reason)
        else:
            self._requeue_uncounted(job, now, worker, "handed back", reason,
                                    not_before=job.not_before)
        return job

    def backoff(self, attempts):
        """Seconds to wait before the next try after ``attempts`` attempts.

        Doubles from ``backoff_seconds``, capped at ``backoff_max``, plus up
        to 10% random jitter so retried jobs do not all wake at once.
        """
        delay = min(self.backoff_seconds * 2 ** max(0, attempts - 1), self.backoff_max)
        return delay + random.uniform(0, delay / 10)

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
        now = _now(now)
        reaped = []
        for key in list(self._running_keys()):
            job = self._jobs[key[-1]]
            if not self.lease_expired(job, now, seen, observed_at):
                continue
            self._take_back(job, now, actor, f"the lease of worker {job.lease_worker} expired")
            reaped.append(job)
        return reaped

    def _take_back(self, job, now, actor, reason):
        """End a running job's attempt that its worker lost, counted: cancelled
        if that was asked, back with backoff while attempts are left, else
        failed as abandoned."""
        used = f"{job.attempts} of {job.max_attempts} attempts"
        if job.cancel_requested:
            self._move(job, CANCELLED, now, actor, "cancelled", reason)
        elif job.attempts < job.max_attempts:
            self._requeue(job, now, actor, "reaped", f"{reason} ({used} used)")
        else:
            job.error_message = f"abandoned: {reason}, and all {used} are used"
            self._move(job, FAILED, now, actor, "abandoned", job.error_message)

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
        now = _now(now)
        index = None if self._running is None else self._running.get(worker_id)
        reaped = []
        for key in list(_keys(index)) if index is not None else ():
            job = self._jobs[key[-1]]
            lost = job.lost_runs + 1
            job.lost_runs = lost
            if lost <= job.max_attempts and not job.cancel_requested:
                self._requeue_uncounted(job, now, actor, "reaped",
                                        f"{reason}; attempt not counted",
                                        not_before=job.not_before)
            else:
                self._take_back(job, now, actor, reason)
            reaped.append(job)
        record = self._workers.get(worker_id)
        if record is not None and record.stopped is None:
            record.stopped = now
        self._drop_running_index(worker_id)
        return reaped

    def workers_with_jobs(self):
        """Return the WorkerRecords of workers that hold running jobs.

        Reads only the per-worker running indexes, not every record (a
        ``--once`` worker leaves one record per run).
        """
        records = []
        for worker_id, index in (self._running or {}).items():
            record = self._workers.get(worker_id)
            if record is not None and _first(index) is not None:
                records.append(record)
        return records

    def running_jobs(self):
        """Return every running Job (there are as many as workers run)."""
        return [self._jobs[key[-1]] for key in self._running_keys()]

    def due_count(self, now=None, limit=1000):
        """Return how many queued jobs are due now, counting at most ``limit``."""
        return sum(1 for _ in islice(self._due_keys(_now(now)), limit))

    # People and administrators

    def cancel(self, job_id, actor=None, now=None):
        """Cancel a job.

        A queued job is cancelled at once; a running one gets
        ``cancel_requested`` and stays running until its worker confirms.

        :raises JobNotFound: no such job.
        :raises InvalidTransition: the job is already done, failed or cancelled.
        """
        now = _now(now)
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

    def confirm_cancel(self, job_id, token, now=None):
        """The worker acknowledges a requested cancel: the job is cancelled.

        :raises LeaseLost: see ``check_lease``.
        :raises InvalidTransition: no cancel was requested.
        """
        job = self.check_lease(job_id, token)
        if not job.cancel_requested:
            raise InvalidTransition(f"no cancel was requested for job {job_id}")
        self._move(job, CANCELLED, _now(now), job.lease_worker, "cancelled")
        return job

    def retry(self, job_id, actor=None, now=None):
        """Queue a failed or cancelled job again, due now, with fresh attempts.

        The error message and error log path are cleared (the old error is
        kept in the history).

        :raises JobNotFound: no such job.
        :raises InvalidTransition: the job is not failed or cancelled.
        """
        job = self.get(job_id)
        if job.state not in (FAILED, CANCELLED):
            raise InvalidTransition(
                f"job {job_id} is {job.state}; only failed or cancelled jobs can be retried"
            )
        detail = job.error_message or ""
        job.attempts = 0
        job.error_message = None
        job.error_path = None
        job.cancel_requested = False
        job.started = None
        job.finished = None
        job.progress = 0
        job.progress_message = ""
        self._move(job, QUEUED, _now(now), actor, "retried", detail)
        return job

    def purge(self, states=FINAL_STATES, older_than=None, job_ids=None, now=None):
        """Remove finished jobs from the queue.

        :param states: only jobs in these (final) states.
        :param older_than: only jobs finished (or, failing that, created)
            more than this many seconds ago.
        :param job_ids: only these jobs.
        :returns: list of the removed Jobs, so callers can delete their
            results and error logs.
        :raises JobNotFound: ``job_ids`` names an unknown job.
        :raises InvalidTransition: ``states`` or ``job_ids`` names a queued or
            running job; nothing is removed then.
        """
        now = _now(now)
        if older_than is not None and not older_than >= 0:  # also NaN
            raise InvalidJobRequest(f"older_than must not be negative (got {older_than})")
        _check_states(states)
        live = [state for state in states if state not in FINAL_STATES]
        if live:
            raise InvalidTransition(f"{', '.join(live)} jobs cannot be purged")
        if job_ids is None:
            candidates = [
                self._jobs[key[-1]] for state in states for key in _keys(self._by_state[state])
            ]
        else:
            candidates = [self.get(job_id) for job_id in dict.fromkeys(job_ids)]
            for job in candidates:
                if not job.is_final:
                    raise InvalidTransition(f"job {job.id} is {job.state} and cannot be purged")
        removed = [
            job
            for job in candidates
            if job.state in states
            and (older_than is None or (job.finished or job.created) < now - older_than)
        ]
        for job in removed:
            self._remove(job)
        return removed

    # Reading

    def stats(self):
        """Return ``{state: count}`` for every state, plus ``'total'``."""
        counts = {state: self._counts[state]() for state in ALL_STATES}
        counts["total"] = sum(counts.values())
        return counts

    def list_jobs(self, state=None, owner=None, report=None, start=0, size=20):
        """Return ``(jobs, total)``: one page of jobs, newest first.

        Queued jobs alone (``state="queued"``) come in the order they are
        due to run instead. Filters combine. ``total`` counts every match,
        not just the page.
        """
        if state is not None:
            _check_states([state])
        if owner is not None:
            keys = _keys(self._by_owner, (owner,), (owner, math.inf))
            total = None
        elif state == RUNNING:
            keys = self._running_keys()
            total = self._counts[state]()
        elif state is not None:
            keys = _keys(self._due if state == QUEUED else self._by_state[state])
            total = self._counts[state]()
        else:
            keys = _keys(self._newest)
            total = len(self)
        jobs = (self._jobs[key[-1]] for key in keys)
        if report is not None or (owner is not None and state is not None):
            matches = [
                job for job in jobs if state in (None, job.state) and report in (None, job.report)
            ]
            return matches[start : start + size], len(matches)
        if total is None:
            total = len(keys)
        return list(islice(jobs, start, start + size)), total

    def position(self, job_id, now=None):
        """Return how many due jobs would be claimed before this queued one.

        :returns: an int, or None if the job is not queued.
        :raises JobNotFound: no such job.
        """
        job = self.get(job_id)
        if job.state != QUEUED:
            return None
        key = _due_key(job)
        ahead = takewhile(lambda due: due < key, self._due_keys(_now(now)))
        return sum(1 for _ in ahead)

    def next_due(self, now=None):
        """Return when the next queued job is due (``now`` if one already is).

        :returns: epoch seconds, or None if nothing is queued.
        """
        earliest = self._earliest_not_before()
        return None if earliest is None else max(earliest, _now(now))

    def waiting_since(self, now=None):
        """Return since when the longest-waiting due job has been due.

        :returns: epoch seconds, or None if no job is due (for health checks).
        """
        earliest = self._earliest_not_before()
        return earliest if earliest is not None and earliest <= _now(now) else None

    def workers(self):
        """Return every WorkerRecord, ordered by worker id."""
        return list(self._workers.values())

    def worker(self, worker_id):
        """Return the WorkerRecord of this worker, or None."""
        return self._workers.get(worker_id)

    def worker_started(self, worker_id, host_key=None, once=False, now=None):
        """Record how a worker runs: its host key (see WorkerRecord) and ``--once``.

        :returns: the WorkerRecord.
        """
        record = self._worker_record(worker_id, _now(now))
        if record.host_key != host_key:
            record.host_key = host_key
        if record.once != once:
            record.once = once
        return record

    def worker_stopped(self, worker_id, now=None):
        """Record that a worker stopped; its heartbeats no longer hold leases.

        :returns: the WorkerRecord.
        """
        now = _now(now)
        record = self._worker_record(worker_id, now)
        record.stopped = now
        self._drop_running_index(worker_id)
        return record

    # Internals

    def _earliest_not_before(self):
        """The smallest not_before of any queued job: one key per priority level."""
        earliest = None
        key = _first(self._due)
        while key is not None:
            earliest = key[1] if earliest is None else min(earliest, key[1])
            key = _first(self._due, (key[0], math.inf))
        return earliest

    def _due_keys(self, now):
        """Due keys in claim order; jobs not yet due cost nothing."""
        start = _FIRST
        while True:
            for key in _keys(self._due, start):
                if key[1] > now:
                    # Keys of a priority level are ordered by not_before, so
                    # nothing further in this level is due: go to the next.
                    start = (key[0], math.inf)
                    break
                yield key
            else:
                return

    def _worker_record(self, worker_id, now):
        record = self._workers.get(worker_id)
        if record is None:
            record = self._workers[worker_id] = WorkerRecord(worker_id, now=now)
        return record

    def _requeue(self, job, now, actor, event, message):
        job.error_message = message
        delay = self.backoff(job.attempts)
        detail = f"{message}; next try in {delay:.0f}s"
        self._move(job, QUEUED, now, actor, event, detail, not_before=now + delay)

    def _requeue_uncounted(self, job, now, actor, event, detail, not_before=None):
        """Queue a job again, taking back the attempt its claim counted."""
        job.attempts = max(0, job.attempts - 1)
        self._move(job, QUEUED, now, actor, event, detail, not_before=not_before)

    def _move(self, job, state, now, actor, event, detail="", not_before=None):
        """Move a job to ``state``, keeping indexes, counters, lease, worker
        record and history in step (the one place that changes ``state``)."""
        old = job.state
        if old == QUEUED:
            _drop(self._due, _due_key(job))
        elif old == RUNNING:
            self._drop_running(job)
            self._unassign(job)
        else:
            _drop(self._by_state[old], _newest_key(job))
        self._counts[old].change(-1)
        job.state = state
        self._counts[state].change(1)
        if state == QUEUED:
            job.not_before = now if not_before is None else not_before
            self._due.add(_due_key(job))
        elif state == RUNNING:
            self._running_index(job.lease_worker).add(_newest_key(job))
        else:
            self._by_state[state].add(_newest_key(job))
        if state in FINAL_STATES:
            job.finished = now
        job.add_event(now, actor, event, detail)

    def _running_index(self, worker_id):
        """The index of the jobs ``worker_id`` runs, made on its first claim.

        Each worker adds and removes whole batches of keys at once. In one
        index shared by all workers those batches split and join the same
        buckets, and such tree changes never merge: with two busy workers it
        caused most of their conflicts. Here only a job's own worker (or,
        once that worker is gone, a reaper) changes its index.
        """
        if self._running is None:
            self._running = OOBTree()
        index = self._running.get(worker_id)
        if index is None:
            index = self._running[worker_id] = _index()
        return index

    def _drop_running(self, job):
        """Take a running job out of its worker's index."""
        key = _newest_key(job)
        index = None if self._running is None else self._running.get(job.lease_worker)
        if index is None or key not in index:
            index = self._by_state[RUNNING]  # claimed before per-worker indexes
        _drop(index, key)

    def _drop_running_index(self, worker_id):
        """Forget a stopped worker's running index once it holds no job."""
        if self._running is None:
            return
        index = self._running.get(worker_id)
        if index is not None and _first(index) is None:
            del self._running[worker_id]

    def _running_keys(self):
        """Keys of every running job, newest first (merged, not sorted: the
        indexes are each in order, and together hold only the running jobs)."""
        indexes = [self._by_state[RUNNING], *(self._running or {}).values()]
        return heapq.merge(*(_keys(index) for index in indexes))

    def _unassign(self, job):
        """Drop a running job's lease. The worker's record is left alone: its
        own heartbeat reports what it runs (see ``heartbeat``)."""
        job.lease_worker = None
        job.lease_token = None
        job.lease_expires = None

    def _remove(self, job):
        del self._jobs[job.id]
        self._by_state[job.state].remove(_newest_key(job))
        self._counts[job.state].change(-1)
        self._newest.remove(_newest_key(job))
        self._by_owner.remove(_owner_key(job))
        if job.dedup_key is not None and self._dedup.get(job.dedup_key) == job.id:
            del self._dedup[job.dedup_key]
