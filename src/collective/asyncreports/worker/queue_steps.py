"""The worker loop's short steps on its queues, each through its session.

Reads (which queues, their lease, when the next job is due), claims, the
record of a stopped worker, and taking back the jobs of workers that are
gone. A job a reaper takes back fails when that was its last attempt (a
poison job that kills its workers): it then gets its error log, like any
failed job.

Their events (JobStarted at a claim, JobFailed or JobCancelled of a reaped
job) are fired in the step's commit, with the queue's site and a synthetic
request. A subscriber that raises makes the step run again, ending that job
without the event: a job whose JobStarted subscriber raised fails at once
with the subscriber's error in its error log.
"""

import socket

from collective.asyncreports import events
from collective.asyncreports import logger
from collective.asyncreports.locations import queue_paths
from collective.asyncreports.queue.schedules import book_of
from collective.asyncreports.queue.states import FAILED
from collective.asyncreports.reports.registry import concurrency_limits
from collective.asyncreports.worker.claims import claim_spread
from collective.asyncreports.worker.endings import SubscriberFailed
from collective.asyncreports.worker.endings import clear_globals
from collective.asyncreports.worker.endings import fail_for_subscribers
from collective.asyncreports.worker.endings import fire
from collective.asyncreports.worker.endings import in_surroundings
from collective.asyncreports.worker.endings import owner_of
from collective.asyncreports.worker.endings import store_error_log
from collective.asyncreports.worker.host import host_key
from collective.asyncreports.worker.host import is_dead_here


def registered_queues(session):
    """The paths of every queue registered in the database."""
    return session.read(lambda app: queue_paths(app._p_jar.root()))


def shortest_lease(session, paths):
    """The shortest lease, in seconds, of the queues at ``paths``."""
    return min(session.read(
        lambda app: [app.unrestrictedTraverse(p).job_queue().lease_seconds for p in paths]))


def next_due(session, paths):
    """When (epoch seconds) the next queued job becomes due, or None."""
    def earliest(app):
        dues = [app.unrestrictedTraverse(p).job_queue().next_due() for p in paths]
        dues = [d for d in dues if d is not None]
        return min(dues) if dues else None
    return session.read(earliest)


def nothing_to_do(session, paths):
    """One read for an idle worker that the clock woke: (True, when the next
    job is due, when the next schedule tick is, epoch seconds or None) when no
    job and no tick is due and no job runs (no lease that could expire: nothing
    to reap); (False, None, None) otherwise: the worker makes its full round."""
    def look(app):
        jobs_due, ticks_due = [], []
        for path in paths:
            jobs = app.unrestrictedTraverse(path).job_queue()
            book = book_of(jobs)
            # running_jobs reads the indexes reap reads (cached): no load.
            if jobs.due_count(limit=1) or jobs.running_jobs() or book.due():
                return False, None, None
            jobs_due.append(jobs.next_due())
            ticks_due.append(book.next_due())
        return True, _earliest(jobs_due), _earliest(ticks_due)
    return session.read(look)


def _earliest(times):
    return min((time for time in times if time is not None), default=None)


def claim(session, worker_id, paths, limit):
    """Claim up to ``limit`` due jobs, in the order of ``paths``: [(path, job id, token)]."""
    limits = concurrency_limits()

    def claim_from(app, failures):
        claimed = []
        for path in paths:
            if len(claimed) >= limit:
                break
            jobs = app.unrestrictedTraverse(path).job_queue().claim(
                worker_id, limit=limit - len(claimed),
                spread=claim_spread(limit), start_first=not claimed, limits=limits)
            if jobs and jobs[0].started_running:  # its start commits now
                queue, job = in_surroundings(app, path), jobs[0]
                if job.id in failures:
                    fail_for_subscribers(queue, job, failures[job.id], owner_of(app, job))
                    jobs = jobs[1:]
                else:
                    fire(events.JobStarted(job, queue), job.id)
            claimed += [(path, job.id, job.lease_token) for job in jobs]
        return claimed
    return _write_firing(session, claim_from)


