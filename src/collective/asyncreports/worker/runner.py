"""Running claimed jobs in batches: per job a synthetic request and the owner's rights."""

import random
import time
import traceback
from contextlib import contextmanager

from AccessControl import Unauthorized
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
from collective.asyncreports.queue import states
from collective.asyncreports.reports.registry import validate_parameters
from collective.asyncreports.results.errorlog import error_log_text
from collective.asyncreports.submission import authorize
from collective.asyncreports.targets import resolve_target
from collective.asyncreports.targets import site_of
from collective.asyncreports.users import load_user
from collective.asyncreports.worker.watchdog import JobInterrupted
from collective.asyncreports.worker.watchdog import JobTimedOut
from collective.asyncreports.worker.watchdog import Watchdog


# Outcomes of a job, for the worker's counters and log.
DONE = "done"
FAILED = "failed"
RELEASED = "released"
CANCELLED = "cancelled"
LOST = "lost"
HANDED_BACK = "handed back"  # claimed in a batch but not started: not a job run

SHUTTING_DOWN = "interrupted: the worker is shutting down"


def _nearest_site(obj):
    from zope.component.interfaces import ISite

    while obj is not None:
        if ISite.providedBy(obj):
            return obj
        obj = getattr(obj, "__parent__", None) or getattr(obj, "aq_parent", None)
    return None


# A batch starts no further job after running this long; the jobs it did not
# start go back to the queue, for any worker, so a batch of slow reports
# claimed after fast ones does not keep other workers idle.
BATCH_RUN_SECONDS = 0.25

# Writing a batch's ends is retried this often on conflicts, each time after
# up to STORE_PAUSE seconds, before the whole batch is run again.
STORE_ATTEMPTS = 20
STORE_PAUSE = 0.005

# How many jobs a connection's cache may have seen before it is emptied.
MINIMIZE_EVERY_JOBS = 100


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


# -- how a job ended: decided while it ran, written in its batch's commit -----------


class Ending:
    """The end of one job of a batch; ``write()`` records it in the database.

    ``write`` returns (outcome, detail, result path or None). It may run
    again on a conflict, so it only writes, from a fresh look at the job.
    ``app`` is the root with the job's own synthetic request.
    """

    def __init__(self, claim, started, app=None):
        self.claim = claim
        self.queue_path, self.job_id, self.token = claim
        self.started = started
        self.app = app

    def job_queue(self):
        queue = self.app.unrestrictedTraverse(self.queue_path)
        return queue, queue.job_queue()

    def instead(self, exc):
        """The Ending to write when ``write`` raised ``exc``: the job failed."""
        return Failed(self.claim, self.started, exc, self.app)


class Rendered(Ending):
    """The report ran: store its PDF as the owner's, unless cancelled meanwhile."""

    def __init__(self, claim, started, app, pdf, filename, owner):
        super().__init__(claim, started, app)
        self.pdf, self.filename, self.owner = pdf, filename, owner

    def write(self):
        queue, jobs = self.job_queue()
        job = jobs.check_lease(self.job_id, self.token)
        if job.cancel_requested:
            jobs.confirm_cancel(self.job_id, self.token)
            return CANCELLED, "cancel requested while running", None
        path = queue.result_store().store_pdf(job, self.pdf, self.filename, self.owner)
        jobs.finish(self.job_id, self.token, path)
        return DONE, f"result {path} ({len(self.pdf)} bytes)", path


class Failed(Ending):
    """Report code raised: store the error log with the traceback, fail the job."""

    def __init__(self, claim, started, exc, app=None):
        super().__init__(claim, started, app)
        self.text = "".join(traceback.format_exception(exc))
        self.summary = f"{type(exc).__name__}: {exc}"

    def write(self):
        queue, jobs = self.job_queue()
        job = jobs.check_lease(self.job_id, self.token)
        text = error_log_text(job, self.text)
        path = queue.result_store().store_error_log(job, text, _owner(self.app, job))
        jobs.fail(self.job_id, self.token, self.summary, error_path=path)
        return FAILED, f"{self.summary} (error log {path})", path

    def instead(self, exc):
        return Lost(self.claim, self.started, f"could not store the error log "
                    f"({type(exc).__name__}: {exc}); the lease will expire")


