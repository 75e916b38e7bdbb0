"""Eager jobs for tests: a queued job runs as its transaction commits, the worker's way.

The test layers' ``EAGER_FIXTURE`` (``testing.py``, ``plone/testing.py``)
register ``job_queued`` for ``IJobQueued``. It adds an after-commit hook to
the transaction that queues the job; once that has committed, the hook runs
every due job of the job's queue with the worker's own code: the claim step
(``queue_steps.claim``: lease, token, ``IJobStarted``) and ``JobRunner.run``
(a fresh connection, the owner's security, the authorization again, the
result or error log stored, the ending's events). Only the worker loop around
them (heartbeats, reapers, recycling) is left out.

The jobs run in a thread of their own, as in a worker: the committing
thread's user, site, request and transaction stay as they were, and the
watchdog enforces time limits from the committing thread meanwhile.
"""

import threading

from collective.asyncreports import logger
from collective.asyncreports.worker import queue_steps
from collective.asyncreports.worker.runner import DONE
from collective.asyncreports.worker.runner import JobRunner
from collective.asyncreports.worker.session import Session


WORKER_ID = "eager-test-worker"

# A drain stops after this many runs: a job handed back again and again
# (interrupted attempts are not counted) must not hang the test run.
MAX_RUNS = 1000

# How often the waiting thread lets the watchdog stop reports past their limit.
WATCHDOG_TICK = 0.2

_PENDING = object()  # key of the queue paths a transaction queued jobs in (txn.data)
_drain = threading.local()  # the running drain of the eager thread, if any


def job_queued(event):
    """``IJobQueued`` subscriber: run the job's queue once the transaction commits."""
    jar = event.queue._p_jar
    if jar is None:  # a queue added in this very transaction: nothing to open it from
        logger.warning("eager: job %s queued in a queue not stored yet; "
                       "it runs with eager.run_pending(db)", event.job.id)
        return
    txn = jar.transaction_manager.get()
    try:
        paths = txn.data(_PENDING)
    except KeyError:
        paths = set()
        txn.set_data(_PENDING, paths)
        txn.addAfterCommitHook(_after_commit, args=(jar, paths))
    paths.add("/".join(event.queue.getPhysicalPath()))


def _after_commit(committed, connection, paths):
    if not committed:
        return
    drain = getattr(_drain, "current", None)
    if drain is not None:  # a job's own commit queued more: its drain runs them next
        drain.update(paths)
        return
    run_pending(connection.db(), paths)
    # The connection took its view of the database as the commit ended,
    # before this hook: let it see what the jobs committed since.
    connection.newTransaction(None, False)


def run_pending(db, queue_paths=None):
    """Run every due job of the queues now, as a worker would, and wait for them.

    Jobs queued by these jobs (their events' subscribers) run too; jobs
    whose ``not_before`` lies ahead stay queued. A report that raises does
    not raise here: its job ends failed with its error log (logged too).
    Call ``transaction.begin()`` afterwards to see what they committed.

    :param db: the ZODB database (a layer's ``zodbDB``, or ``app._p_jar.db()``).
    :param queue_paths: physical paths of the queues; default: every
        registered queue of the database.
    :returns: ``[(job id, outcome)]`` in the order they ran; the outcomes
        are ``worker.runner``'s (DONE, FAILED, RELEASED, CANCELLED, LOST).
    """
    runner = JobRunner(db, step_backoff=0)
    ran = []
    failure = []

    def drain():
        try:
            ran.extend(_drain_queues(runner, queue_paths))
        except BaseException as exc:  # seen by the caller's thread, not lost here
            failure.append(exc)

    thread = threading.Thread(target=drain, name="asyncreports-eager")
    thread.start()
    while thread.is_alive():
        thread.join(WATCHDOG_TICK)
        runner.watchdog.expire()
    if failure:
        raise failure[0]
    return ran


def _drain_queues(runner, queue_paths):
    """Claim and run due jobs one at a time until none is left (eager thread)."""
    ran = []
    with Session(runner.db) as session:
        pending = set(queue_paths or queue_steps.registered_queues(session))
        _drain.current = pending
        try:
            while pending and len(ran) < MAX_RUNS:
                path = min(pending)
                claims = queue_steps.claim(session, WORKER_ID, [path], limit=1)
                if not claims:
                    pending.discard(path)
                    continue
                (claim,) = claims
                outcome = runner.run(*claim)
                ran.append((claim[1], outcome))
                if outcome != DONE:
                    _log_ending(session, claim, outcome)
        finally:
            _drain.current = None
    if pending:
        logger.warning("eager: stopped after %d runs; jobs are left in %s",
                       MAX_RUNS, ", ".join(sorted(pending)))
    return ran


def _log_ending(session, claim, outcome):
    """Say why a job did not end done: a test's log then shows it."""
    path, job_id, _ = claim

    def report_and_reason(app):
        job = app.unrestrictedTraverse(path).job_queue().get(job_id)
        return job.report, job.error_message or job.state

    report, reason = session.read(report_and_reason)
    logger.warning("eager: job %s (%s) %s: %s", job_id, report, outcome, reason)
