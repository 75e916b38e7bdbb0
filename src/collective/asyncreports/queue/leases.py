"""Leases and workers: heartbeats, whether a lease still holds, worker records
and the per-worker indexes of running jobs (part of ``JobQueue``)."""

import time
from typing import NamedTuple

from collective.asyncreports.errors import LeaseLost
from collective.asyncreports.queue import indexes
from collective.asyncreports.queue.clock import now_or_time
from collective.asyncreports.queue.states import RUNNING
from collective.asyncreports.queue.workers import WorkerRecord


# A worker lists a job it claimed in its next heartbeat. Until one this many
# seconds after the claim leaves it out, a missing job is not "forgotten"
# (a heartbeat may have been on its way while the claim committed).
CLAIM_REPORT_SECONDS = 5.0


class Progress(NamedTuple):
    """How far a job got: ``percent`` (0 to 100) and a line for people."""

    percent: int
    message: str


class Leases:
    """JobQueue's methods for workers and their leases.

    Uses the queue's ``_jobs``, ``_workers`` (worker id -> WorkerRecord) and
    ``_running`` (worker id -> index of the jobs it runs), and its
    ``lease_seconds`` and ``clock_skew`` settings.
    """

    def heartbeat(self, worker_id, hostname=None, pid=None, now=None, current_jobs=None,
                  jobs_done=None, jobs_failed=None, last_job_id=None, started_jobs=None,
                  progress=None):
        """Record that a worker is alive; this keeps its leases alive.

        Writes only the worker's own record, so workers never conflict on
        heartbeats. The worker reports here what it is running and how many
        jobs it finished or failed: job outcomes never write the record, so a
        long job's commit cannot conflict with its own worker's heartbeats.
        A different ``pid`` than recorded, or a heartbeat after
        ``worker_stopped``, means a new process under an old id: its
        predecessor's jobs are forgotten so their leases can expire.

        ``progress`` is the latest progress of the worker's running jobs that
        reported any: ``((job id, lease token, percent, message), ...)``;
        the record is the one place it is written while the jobs run (see
        ``progress_of``), so progress never conflicts with the jobs' ends.

        :returns: the WorkerRecord.
        """
        now = now_or_time(now)
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
            "progress": None if progress is None else tuple(map(tuple, progress)),
        }
        for name, value in reported.items():
            if value is not None and getattr(record, name) != value:
                setattr(record, name, value)
        record.last_heartbeat = now
        return record

    def progress_of(self, job):
        """How far ``job`` got, as UIs show it: a Progress.

        While it runs, what its worker's heartbeat last wrote for this
        attempt (the lease token tells attempts apart); otherwise, and
        before the first report, what the job holds (100 once done).
        """
        if job.state == RUNNING and job.lease_worker is not None:
            record = self._workers.get(job.lease_worker)
            for job_id, token, percent, message in getattr(record, "progress", ()):
                if job_id == job.id and token == job.lease_token:
                    return Progress(percent, message)
        return Progress(int(job.progress or 0), job.progress_message or "")

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
        now = now_or_time(now)
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

    def workers_with_jobs(self):
        """Return the WorkerRecords of workers that hold running jobs.

        Reads only the per-worker running indexes, not every record (a
        ``--once`` worker leaves one record per run).
        """
        records = []
        for worker_id, index in self._running.items():
            record = self._workers.get(worker_id)
            if record is not None and indexes.first(index) is not None:
                records.append(record)
        return records

    def running_jobs(self):
        """Return every running Job (there are as many as workers run)."""
        return [self._jobs[key[-1]] for key in self._running_keys()]

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
        record = self._worker_record(worker_id, now_or_time(now))
        if record.host_key != host_key:
            record.host_key = host_key
        if record.once != once:
            record.once = once
        return record

    def worker_stopped(self, worker_id, now=None):
        """Record that a worker stopped; its heartbeats no longer hold leases.

        :returns: the WorkerRecord.
        """
        now = now_or_time(now)
        record = self._worker_record(worker_id, now)
        record.stopped = now
        self._drop_running_index(worker_id)
        return record

    def _worker_record(self, worker_id, now):
        record = self._workers.get(worker_id)
        if record is None:
            record = self._workers[worker_id] = WorkerRecord(worker_id, now=now)
        return record

    def _running_index(self, worker_id):
        """The index of the jobs ``worker_id`` runs, made on its first claim.

        Each worker adds and removes whole batches of keys at once. In one
        index shared by all workers those batches split and join the same
        buckets, and such tree changes never merge: with two busy workers it
        caused most of their conflicts. Here only a job's own worker (or,
        once that worker is gone, a reaper) changes its index.
        """
        index = self._running.get(worker_id)
        if index is None:
            index = self._running[worker_id] = indexes.new_index()
        return index

    def _drop_running(self, job):
        """Take a running job out of its worker's index."""
        indexes.drop(self._running[job.lease_worker], indexes.newest_key(job))

    def _drop_running_index(self, worker_id):
        """Forget a stopped worker's running index once it holds no job."""
        index = self._running.get(worker_id)
        if index is not None and indexes.first(index) is None:
            del self._running[worker_id]

    def _running_keys(self):
        """Keys of every running job, newest first."""
        return indexes.merged_keys(self._running.values())

    def _unassign(self, job):
        """Drop a running job's lease. The worker's record is left alone: its
        own heartbeat reports what it runs (see ``heartbeat``)."""
        job.lease_worker = None
        job.lease_token = None
        job.lease_expires = None
