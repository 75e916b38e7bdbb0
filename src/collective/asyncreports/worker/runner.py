"""Running claimed jobs in batches: per job a synthetic request and the owner's rights."""

import time
from contextlib import contextmanager

from AccessControl import Unauthorized
from AccessControl.SecurityManagement import newSecurityManager
from Testing.makerequest import makerequest
from transaction.interfaces import TransientError
from zope.component.hooks import setSite
from zope.globalrequest import setRequest

from collective.asyncreports import logger
from collective.asyncreports.errors import LeaseLost
from collective.asyncreports.i18n import use_language
from collective.asyncreports.rendering import exports
from collective.asyncreports.rendering.site_header import document_defaults
from collective.asyncreports.reports.formats import check_format
from collective.asyncreports.reports.formats import result_filename
from collective.asyncreports.reports.registry import validate_parameters
from collective.asyncreports.sites import nearest_site
from collective.asyncreports.submission import authorize
from collective.asyncreports.targets import resolve_target
from collective.asyncreports.targets import site_of
from collective.asyncreports.users import load_user
from collective.asyncreports.worker.endings import CANCELLED
from collective.asyncreports.worker.endings import DONE
from collective.asyncreports.worker.endings import FAILED
from collective.asyncreports.worker.endings import HANDED_BACK
from collective.asyncreports.worker.endings import LOST
from collective.asyncreports.worker.endings import RELEASED
from collective.asyncreports.worker.endings import SHUTTING_DOWN
from collective.asyncreports.worker.endings import Cancelled
from collective.asyncreports.worker.endings import Failed
from collective.asyncreports.worker.endings import HandedBack
from collective.asyncreports.worker.endings import Lost
from collective.asyncreports.worker.endings import Released
from collective.asyncreports.worker.endings import Rendered
from collective.asyncreports.worker.endings import SubscriberFailed
from collective.asyncreports.worker.endings import clear_globals
from collective.asyncreports.worker.memory import EveryNJobs
from collective.asyncreports.worker.memory import forget
from collective.asyncreports.worker.progress import Board
from collective.asyncreports.worker.session import Backoff
from collective.asyncreports.worker.session import Session
from collective.asyncreports.worker.watchdog import JobCancelled
from collective.asyncreports.worker.watchdog import JobInterrupted
from collective.asyncreports.worker.watchdog import JobTimedOut
from collective.asyncreports.worker.watchdog import Watchdog


# run() and run_batch() return these outcomes: callers read them from here.
__all__ = ["CANCELLED", "DONE", "FAILED", "HANDED_BACK", "LOST", "RELEASED", "JobRunner"]

# A batch starts no further job after running this long; the jobs it did not
# start go back to the queue, for any worker, so a batch of slow reports
# claimed after fast ones does not keep other workers idle.
BATCH_RUN_SECONDS = 0.25

# A batch that meets transient errors is run again this often (its reports
# too), pausing ``step_backoff`` seconds, doubling up to STEP_BACKOFF_CAP.
STEP_ATTEMPTS = 5
STEP_BACKOFF = 0.1
STEP_BACKOFF_CAP = 2.0

# Writing a batch's ends is retried this often on conflicts, each time after
# up to STORE_PAUSE seconds, before the whole batch is run again.
STORE_ATTEMPTS = 20
STORE_PAUSE = 0.005

# How many jobs a connection's cache may have seen before it is emptied.
MINIMIZE_EVERY_JOBS = 100


