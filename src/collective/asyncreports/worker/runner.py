"""Running one claimed job: own connection, synthetic request, the owner's rights."""

import itertools
import random
import time
import traceback
from contextlib import contextmanager

from AccessControl import Unauthorized
from AccessControl import getSecurityManager
from AccessControl.SecurityManagement import newSecurityManager
from AccessControl.SecurityManagement import noSecurityManager
from persistent import Persistent
from Testing.makerequest import makerequest
from transaction import TransactionManager
from transaction.interfaces import TransientError
from zope.component.hooks import setSite
from zope.globalrequest import clearRequest
from zope.globalrequest import setRequest

from collective.asyncreports import logger
from collective.asyncreports.errors import LeaseLost
from collective.asyncreports.permissions import View
from collective.asyncreports.reports.registry import get_report
from collective.asyncreports.reports.registry import validate_parameters
from collective.asyncreports.results.errorlog import error_log_text
from collective.asyncreports.targets import resolve_target
from collective.asyncreports.targets import site_of
from collective.asyncreports.users import load_user
from collective.asyncreports.worker.watchdog import JobInterrupted
from collective.asyncreports.worker.watchdog import JobTimedOut
from collective.asyncreports.worker.watchdog import Watchdog


# Outcomes of JobRunner.run, for the worker's counters and log.
DONE = "done"
FAILED = "failed"
RELEASED = "released"
CANCELLED = "cancelled"
LOST = "lost"


def _nearest_site(obj):
    from zope.component.interfaces import ISite

    while obj is not None:
        if ISite.providedBy(obj):
            return obj
        obj = getattr(obj, "__parent__", None) or getattr(obj, "aq_parent", None)
    return None


# Storing a rendered result is retried this often on conflicts, each time
# after up to STORE_PAUSE seconds, before the whole job is run again; the
# first STORE_CLAIMING_ATTEMPTS tries also claim the next job.
STORE_ATTEMPTS = 20
STORE_PAUSE = 0.005
STORE_CLAIMING_ATTEMPTS = 3

# How often a job connection's cache is emptied (see JobRunner._session).
MINIMIZE_EVERY_SESSIONS = 100


def forget(obj):
    """Turn a committed object, and the persistent objects it holds that were
    written with it (data chunks, blobs), back into ghosts.

    The worker never reads a finished job or its result again; left in the
    connection's cache, results would keep their PDFs in memory.
    """
    serial = obj._p_serial
    todo = [obj]
    while todo:
        current = todo.pop()
        if current._p_jar is None or current._p_changed is not False:
            continue  # not stored, a ghost already, or changed since
        todo.extend(value for value in getattr(current, "__dict__", {}).values()
                    if isinstance(value, Persistent) and value._p_serial == serial)
        current._p_deactivate()


