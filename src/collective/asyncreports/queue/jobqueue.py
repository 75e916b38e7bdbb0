"""JobQueue: the persistent queue of report jobs, built to avoid write hot spots.

Its methods come in three parts: submitting, claiming and reading here, the
state changes in ``transitions``, leases and workers in ``leases``; the
indexes they keep are described in ``indexes``.
"""

import math
import random
import secrets
from itertools import islice
from itertools import takewhile

from BTrees.Length import Length
from BTrees.OOBTree import OOBTree
from persistent import Persistent

from collective.asyncreports.errors import InvalidJobRequest
from collective.asyncreports.errors import InvalidTransition
from collective.asyncreports.errors import JobNotFound
from collective.asyncreports.queue import indexes
from collective.asyncreports.queue.clock import now_or_time
from collective.asyncreports.queue.job import Job
from collective.asyncreports.queue.leases import Leases
from collective.asyncreports.queue.limits import Limits
from collective.asyncreports.queue.retention import PurgeTurn
from collective.asyncreports.queue.retention import Retention
from collective.asyncreports.queue.settings import SETTINGS
from collective.asyncreports.queue.states import ALL_STATES
from collective.asyncreports.queue.states import FINAL_STATES
from collective.asyncreports.queue.states import QUEUED
from collective.asyncreports.queue.states import RUNNING
from collective.asyncreports.queue.transitions import Transitions
from collective.asyncreports.wakeup import job_due


def _job_id(now):
    """A new job id: milliseconds since the epoch, then random.

    Ids sort by age, so the oldest jobs (the next to run) sit together in
    ``_jobs``'s buckets, and a claim in a big queue rarely loads a cold one.
    """
    return f"{int(now * 1000):011x}{secrets.token_hex(3)}"


def _check_states(states):
    unknown = [state for state in states if state not in ALL_STATES]
    if unknown:
        raise ValueError(f"unknown job state(s): {', '.join(map(repr, unknown))}")


