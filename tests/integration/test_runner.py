"""The job runner and worker loop in-process, on the functional layer's database."""

import io
import time
import unittest
from unittest import mock

import pypdf
import transaction
from AccessControl import SpecialUsers
from AccessControl import getSecurityManager
from ZODB.POSException import ConflictError
from zope.component import getGlobalSiteManager
from zope.component.hooks import getSite

from collective.asyncreports import testing
from collective.asyncreports.rendering import Document
from collective.asyncreports.reports.base import ReportType
from collective.asyncreports.reports.interfaces import IReportType
from collective.asyncreports.results.folder import FolderResultStore
from collective.asyncreports.worker import claims
from collective.asyncreports.worker import runner
from collective.asyncreports.worker.claims import MAX_BATCH
from collective.asyncreports.worker.claims import batch_size
from collective.asyncreports.worker.exit_codes import EXIT_RECYCLE
from collective.asyncreports.worker.loop import Worker
from collective.asyncreports.worker.memory import forget
from tests.processes import pdf_text


WORKER = "test-worker"


class WhoAmI(ReportType):
    """Reports the user it runs as and the URL of its target."""

    title = "Who am I"

    def __init__(self):
        self.conflicts_left = 0
        self.error = None
        self.fail_for = None  # owner whose jobs raise self.error
        self.seconds = 0

    def render(self, context, request, parameters):
        time.sleep(self.seconds)
        user = getSecurityManager().getUser().getId()
        if self.fail_for == user:
            raise ValueError(f"no report for {user}")
        if self.conflicts_left:
            self.conflicts_left -= 1
            raise ConflictError("simulated conflict")
        if self.error is not None:
            raise self.error
        document = Document("Who am I")
        document.paragraph(f"user={user}")
        document.paragraph(f"request={id(request)}")
        document.paragraph(f"url={context.absolute_url()}")
        return document


class RunnerTestCase(unittest.TestCase):
    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.queue = self.app[testing.QUEUE_ID]
        self.jobs = self.queue.job_queue()
        self.report = WhoAmI()
        registry = getGlobalSiteManager()
        registry.registerUtility(self.report, IReportType, "whoami")
        self.addCleanup(registry.unregisterUtility, self.report, IReportType, "whoami")
        self.runner = runner.JobRunner(self.layer["zodbDB"], step_backoff=0)

    def enqueue(self, owner=testing.REPORTER, path="/docs", report="whoami"):
        job = self.jobs.enqueue(report, path, {}, owner_id=owner, queue_path="/asyncreports")
        transaction.commit()
        return job.id

    def claim(self):
        (job,) = self.jobs.claim(WORKER)
        transaction.commit()
        return job.id, job.lease_token

    def run_job(self, job_id=None):
        job_id = job_id or self.enqueue()
        claimed_id, token = self.claim()
        self.assertEqual(claimed_id, job_id)
        outcome = self.runner.run("/asyncreports", job_id, token)
        transaction.begin()  # see what the runner's own connection committed
        return outcome, self.jobs.get(job_id)

    def stored(self, path):
        return self.app.unrestrictedTraverse(path.lstrip("/"))