class Released(Ending):
    """Not the job's fault (shutdown, transient errors): hand it back to the queue."""

    def __init__(self, claim, started, message, count_attempt=True, app=None):
        super().__init__(claim, started, app)
        self.message, self.count_attempt = message, count_attempt

    def write(self):
        queue, jobs = self.job_queue()
        job = jobs.release(self.job_id, self.token, self.message, count_attempt=self.count_attempt)
        if job.state == states.FAILED:  # that was its last attempt: it ends with its error log
            job.error_path = queue.result_store().store_error_log(
                job, error_log_text(job, self.message), _owner(self.app, job))
            return RELEASED, f"{self.message}; no attempts left, job failed", job.error_path
        return RELEASED, f"{self.message}; job is {job.state} again", None


class HandedBack(Ending):
    """Claimed in a batch but not started: due again at once, for any worker."""

    def __init__(self, claim, reason):
        super().__init__(claim, time.monotonic())
        self.reason = reason

    def write(self):
        _, jobs = self.job_queue()
        job = jobs.hand_back(self.job_id, self.token, self.reason)
        return HANDED_BACK, f"{self.reason}; job is {job.state} again", None


class Lost(Ending):
    """Another worker owns the job now: write nothing."""

    def __init__(self, claim, started, message):
        super().__init__(claim, started)
        self.message = message

    def write(self):
        return LOST, self.message, None


def _owner(app, job):
    """The job's owner, to own its error log; None if the user is gone (managers only)."""
    try:
        return load_user(app, job.owner_folder, job.owner_id)
    except Exception:
        return None


def _entered(root, ending):
    """Set up ``ending`` to write as its job ran: with a synthetic request for
    its queue (made now if it has none) and in the queue's site."""
    if ending.app is None:
        ending.app = makerequest(root)
        ending.app.unrestrictedTraverse(ending.queue_path).prepare_request(ending.app.REQUEST)
    setRequest(ending.app.REQUEST)
    setSite(_nearest_site(ending.app.unrestrictedTraverse(ending.queue_path)))
    return ending