class JobQueue(Transitions, Leases, Retention, Limits, Persistent):
    """Jobs waiting, running and finished, and the workers that run them.

    Settings are plain attributes, declared in ``queue/settings.py``
    (``lease_seconds``, ``max_attempts``, ``backoff_seconds``,
    ``backoff_max``, ``retention_days``, ``time_limit``; keyword arguments
    here, defaults from that table), and ``clock_skew`` (how far apart two
    machines' clocks may be: heartbeat times written by one worker are only
    trusted by another with this margin, see ``lease_expired``).

    Every method that depends on the clock takes ``now`` (epoch seconds,
    default ``time.time()``).
    """

    def __init__(self, clock_skew=60, **settings):
        defaults = SETTINGS.defaults()
        unknown = sorted(set(settings) - set(defaults))
        if unknown:
            raise TypeError(f"JobQueue() got unknown settings: {', '.join(unknown)}")
        for name, value in dict(defaults, **settings).items():
            setattr(self, name, value)
        self.clock_skew = clock_skew
        self._jobs = OOBTree()
        # Never reassigned after this, so the queue object itself is not
        # rewritten by enqueues and claims; only the sets and counters are.
        # Queued jobs are found through _due alone and running ones through
        # their worker's index in _running (see _running_index): _by_state
        # holds only the final states.
        self._due = indexes.new_index()
        self._newest = indexes.new_index()
        self._by_owner = indexes.new_index()
        self._by_state = {state: indexes.new_index() for state in FINAL_STATES}
        self._running = OOBTree()
        self._counts = {state: Length() for state in ALL_STATES}
        self._dedup = OOBTree()
        self._workers = OOBTree()
        self._active_by_owner = indexes.new_index()  # see limits.py
        self._purge_turn = PurgeTurn()  # see retention.py
        self._slots = OOBTree()  # report name -> ReportSlot, see limits.py

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
        format="pdf",
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
        :param format: the result's format, e.g. ``"pdf"`` (checked against
            the report by ``submission.submit``).
        :returns: the new (or deduplicated) Job.
        :raises InvalidJobRequest: report, path or owner missing, or
            max_attempts below 1.
        """
        now = now_or_time(now)
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
        if not (isinstance(format, str) and format):
            raise InvalidJobRequest(f"the result format must be text, not {format!r}")
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
            format=format,
        )
        self._jobs[job_id] = job
        self._due.add(indexes.due_key(job))
        self._counts[QUEUED].change(1)
        self._newest.add(indexes.newest_key(job))
        self._by_owner.add(indexes.owner_key(job))
        self._active_changed(job, True)
        if dedup_key is not None:
            self._dedup[dedup_key] = job_id
        job.add_event(now, actor or owner_id, "queued", f"report {report} on {path}")
        job_due(self)
        return job

    def queued_with(self, dedup_key):
        """The job queued before with ``dedup_key`` (see ``enqueue``), or None."""
        if dedup_key is None or not isinstance(dedup_key, str) or dedup_key not in self._dedup:
            return None
        return self._jobs.get(self._dedup[dedup_key])

    def get(self, job_id):
        """Return the job with this id.

        :raises JobNotFound: no such job in this queue.
        """
        if job_id not in self:
            raise JobNotFound(job_id)
        return self._jobs[job_id]

    # Workers: claiming

    def claim(self, worker_id, limit=1, now=None, spread=1, start_first=True, limits=None):
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
        :param limits: ``{report name: max_concurrent}``: jobs of these
            reports are claimed only while fewer run (``Limits._claimable``).
        :returns: list of claimed Jobs, possibly empty (then nothing is
            written, so idle polling costs no commit).
        """
        now = now_or_time(now)
        if limits:
            keys = self._claimable(self._due_keys(now), limits, max(limit, spread))
        else:
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
            if limits and limits.get(job.report):
                self._take_slot(job.report)
        if start_first:
            jobs[0].mark_started(now)
        # The worker's record is not written here: its next heartbeat lists
        # the job (see lease_expired), so claims never conflict with heartbeats.
        return jobs

    def due_count(self, now=None, limit=1000):
        """Return how many queued jobs are due now, counting at most ``limit``."""
        return sum(1 for _ in islice(self._due_keys(now_or_time(now)), limit))

    # People and administrators

    def purge(self, states=FINAL_STATES, older_than=None, job_ids=None, now=None):
        """Remove finished jobs from the queue.

        :param states: only jobs in these (final) states.
        :param older_than: only jobs finished (or, failing that, created)
            more than this many seconds ago.
        :param job_ids: only these jobs; otherwise jobs marked "keep" stay.
        :returns: list of the removed Jobs, so callers can delete their
            results and error logs.
        :raises JobNotFound: ``job_ids`` names an unknown job.
        :raises InvalidTransition: ``states`` or ``job_ids`` names a queued or
            running job; nothing is removed then.
        """
        now = now_or_time(now)
        if older_than is not None and not older_than >= 0:  # also NaN
            raise InvalidJobRequest(f"older_than must not be negative (got {older_than})")
        _check_states(states)
        live = [state for state in states if state not in FINAL_STATES]
        if live:
            raise InvalidTransition(f"{', '.join(live)} jobs cannot be purged")
        if job_ids is None:
            candidates = [self._jobs[key[-1]] for state in states
                          for key in indexes.keys(self._by_state[state])]
        else:
            candidates = [self.get(job_id) for job_id in dict.fromkeys(job_ids)]
            for job in candidates:
                if not job.is_final:
                    raise InvalidTransition(f"job {job.id} is {job.state} and cannot be purged")
        removed = [
            job
            for job in candidates
            if job.state in states
            and (job_ids is not None or not job.keep)
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
            keys = indexes.keys(self._by_owner, (owner,), (owner, math.inf))
            total = None
        elif state == RUNNING:
            keys = self._running_keys()
            total = self._counts[state]()
        elif state is not None:
            keys = indexes.keys(self._due if state == QUEUED else self._by_state[state])
            total = self._counts[state]()
        else:
            keys = indexes.keys(self._newest)
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
        key = indexes.due_key(job)
        ahead = takewhile(lambda due: due < key, self._due_keys(now_or_time(now)))
        return sum(1 for _ in ahead)

    def next_due(self, now=None):
        """Return when the next queued job is due (``now`` if one already is).

        :returns: epoch seconds, or None if nothing is queued.
        """
        earliest = self._earliest_not_before()
        return None if earliest is None else max(earliest, now_or_time(now))

    def waiting_since(self, now=None):
        """Return since when the longest-waiting due job has been due.

        :returns: epoch seconds, or None if no job is due (for health checks).
        """
        earliest = self._earliest_not_before()
        return earliest if earliest is not None and earliest <= now_or_time(now) else None

    # Internals

    def _earliest_not_before(self):
        """The smallest not_before of any queued job: one key per priority level."""
        earliest = None
        key = indexes.first(self._due)
        while key is not None:
            earliest = key[1] if earliest is None else min(earliest, key[1])
            key = indexes.first(self._due, (key[0], math.inf))
        return earliest

    def _due_keys(self, now):
        """Due keys in claim order; jobs not yet due cost nothing."""
        start = indexes.FIRST
        while True:
            for key in indexes.keys(self._due, start):
                if key[1] > now:
                    # Keys of a priority level are ordered by not_before, so
                    # nothing further in this level is due: go to the next.
                    start = (key[0], math.inf)
                    break
                yield key
            else:
                return

    def _remove(self, job):
        del self._jobs[job.id]
        index, key = self._filed(job)
        index.remove(key)
        self._counts[job.state].change(-1)
        self._newest.remove(indexes.newest_key(job))
        self._by_owner.remove(indexes.owner_key(job))
        if job.dedup_key is not None and self._dedup.get(job.dedup_key) == job.id:
            del self._dedup[job.dedup_key]