class RunnerTests(RunnerTestCase):
    def test_runs_as_the_owner_with_the_configured_server_url(self):
        outcome, job = self.run_job()
        self.assertEqual((outcome, job.state), (runner.DONE, "done"))
        result = self.stored(job.result_path)
        self.assertEqual(result.content_type, "application/pdf")
        text = pypdf.PdfReader(io.BytesIO(bytes(result.data))).pages[0].extract_text()
        self.assertIn("user=alice", text)
        self.assertIn("url=http://reports.example.com/docs", text)
        self.assertEqual(result.getOwner().getId(), "alice")
        self.assertEqual(result.get_local_roles_for_userid("alice"), ("Owner",))
        roles = [r["name"] for r in result.rolesOfPermission("View") if r["selected"]]
        self.assertEqual(sorted(roles), ["Manager", "Owner"])

    def test_security_site_and_request_are_reset_even_after_an_error(self):
        self.report.error = ValueError("boom")
        outcome, job = self.run_job()
        self.assertEqual(outcome, runner.FAILED)
        # SpecialUsers.nobody is set once AccessControl.users is imported: read it now.
        self.assertIs(getSecurityManager().getUser(), SpecialUsers.nobody)
        self.assertIsNone(getSite())

    def test_report_error_fails_at_once_with_an_error_log(self):
        self.report.error = ValueError("bad data in row 7")
        outcome, job = self.run_job()
        self.assertEqual((outcome, job.state, job.attempts), (runner.FAILED, "failed", 1))
        self.assertEqual(job.error_message, "ValueError: bad data in row 7")
        log = self.stored(job.error_path)
        text = bytes(log.data).decode()
        self.assertIn("Traceback (most recent call last)", text)
        self.assertIn("ValueError: bad data in row 7", text)
        self.assertEqual(log.getOwner().getId(), "alice")
        self.assertIsNone(job.result_path)

    def test_deleted_owner_fails_the_job_and_nobody_else_runs_it(self):
        job_id = self.enqueue(owner=testing.OTHER_REPORTER)
        self.app.acl_users._doDelUsers([testing.OTHER_REPORTER])
        transaction.commit()
        try:
            outcome, job = self.run_job(job_id)
        finally:
            self.app.acl_users._doAddUser(
                testing.OTHER_REPORTER, testing.PASSWORD, [testing.REPORTER_ROLE], [])
            transaction.commit()
        self.assertEqual(job.state, "failed")
        self.assertIn("UnknownUser", job.error_message)
        self.assertIn("'carol' no longer exists", job.error_message)
        log = self.stored(job.error_path)
        self.assertIsNone(log.getOwner())
        self.assertIn("no longer exists", bytes(log.data).decode())

    def test_transient_conflict_retries_the_step(self):
        self.report.conflicts_left = 2
        outcome, job = self.run_job()
        self.assertEqual((outcome, job.state, job.attempts), (runner.DONE, "done", 1))

    def test_repeated_transient_errors_hand_the_job_back(self):
        self.report.conflicts_left = 100
        outcome, job = self.run_job()
        self.assertEqual((outcome, job.state, job.attempts), (runner.RELEASED, "queued", 1))
        self.assertIn("ConflictError", job.error_message)
        self.assertIsNone(job.result_path)

    def test_transient_errors_on_the_last_attempt_fail_the_job_with_an_error_log(self):
        """One visible result: a job that runs out of attempts this way has its log too."""
        self.report.conflicts_left = 100
        job_id = self.jobs.enqueue("whoami", "/docs", {}, owner_id=testing.REPORTER,
                                   queue_path="/asyncreports", max_attempts=1).id
        transaction.commit()
        outcome, job = self.run_job(job_id)
        self.assertEqual((outcome, job.state, job.attempts), (runner.RELEASED, "failed", 1))
        self.assertIn("ConflictError", job.error_message)
        log = self.stored(job.error_path)
        self.assertIn("ConflictError", bytes(log.data).decode())
        self.assertEqual(log.getOwner().getId(), "alice")

    def test_cancel_requested_while_running_stores_no_result(self):
        job_id = self.enqueue()
        claimed_id, token = self.claim()
        self.jobs.cancel(job_id, actor="manager")
        transaction.commit()
        outcome = self.runner.run("/asyncreports", job_id, token)
        transaction.begin()
        job = self.jobs.get(job_id)
        self.assertEqual(
            (outcome, job.state, job.result_path), (runner.CANCELLED, "cancelled", None))
        self.assertEqual(list(self.queue.results.objectIds()), [])

    def test_a_job_taken_over_by_another_worker_is_not_finished_twice(self):
        job_id = self.enqueue()
        _claimed, stale_token = self.claim()
        job = self.jobs.get(job_id)
        job.lease_token = "someone-else"  # as if reaped and claimed elsewhere
        transaction.commit()
        outcome = self.runner.run("/asyncreports", job_id, stale_token)
        transaction.begin()
        self.assertEqual(outcome, runner.LOST)
        self.assertEqual(list(self.queue.results.objectIds()), [])
        self.assertEqual(self.jobs.get(job_id).state, "running")