class JobRunner:
    """Runs claimed jobs of one database, a batch at a time.

    ``step_backoff`` is the first pause after a transient error (0 in
    tests: retry at once). Conflicts under load clear within moments.
    ``board`` holds the jobs whose report runs (``api.current_job()``),
    for the worker's heartbeat.
    """

    def __init__(self, db, watchdog=None, step_attempts=STEP_ATTEMPTS,
                 step_backoff=STEP_BACKOFF, on_start=lambda job_id: None, board=None):
        self.db = db
        self.watchdog = watchdog or Watchdog()
        self.board = board or Board()
        self.on_start = on_start  # told each job id as its report begins
        self.step_attempts = step_attempts
        self.step_backoff = Backoff(step_backoff, STEP_BACKOFF_CAP)
        # Busy workers split and empty the same index buckets all the time,
        # and each try has about even odds: retry at once and often (a growing
        # backoff left one worker waiting seconds while another ran hundreds
        # of jobs).
        self.store_backoff = Backoff(min(step_backoff, STORE_PAUSE), STORE_PAUSE)
        self.jobs_seen = EveryNJobs(MINIMIZE_EVERY_JOBS)  # by connection caches

    @contextmanager
    def _session(self, jobs=1):
        """A Session for ``jobs`` jobs, its caches emptied every MINIMIZE_EVERY_JOBS jobs."""
        session = Session(self.db)
        try:
            yield session
        finally:
            clear_globals()
            session.abort()
            if self.jobs_seen.add(jobs):
                # Ghosts of finished jobs and results stay in the cache while
                # the index buckets that point to them do: let them all go.
                session.connection.cacheMinimize()
            session.close()

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
        for tried in self.step_backoff.tries(self.step_attempts):
            try:
                return self._run_batch_once(claims, keep_going)
            except TransientError as exc:
                error = exc
                logger.info("job %s: transient %s on step %d; retrying",
                            ", ".join(job_id for _, job_id, _ in claims),
                            type(error).__name__, tried)
        message = f"transient error: {type(error).__name__}: {error}"
        return [self._release_logged(claim, message) for claim in claims]

    def _run_batch_once(self, claims, keep_going):
        with self._session(len(claims)) as session:
            root = session.app()
            endings = self._run_reports(root, claims, keep_going)
            # Reports only read. A fresh transaction for the writes sees what
            # other workers committed meanwhile, so fewer commits conflict.
            session.abort()
            ended = self._write(session, endings)
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
            site = nearest_site(queue)
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
            if job.cancel_requested:  # asked before it began: it does not run
                return Cancelled(claim, started, app, began=False)
            handle = self.board.new(claim)
            handle.attempt, handle.owner_id = job.attempts, job.owner_id
            result_format = check_format(report, job.format)  # as at submit time
            defaults = document_defaults(queue, user)
            # The report's language: its Document's and, for the report's own
            # translate(..., context=request), the request's.
            use_language(app.REQUEST, defaults["language"])
            with self.board.running(handle), self.watchdog.rendering(job_id, limit):
                rendered = report.render(target, app.REQUEST, params)
                data = exports.export(rendered, result_format, defaults=defaults)
            return Rendered(claim, started, app, data,
                            result_filename(report, target, params, result_format), user,
                            exports.FORMATS[result_format].content_type)
        except LeaseLost as exc:
            return Lost(claim, started, str(exc))
        except JobTimedOut as exc:
            return Failed(claim, started, exc, app)
        except JobCancelled:
            return Cancelled(claim, started, app)
        except JobInterrupted as exc:
            return Released(claim, started, str(exc), count_attempt=False, app=app)
        except TransientError:
            raise
        except Exception as exc:  # report code may raise anything
            return Failed(claim, started, exc, app)
        finally:
            clear_globals()

    def _write(self, session, endings):
        """Write every ending and commit them together; return what each wrote.

        On a conflict only this short step is redone, with the same PDFs,
        up to STORE_ATTEMPTS times.
        """
        for attempt in session.attempts(STORE_ATTEMPTS, self.store_backoff):
            with attempt:
                ended = self._write_endings(session, endings)
        return ended

    def _write_endings(self, session, endings):
        """Write every ending in the session's transaction; return what each wrote.

        An ending that cannot be written (other than by a transient error)
        is replaced by what to write instead, and all are written again in a
        fresh transaction (at most twice per job: a failure, then nothing).
        """
        root = session.app()
        while True:
            ended = []
            try:
                for index, ending in enumerate(endings):
                    try:
                        ended.append(ending.enter(root).write())
                    except LeaseLost as exc:
                        ended.append((LOST, str(exc), None))
                    except TransientError:
                        raise
                    except Exception as exc:
                        logger.exception("job %s: could not record its end", ending.job_id)
                        endings[index] = ending.instead(exc)
                        break
                else:
                    return ended
            finally:
                clear_globals()
            session.manager.begin()  # drop what the others wrote, then write them again

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
        return self._end_alone(Released((queue_path, job_id, token), time.monotonic(), message,
                                        count_attempt, began=False))

    def _release_logged(self, claim, message):
        outcome, detail = self.release(*claim, message)
        logger.info("job %s %s: %s", claim[1], outcome, detail)
        return outcome

    def _end_alone(self, ending):
        """Write one ending in a session of its own; return (outcome, detail)."""
        try:
            with self._session() as session:
                while True:
                    try:
                        for attempt in session.attempts(self.step_attempts, self.step_backoff):
                            with attempt:
                                ending.app = None  # a fresh request in each try
                                outcome, detail, _ = ending.enter(session.app()).write()
                        return outcome, detail
                    except SubscriberFailed as exc:  # write how the job ends without it
                        logger.error("job %s: %s", ending.job_id, exc.text)
                        ending = ending.instead(exc)
        except LeaseLost as lost:
            return LOST, str(lost)
        except TransientError as exc:
            # The lease will expire and any worker's reaper requeues the job.
            return RELEASED, f"could not record it ({exc}); the lease will expire"