class JobRunner:
    """Runs claimed jobs of one database, each in a connection of its own."""

    # Conflicts under load clear within moments: retry soon, a few times.
    def __init__(self, db, worker_id, watchdog=None, step_attempts=5, step_backoff=0.1):
        self.db = db
        self.worker_id = worker_id
        self.watchdog = watchdog or Watchdog()
        self.step_attempts = step_attempts
        self.step_backoff = step_backoff
        self.sessions = 0

    @contextmanager
    def _session(self):
        """A fresh connection and transaction manager; everything reset after."""
        manager = TransactionManager()
        connection = self.db.open(transaction_manager=manager)
        try:
            app = makerequest(connection.root()["Application"])
            setRequest(app.REQUEST)
            yield app, manager
        finally:
            noSecurityManager()
            setSite(None)
            clearRequest()
            manager.abort()
            self.sessions += 1
            if self.sessions % MINIMIZE_EVERY_SESSIONS == 0:
                # Ghosts of finished jobs and results stay in the cache while
                # the index buckets that point to them do: let them all go.
                connection.cacheMinimize()
            connection.close()

    def run(self, queue_path, job_id, token):
        """Run one claimed job to its end; return DONE, FAILED, RELEASED, CANCELLED or LOST.

        Transient errors (ConflictError, ZEO disconnects) retry the step with
        backoff, then hand the job back to the queue; report errors fail the
        job at once with an error log.
        """
        return self.run_and_claim(queue_path, job_id, token, None)[0]

    def run_and_claim(self, queue_path, job_id, token, next_claim):
        """``run``, and claim the next job in the same commit; return (outcome, claim).

        ``next_claim`` has ``claim(job_queue)``, returning a claimed Job or
        None, and ``rolled_back()``, called when that claim's commit failed
        (see ``loop.NextClaim``). A job that ends done or cancelled claims
        through it, so the next job costs no commit of its own; ``claim`` is
        then ``(queue_path, job_id, token)`` of that job, else None.
        """
        started = time.monotonic()
        error = None
        claim = None
        for attempt in range(1, self.step_attempts + 1):
            try:
                outcome, detail, claim = self._run_once(queue_path, job_id, token, next_claim)
                break
            except LeaseLost as exc:
                outcome, detail = LOST, str(exc)
                break
            except JobTimedOut as exc:
                outcome, detail = self.record_failure(queue_path, job_id, token, exc)
                break
            except JobInterrupted as exc:
                outcome, detail = self.release(
                    queue_path, job_id, token, str(exc), count_attempt=False)
                break
            except TransientError as exc:
                error = exc
                logger.info("job %s: transient %s on step %d; retrying",
                            job_id, type(exc).__name__, attempt)
                time.sleep(self.step_backoff * 2 ** (attempt - 1))
            except Exception as exc:  # report code may raise anything
                outcome, detail = self.record_failure(queue_path, job_id, token, exc)
                break
        else:
            outcome, detail = self.release(
                queue_path, job_id, token,
                f"transient error: {type(error).__name__}: {error}")
        logger.info("job %s %s in %.2fs: %s", job_id, outcome,
                    time.monotonic() - started, detail)
        return outcome, claim

    def _run_once(self, queue_path, job_id, token, next_claim):
        with self._session() as (app, manager):
            queue = app.unrestrictedTraverse(queue_path)
            queue.prepare_request(app.REQUEST)
            jobs = queue.job_queue()
            job = jobs.check_lease(job_id, token)
            logger.info(
                "job %s started: report=%s path=%s owner=%s attempt=%d/%d",
                job.id, job.report, job.path, job.owner_id, job.attempts, job.max_attempts,
            )
            site = _nearest_site(queue)
            if site is not None:
                setSite(site)
            user = load_user(app, job.owner_folder, job.owner_id)
            newSecurityManager(app.REQUEST, user)
            report = get_report(job.report)
            if not getSecurityManager().checkPermission(report.permission, queue):
                raise Unauthorized(
                    f"{job.owner_id} no longer has the permission {report.permission!r} here")
            # The same path rules as at submit time: a job forged in the
            # database gets no further than a submitted one.
            target = resolve_target(site_of(queue), job.path, restricted=True)
            if not getSecurityManager().checkPermission(View, target):
                raise Unauthorized(f"{job.owner_id} may not view {job.path}")
            params = validate_parameters(report, job.params, target)
            limit = getattr(report, "time_limit", None) or jobs.time_limit
            with self.watchdog.rendering(job_id, limit):
                rendered = report.render(target, app.REQUEST, params)
                pdf = rendered if isinstance(rendered, bytes) else rendered.to_pdf()
            filename = report.filename(target, params)

            def store(next_claim):
                queue = app.unrestrictedTraverse(queue_path)
                jobs = queue.job_queue()
                job = jobs.check_lease(job_id, token)
                if job.cancel_requested:
                    jobs.confirm_cancel(job_id, token)
                    outcome, detail = CANCELLED, "cancel requested while running"
                else:
                    path = queue.store_pdf(job, pdf, filename, user)
                    jobs.finish(job_id, token, path)
                    outcome, detail = DONE, f"result {path} ({len(pdf)} bytes)"
                claimed = next_claim.claim(jobs) if next_claim is not None else None
                try:
                    manager.commit()
                except BaseException:
                    if claimed is not None:
                        next_claim.rolled_back()
                    raise
                claim = None if claimed is None else (queue_path, claimed.id, claimed.lease_token)
                try:
                    forget(job)
                    if outcome == DONE:
                        forget(app.unrestrictedTraverse(path))
                except Exception:  # memory hygiene only: the job is committed
                    logger.exception("job %s: could not drop its result from the cache", job_id)
                return outcome, detail, claim

            # The first try commits in the report's own transaction. On a
            # conflict only this short step is redone, with the same PDF.
            # Busy workers split and empty the same index buckets all the
            # time, and each try has about even odds: retry at once and
            # often (a growing backoff left one worker waiting seconds while
            # another ran hundreds of jobs). The first retries claim a next
            # job too, for the same reason; it is rarely the one fought over.
            tries = itertools.count(1)
            return self._retrying(
                lambda: store(next_claim if next(tries) <= STORE_CLAIMING_ATTEMPTS else None),
                attempts=STORE_ATTEMPTS, before_retry=manager.abort,
                pause=lambda attempt: random.uniform(0, min(self.step_backoff, STORE_PAUSE)))

    def record_failure(self, queue_path, job_id, token, exc):
        """Store the error log and mark the job failed, in a transaction of its own."""
        text = "".join(traceback.format_exception(exc))
        summary = f"{type(exc).__name__}: {exc}"

        def record():
            with self._session() as (app, manager):
                queue = app.unrestrictedTraverse(queue_path)
                jobs = queue.job_queue()
                job = jobs.check_lease(job_id, token)
                try:
                    owner = load_user(app, job.owner_folder, job.owner_id)
                except Exception:
                    owner = None
                path = queue.store_error_log(job, error_log_text(job, text), owner)
                jobs.fail(job_id, token, summary, error_path=path)
                manager.commit()
                return path

        try:
            path = self._retrying(record)
        except LeaseLost as lost:
            return LOST, str(lost)
        return FAILED, f"{summary} (error log {path})"

    def release(self, queue_path, job_id, token, message, count_attempt=True):
        """Hand the job back to the queue (transient errors, or interrupted)."""

        def release():
            with self._session() as (app, manager):
                job = app.unrestrictedTraverse(queue_path).job_queue().release(
                    job_id, token, message, count_attempt=count_attempt)
                manager.commit()
                return job.state

        try:
            state = self._retrying(release)
        except (LeaseLost, TransientError) as exc:
            # The lease will expire and any worker's reaper requeues the job.
            return RELEASED, f"{message}; could not hand back ({exc}), lease will expire"
        return RELEASED, f"{message}; job is {state} again"

    def _retrying(self, step, attempts=5, before_retry=None, pause=None):
        """Run ``step()`` and retry it on transient errors.

        Between tries it sleeps ``pause(attempt)`` seconds; by default a
        random part of a backoff that doubles from ``step_backoff``.
        """
        for attempt in range(1, attempts + 1):
            try:
                return step()
            except TransientError:
                if attempt == attempts:
                    raise
                if before_retry is not None:
                    before_retry()
                if pause is None:
                    time.sleep(random.uniform(0, self.step_backoff * 2 ** (attempt - 1)))
                else:
                    time.sleep(pause(attempt))