class BatchTests(RunnerTestCase):
    """Claimed jobs run one after another in one connection and end in one commit."""

    def setUp(self):
        super().setUp()
        # A batch's time budget (0.25 s) is a few renders on a busy machine: these tests
        # are about what a batch does with its jobs, so only the ones about the budget
        # give it one.
        patcher = mock.patch.object(runner, "BATCH_RUN_SECONDS", 60)
        patcher.start()
        self.addCleanup(patcher.stop)

    def claim_all(self):
        claims = [("/asyncreports", job.id, job.lease_token)
                  for job in self.jobs.claim(WORKER, limit=100)]
        transaction.commit()
        return claims

    def run_batch(self, **options):
        claims = self.claim_all()
        outcomes = self.runner.run_batch(claims, **options)
        transaction.begin()
        return dict(zip([job_id for _, job_id, _ in claims], outcomes, strict=True))

    def pdf_line(self, job_id, name):
        data = bytes(self.stored(self.jobs.get(job_id).result_path).data)
        (line,) = [line for line in pdf_text(data).splitlines() if line.startswith(name + "=")]
        return line.split("=", 1)[1]

    def test_each_job_runs_as_its_own_owner_with_its_own_request(self):
        owners = [testing.REPORTER, testing.OTHER_REPORTER, testing.REPORTER]
        ids = [self.enqueue(owner=owner) for owner in owners]
        self.assertEqual(self.run_batch(), dict.fromkeys(ids, runner.DONE))
        self.assertEqual([self.pdf_line(job_id, "user") for job_id in ids], owners)
        self.assertEqual(len({self.pdf_line(job_id, "request") for job_id in ids}), 3)
        results = [self.stored(self.jobs.get(job_id).result_path) for job_id in ids]
        self.assertEqual([r.getOwner().getId() for r in results], owners)
        # One commit for all: the jobs and their results share one transaction.
        serials = {obj._p_serial for job_id in ids for obj in (self.jobs.get(job_id), )}
        self.assertEqual(len(serials | {r._p_serial for r in results}), 1)

    def test_a_failing_report_fails_only_its_own_job(self):
        self.report.fail_for = testing.OTHER_REPORTER
        good, bad = self.enqueue(), self.enqueue(owner=testing.OTHER_REPORTER)
        outcomes = self.run_batch()
        self.assertEqual(outcomes, {good: runner.DONE, bad: runner.FAILED})
        failed = self.jobs.get(bad)
        self.assertEqual(failed.error_message, "ValueError: no report for carol")
        self.assertIn("Traceback", bytes(self.stored(failed.error_path).data).decode())
        self.assertEqual(self.pdf_line(good, "user"), testing.REPORTER)

    def test_a_result_that_cannot_be_stored_fails_its_job_and_not_the_others(self):
        ids = [self.enqueue() for _ in range(3)]
        store = FolderResultStore.store_result

        def store_result(results, job, *args):
            if job.id == ids[1]:
                raise OSError("disk full")
            return store(results, job, *args)

        with mock.patch.object(FolderResultStore, "store_result", store_result):
            outcomes = self.run_batch()
        self.assertEqual(outcomes, {ids[0]: runner.DONE, ids[1]: runner.FAILED,
                                    ids[2]: runner.DONE})
        self.assertEqual(self.jobs.get(ids[1]).error_message, "OSError: disk full")
        self.assertEqual(len(self.queue.results.objectIds()), 3)  # 2 PDFs, 1 error log

    def test_a_job_taken_over_meanwhile_does_not_stop_the_others(self):
        first, second = self.enqueue(), self.enqueue()
        claims = self.claim_all()
        self.jobs.get(second).lease_token = "someone-else"
        transaction.commit()
        outcomes = self.runner.run_batch(claims)
        transaction.begin()
        self.assertEqual(dict(zip([c[1] for c in claims], outcomes, strict=True)),
                         {first: runner.DONE, second: runner.LOST})
        self.assertEqual(self.jobs.get(second).state, "running")
        self.assertIsNone(self.jobs.get(second).result_path)

    def assert_handed_back(self, job_id, not_before):
        job = self.jobs.get(job_id)
        self.assertEqual((job.state, job.attempts, job.error_message), ("queued", 0, None))
        self.assertEqual(job.not_before, not_before)  # its old place in line
        self.assertEqual(job.history[-1]["event"], "handed back")

    def test_told_to_stop_it_hands_back_the_jobs_not_started_uncounted(self):
        ids = [self.enqueue() for _ in range(3)]
        not_before = {job_id: self.jobs.get(job_id).not_before for job_id in ids}
        told = iter([True, False])
        outcomes = self.run_batch(keep_going=lambda: next(told))
        self.assertEqual(list(outcomes.values()),
                         [runner.DONE, runner.DONE, runner.HANDED_BACK])
        handed_back = list(outcomes)[2]
        self.assert_handed_back(handed_back, not_before[handed_back])

    def test_a_long_batch_hands_back_the_jobs_it_did_not_start_for_any_worker(self):
        ids = [self.enqueue() for _ in range(3)]
        not_before = {job_id: self.jobs.get(job_id).not_before for job_id in ids}
        self.report.seconds = 0.05
        with mock.patch.object(runner, "BATCH_RUN_SECONDS", 0.01):
            outcomes = self.run_batch()
        self.assertEqual(list(outcomes.values()),
                         [runner.DONE, runner.HANDED_BACK, runner.HANDED_BACK])
        for job_id in list(outcomes)[1:]:
            self.assert_handed_back(job_id, not_before[job_id])
        self.assertEqual(sorted(job.id for job in self.jobs.claim("other-worker", limit=5)),
                         sorted(list(outcomes)[1:]))

    def test_a_transient_error_in_a_batch_counts_a_try_for_its_job_alone(self):
        first, second, third = self.enqueue(), self.enqueue(), self.enqueue()
        calls = iter([None, ConflictError("simulated"), None])
        render = WhoAmI.render

        def flaky(report, *args):
            error = next(calls)
            if error is not None:
                raise error
            return render(report, *args)

        with mock.patch.object(WhoAmI, "render", flaky):
            outcomes = self.run_batch()
        self.assertEqual(list(outcomes.values()),
                         [runner.DONE, runner.RELEASED, runner.HANDED_BACK])
        released, handed_back = (self.jobs.get(job_id) for job_id in list(outcomes)[1:])
        self.assertEqual((released.state, released.attempts), ("queued", 1))
        self.assertIn("ConflictError", released.error_message)
        self.assertEqual((handed_back.state, handed_back.attempts), ("queued", 0))
        self.assertEqual(sorted(outcomes), sorted([first, second, third]))

    def test_batch_size_follows_how_long_jobs_take(self):
        self.assertEqual(batch_size(0), MAX_BATCH)
        self.assertEqual(batch_size(0.0001), MAX_BATCH)
        self.assertEqual(batch_size(0.01), 10)
        self.assertEqual(batch_size(5.0), 1)