def mark_stopped(session, worker_id, paths, status):
    """Report the final counts (``status()``) and mark the worker's records as stopped."""
    def mark(app):
        for path in paths:
            jobs = app.unrestrictedTraverse(path).job_queue()
            jobs.heartbeat(worker_id, **status())
            jobs.worker_stopped(worker_id)
    session.write(mark)


def reap_lost_leases(session, worker_id, paths, seen):
    """Requeue or abandon jobs whose lease expired (their worker went silent).

    ``seen`` holds, per queue path, what this worker saw of other workers'
    heartbeats: it tells a dead worker by this worker's clock alone.
    """
    def step(app, failures):
        reaped = []
        for path in paths:
            queue = app.unrestrictedTraverse(path)
            jobs = queue.job_queue().reap(actor=worker_id, seen=seen.setdefault(path, {}))
            reaped += _logged_if_abandoned(app, path, jobs, failures)
        return reaped

    for job_id, state in _write_firing(session, step):
        logger.warning("job %s: lease expired, now %s", job_id, state)


def reap_dead_workers_here(session, worker_id, paths, once=False):
    """At a worker's start: record its host key, and take back the jobs of
    workers that died on this machine, attempt not counted (once each)."""
    key = host_key()
    hostname = socket.gethostname()

    def step(app, failures):
        reaped = []
        for path in paths:
            queue = app.unrestrictedTraverse(path)
            jobs = queue.job_queue()
            jobs.worker_started(worker_id, host_key=key, once=once)
            for record in jobs.workers_with_jobs():
                if record.worker_id == worker_id or not is_dead_here(record, key, hostname):
                    continue
                reason = f"worker {record.worker_id} died (process {record.pid} is gone)"
                jobs_back = jobs.reap_worker(record.worker_id, reason, actor=worker_id)
                reaped += [(job_id, state, record.worker_id) for job_id, state
                           in _logged_if_abandoned(app, path, jobs_back, failures)]
        return reaped

    for job_id, state, dead in _write_firing(session, step):
        logger.warning("job %s: its worker %s died on this host; now %s", job_id, dead, state)


def purge_expired(session, worker_id, paths):
    """One batch of retention purges in each queue where it is this worker's
    turn and no job is due (a quiet moment). Returns True if a batch was
    full: more may wait, so the loop comes back soon."""
    def step(app):
        more = False
        for path in paths:
            jobs = app.unrestrictedTraverse(path).job_queue()
            if not jobs.may_purge(worker_id) or jobs.due_count(limit=1):
                continue
            in_surroundings(app, path).purge_expired(worker_id)
            more = more or jobs.purge_turn().more
        return more
    try:
        return session.write(step)
    finally:
        clear_globals()


def _logged_if_abandoned(app, path, jobs, failures):
    """Store the error log of each reaped job that failed, fire the events of
    those that ended; return [(id, state)]."""
    ended = []
    queue = in_surroundings(app, path) if jobs else None
    for job in jobs:
        failed = failures.get(job.id, ())
        if job.state == FAILED:
            text = "\n".join([job.error_message, *(failure.text for failure in failed)])
            job.error_path = store_error_log(queue, job, text)
        fire(events.ending_of(queue, job), job.id, {failure.kind for failure in failed})
        ended.append((job.id, job.state))
    return ended


def _write_firing(session, step):
    """``session.write(lambda app: step(app, failures))``, run again while a
    subscriber raises: ``failures`` maps the job's id to the SubscriberFailed
    errors, so the step ends that job without those events."""
    failures = {}
    while True:
        try:
            try:
                return session.write(lambda app: step(app, failures))
            finally:
                clear_globals()
        except SubscriberFailed as failure:
            logger.error("job %s: %s", failure.job_id, failure.text)
            failures.setdefault(failure.job_id, []).append(failure)