class JobRunner:
    """Runs claimed jobs of one database, a batch at a time."""

    # Conflicts under load clear within moments: retry soon, a few times.
    def __init__(self, db, worker_id, watchdog=None, step_attempts=5, step_backoff=0.1,
                 on_start=lambda job_id: None):
        self.db = db
        self.worker_id = worker_id
        self.watchdog = watchdog or Watchdog()
        self.on_start = on_start  # told each job id as its report begins
        self.step_attempts = step_attempts
        self.step_backoff = step_backoff
        self.jobs_seen = 0  # by connection caches since one was last emptied

    @contextmanager
    def _session(self, jobs=1):
        """A connection and transaction manager of its own, for ``jobs`` jobs."""
        manager = TransactionManager()
        connection = self.db.open(transaction_manager=manager)
        try:
            yield connection.root()["Application"], manager
        finally:
            _clear_globals()
            manager.abort()
            self.jobs_seen += jobs
            if self.jobs_seen >= MINIMIZE_EVERY_JOBS:
                # Ghosts of finished jobs and results stay in the cache while
                # the index buckets that point to them do: let them all go.
                self.jobs_seen = 0
                connection.cacheMinimize()
            connection.close()

    def run(self, queue_path, job_id, token):
        """Run one claimed job to its end; return DONE, FAILED, RELEASED, CANCELLED or LOST."""
        (outcome,) = self.run_batch([(queue_path, job_id, token)])
        return outcome

    def run_batch(self, claims, keep_going=lambda: True):
        """Run claimed jobs one after another; commit how they all ended at once.

        ``claims`` are (queue path, job id, token). Returns the outcome of
        each, in order. Jobs not started because the batch ran long, or
        because ``keep_going()`` turned false, are HANDED_BACK to the queue.

        Transient errors (ConflictError, ZEO disconnects) run the batch
        again with backoff, then hand its jobs back to the queue; report
        errors fail their job with an error log.
        """
        error = None
        for attempt in range(1, self.step_attempts + 1):
            try:
                return self._run_batch_once(claims, keep_going)
            except TransientError as exc:
                error = exc
                logger.info("job %s: transient %s on step %d; retrying",
                            ", ".join(job_id for _, job_id, _ in claims),
                            type(error).__name__, attempt)
                time.sleep(self.step_backoff * 2 ** (attempt - 1))
        message = f"transient error: {type(error).__name__}: {error}"
        return [self._release_logged(claim, message) for claim in claims]

    def _run_batch_once(self, claims, keep_going):
        with self._session(len(claims)) as (root, manager):
            endings = self._run_reports(root, claims, keep_going)
            # Reports only read. A fresh transaction for the writes sees what
            # other workers committed meanwhile, so fewer commits conflict.
            manager.abort()
            ended = self._write(root, manager, endings)
            for ending, (outcome, detail, _) in zip(endings, ended, strict=True):
                logger.info("job %s %s in %.2fs: %s", ending.job_id, outcome,
                            time.monotonic() - ending.started, detail)
            self._forget(root, endings, ended)
            return [outcome for outcome, _, _ in ended]

    def _run_reports(self, root, claims, keep_going):
        """Run the batch's reports one after another; return an Ending per claim."""
        began = time.monotonic()
        endings = []
        for index, claim in enumerate(claims):
            rest = claims[index:]
            if index and not keep_going():
                return endings + [HandedBack(other, SHUTTING_DOWN) for other in rest]
            if index and time.monotonic() - began > BATCH_RUN_SECONDS:
                return endings + [HandedBack(other, "not started: its batch ran long")
                                  for other in rest]
            try:
                endings.append(self._run_one(root, claim))
            except TransientError as exc:
                if not index:
                    raise  # the whole batch is run again
                # Not the others' fault: this job alone counts a try.
                message = f"transient error: {type(exc).__name__}: {exc}"
                return endings + [Released(claim, time.monotonic(), message)] + [
                    HandedBack(other, "not started: its batch broke off") for other in rest[1:]]
        return endings

    def _run_one(self, root, claim):
        """Run one job's report as its owner; return its Ending."""
        queue_path, job_id, token = claim
        started = time.monotonic()
        app = makerequest(root)  # each job its own request: nothing leaks between owners
        setRequest(app.REQUEST)
        try:
            queue = app.unrestrictedTraverse(queue_path)
            queue.prepare_request(app.REQUEST)
            jobs = queue.job_queue()
            job = jobs.check_lease(job_id, token)
            logger.info(
                "job %s started: report=%s path=%s owner=%s attempt=%d/%d",
                job.id, job.report, job.path, job.owner_id, job.attempts, job.max_attempts,
            )
            self.on_start(job_id)
            site = _nearest_site(queue)
            if site is not None:
                setSite(site)
            user = load_user(app, job.owner_folder, job.owner_id)
            newSecurityManager(app.REQUEST, user)
            # The same path rules and the same authorization as at submit
            # time: a job forged in the database gets no further than a
            # submitted one, and one whose owner lost a right since fails.
            target = resolve_target(site_of(queue), job.path)
            try:
                report = authorize(queue, job.report, target)
            except Unauthorized as exc:
                raise Unauthorized(f"{job.owner_id} no longer has the permission: {exc}") from None
            params = validate_parameters(report, job.params, target)
            limit = getattr(report, "time_limit", None) or jobs.time_limit
            with self.watchdog.rendering(job_id, limit):
                rendered = report.render(target, app.REQUEST, params)
                pdf = rendered if isinstance(rendered, bytes) else rendered.to_pdf()
            return Rendered(claim, started, app, pdf, report.filename(target, params), user)
        except LeaseLost as exc:
            return Lost(claim, started, str(exc))
        except JobTimedOut as exc:
            return Failed(claim, started, exc, app)
        except JobInterrupted as exc:
            return Released(claim, started, str(exc), count_attempt=False, app=app)
        except TransientError:
            raise
        except Exception as exc:  # report code may raise anything
            return Failed(claim, started, exc, app)
        finally:
            _clear_globals()

    def _write(self, root, manager, endings):
        """Write every ending and commit them together; return what each wrote.

        On a conflict only this short step is redone, with the same PDFs.
        Busy workers split and empty the same index buckets all the time,
        and each try has about even odds: retry at once and often (a growing
        backoff left one worker waiting seconds while another ran hundreds
        of jobs). An ending that cannot be written (other than by a
        conflict) is replaced by what to write instead, and all are redone
        (at most twice per job: a failure, then nothing).
        """
        conflicts = 0
        while True:
            ended = []
            try:
                for index, ending in enumerate(endings):
                    try:
                        ended.append(_entered(root, ending).write())
                    except LeaseLost as exc:
                        ended.append((LOST, str(exc), None))
                    except TransientError:
                        raise
                    except Exception as exc:
                        logger.exception("job %s: could not record its end", ending.job_id)
                        endings[index] = ending.instead(exc)
                        break
                else:
                    manager.commit()
                    return ended
            except TransientError:
                conflicts += 1
                if conflicts == STORE_ATTEMPTS:
                    raise
                time.sleep(random.uniform(0, min(self.step_backoff, STORE_PAUSE)))
            finally:
                _clear_globals()
            manager.abort()

    def _forget(self, root, endings, ended):
        """Drop committed jobs and results from the cache (memory hygiene only)."""
        try:
            for ending, (_, _, path) in zip(endings, ended, strict=True):
                forget(root.unrestrictedTraverse(ending.queue_path).job_queue().get(ending.job_id))
                if path:
                    forget(root.unrestrictedTraverse(path))
        except Exception:  # the jobs are committed; this only saves memory
            logger.exception("could not drop finished jobs from the cache")

    def record_failure(self, queue_path, job_id, token, exc):
        """Store the error log and mark the job failed, in a transaction of its own."""
        return self._end_alone(Failed((queue_path, job_id, token), time.monotonic(), exc))

    def release(self, queue_path, job_id, token, message, count_attempt=True):
        """Hand the job back to the queue (transient errors, or interrupted)."""
        return self._end_alone(
            Released((queue_path, job_id, token), time.monotonic(), message, count_attempt))

    def _release_logged(self, claim, message):
        outcome, detail = self.release(*claim, message)
        logger.info("job %s %s: %s", claim[1], outcome, detail)
        return outcome

    def _end_alone(self, ending):
        """Write one ending in a session of its own; return (outcome, detail)."""
        for attempt in range(1, self.step_attempts + 1):
            try:
                with self._session() as (root, manager):
                    ending.app = None  # a fresh request in each session
                    outcome, detail, _ = _entered(root, ending).write()
                    manager.commit()
                    return outcome, detail
            except LeaseLost as lost:
                return LOST, str(lost)
            except TransientError as exc:
                if attempt == self.step_attempts:
                    # The lease will expire and any worker's reaper requeues the job.
                    return RELEASED, f"could not record it ({exc}); the lease will expire"
                time.sleep(random.uniform(0, self.step_backoff * 2 ** (attempt - 1)))


def _clear_globals():
    """Forget the last job's user, site and request (thread-global state)."""
    noSecurityManager()
    setSite(None)
    clearRequest()