class WorkerLoopTests(RunnerTestCase):
    def test_once_runs_every_due_job_with_concurrency_and_exits(self):
        ids = [self.enqueue() for _ in range(5)]
        worker = Worker(self.layer["zodbDB"], concurrency=2, once=True, worker_id=WORKER)
        self.assertEqual(worker.run(), 0)
        transaction.begin()
        self.assertEqual([self.jobs.get(i).state for i in ids], ["done"] * 5)
        self.assertEqual(len(self.queue.results.objectIds()), 5)
        record = self.jobs.worker(WORKER)
        self.assertEqual(record.jobs_done, 5)
        self.assertIsNotNone(record.stopped)

    def test_short_jobs_are_claimed_and_ended_in_batches(self):
        ids = [self.enqueue() for _ in range(40)]
        worker = Worker(self.layer["zodbDB"], once=True, worker_id=WORKER)
        # "Short" is measured against these limits: on a loaded machine a
        # job can take 50 ms, more than half of BATCH_SECONDS. Limits far
        # above any job's time keep this about batching, not the clock
        # (batch_size's arithmetic has a test of its own below).
        with mock.patch.object(claims, "BATCH_SECONDS", 30), \
                mock.patch.object(runner, "BATCH_RUN_SECONDS", 30):
            self.assertEqual(worker.run(), 0)
        transaction.begin()
        jobs = [self.jobs.get(job_id) for job_id in ids]
        self.assertEqual({job.state for job in jobs}, {"done"})
        # The first batch is one job; the next take as many as fit BATCH_SECONDS.
        self.assertLess(len({job._p_serial for job in jobs}), 10)
        self.assertGreater(worker.batch_size, 1)

    def test_max_jobs_stops_after_that_many(self):
        ids = [self.enqueue() for _ in range(3)]
        worker = Worker(self.layer["zodbDB"], max_jobs=2, worker_id=WORKER)
        self.assertEqual(worker.run(), EXIT_RECYCLE)
        transaction.begin()
        states = sorted(self.jobs.get(i).state for i in ids)
        self.assertEqual(states, ["done", "done", "queued"])

    def test_max_jobs_holds_for_threads_claiming_batches(self):
        # Each job thread runs a batch of claimed jobs: the threads share
        # one budget, so no more than --max-jobs jobs run.
        ids = [self.enqueue() for _ in range(7)]
        worker = Worker(self.layer["zodbDB"], concurrency=2, max_jobs=5, worker_id=WORKER)
        self.assertEqual(worker.run(), EXIT_RECYCLE)
        transaction.begin()
        states = sorted(self.jobs.get(i).state for i in ids)
        self.assertEqual(states, ["done"] * 5 + ["queued"] * 2)
        self.assertEqual(self.jobs.worker(WORKER).jobs_done, 5)

    def test_worker_without_queues_says_so(self):
        self.app.manage_delObjects([testing.QUEUE_ID])
        transaction.commit()
        worker = Worker(self.layer["zodbDB"], once=True, worker_id=WORKER)
        self.assertEqual(worker.run(), 2)


class ForgetTests(unittest.TestCase):
    """A stored result leaves the worker's cache: PDFs must not pile up in memory."""

    def test_a_result_and_its_data_chunks_become_ghosts(self):
        from OFS.Image import File
        from ZODB import DB

        db = DB(None)
        manager = transaction.manager  # File.manage_upload takes a savepoint of it
        connection = db.open()
        self.addCleanup(db.close)
        self.addCleanup(connection.close)
        root = connection.root()
        root["other"] = File("other", "", b"kept", "text/plain")
        manager.commit()
        result = File("result", "", b"", "application/pdf")
        root["result"] = result
        result.manage_upload(io.BytesIO(b"%PDF" * 100_000))  # kept in chunks
        manager.commit()
        chunks = []
        chunk = result.data
        while chunk is not None:
            chunks.append(chunk)
            chunk = chunk.next
        self.assertGreater(len(chunks), 1)
        forget(result)
        self.assertEqual({obj._p_changed for obj in [result, *chunks]}, {None})  # ghosts
        self.assertFalse(root["other"]._p_changed)  # written earlier: left alone
        self.assertEqual(bytes(result.data), b"%PDF" * 100_000)  # loads again on use
