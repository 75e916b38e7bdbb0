"""Events for integrators: each fired once, with its job's info, in the
transaction that makes the change; subscribers that raise in the worker."""

import time
from unittest import mock

import transaction
from AccessControl.SecurityManagement import newSecurityManager
from AccessControl.SecurityManagement import noSecurityManager
from OFS.interfaces import IItem
from plone.testing import zca
from zope.component import getGlobalSiteManager
from zope.configuration import xmlconfig

from collective.asyncreports import actions
from collective.asyncreports import events
from collective.asyncreports import testing
from collective.asyncreports.submission import submit
from collective.asyncreports.worker import queue_steps
from collective.asyncreports.worker import runner
from collective.asyncreports.worker.session import Session
from tests.integration.test_runner import WORKER
from tests.integration.test_runner import RunnerTestCase


QUEUE = "/asyncreports"


class Recorder:
    """A subscriber of every job event: notes what it saw, and writes a mark
    on the queue object (committed, or rolled back, with the change)."""

    def __init__(self):
        self.seen = []
        self.paths = []  # of each event's object, while its connection is open
        self.raise_for = set()  # event class names, or (name, job id), to raise on

    def __call__(self, event):
        name = type(event).__name__
        self.seen.append((name, event.job.id, event))
        self.paths.append(None if event.object is event.job
                          else "/".join(event.object.getPhysicalPath()))
        queue = event.queue
        queue._event_marks = (*getattr(queue, "_event_marks", ()), (name, event.job.id))
        if name in self.raise_for or (name, event.job.id) in self.raise_for:
            raise RuntimeError(f"the {name} subscriber broke")


def zcml_handler(event):
    """Registered through ZCML in a test below."""
    ZCML_SEEN.append(event.job.id)


ZCML_SEEN = []


class EventsTestCase(RunnerTestCase):
    def setUp(self):
        super().setUp()
        # A loaded machine must not make a batch hand jobs back.
        patcher = mock.patch.object(runner, "BATCH_RUN_SECONDS", 60)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.recorder = Recorder()
        registry = getGlobalSiteManager()
        registry.registerHandler(self.recorder, (events.IJobEvent,))
        self.addCleanup(registry.unregisterHandler, self.recorder, (events.IJobEvent,))
        self.db = self.layer["zodbDB"]

    def marks(self):
        transaction.begin()
        return list(getattr(self.queue, "_event_marks", ()))

    def seen(self):
        return [(name, job_id) for name, job_id, _ in self.recorder.seen]

    def as_user(self, user_id):
        newSecurityManager(None, self.app.acl_users.getUserById(user_id).__of__(self.app.acl_users))
        self.addCleanup(noSecurityManager)

    def abandoned(self):
        """A job on its last attempt whose worker died, taken back by a reaper: failed."""
        job_id = self.enqueue()
        self.jobs.get(job_id).max_attempts = 1
        job = self.jobs.claim("dead-worker")[0]
        job.lease_expires = time.time() - 1  # and no heartbeat ever: expired
        transaction.commit()
        with Session(self.db) as session:
            queue_steps.reap_lost_leases(session, WORKER, [QUEUE], {})
        transaction.begin()
        job = self.jobs.get(job_id)
        self.assertEqual(job.state, "failed")
        return job

    def claim(self, limit=1):
        """Claim as the worker loop does (its start fires JobStarted)."""
        with Session(self.db) as session:
            claims = queue_steps.claim(session, WORKER, [QUEUE], limit)
        transaction.begin()
        return claims


class SubmitAndCancelTests(EventsTestCase):
    def test_submit_fires_job_queued_once_in_the_request_transaction(self):
        self.as_user(testing.REPORTER)
        job = submit(self.queue, "whoami", "/docs", {}, dedup_key="form-1")
        again = submit(self.queue, "whoami", "/docs", {}, dedup_key="form-1")
        self.assertIs(again, job)
        ((name, job_id, event),) = self.recorder.seen
        self.assertEqual((name, job_id), ("JobQueued", job.id))
        self.assertTrue(events.IJobQueued.providedBy(event))
        self.assertIs(event.object, job)
        self.assertIs(event.job, job)
        self.assertEqual(event.queue.getPhysicalPath(), self.queue.getPhysicalPath())
        transaction.commit()
        self.assertEqual(self.marks(), [("JobQueued", job.id)])

    def test_an_aborted_request_leaves_no_job_and_no_mark_of_its_subscriber(self):
        self.as_user(testing.REPORTER)
        job = submit(self.queue, "whoami", "/docs", {})
        self.assertEqual(self.seen(), [("JobQueued", job.id)])
        transaction.abort()
        self.assertNotIn(job.id, self.jobs)
        self.assertEqual(self.marks(), [])

    def test_cancelling_a_queued_job_fires_job_cancelled_a_running_one_not_yet(self):
        ids = {self.enqueue(), self.enqueue()}
        (claimed,) = self.claim()
        running = claimed[1]
        (queued,) = ids - {running}
        self.recorder.seen.clear()
        self.as_user(testing.REPORTER)
        actions.cancel(self.queue, [queued, running])
        transaction.commit()
        self.assertEqual(self.seen(), [("JobCancelled", queued)])
        self.assertEqual(self.jobs.get(running).state, "running")
        # The worker stops the running one: cancelled in its commit.
        self.assertEqual(self.runner.run(*claimed), runner.CANCELLED)
        self.assertEqual(self.seen()[1:], [("JobCancelled", running)])
        self.assertEqual(self.marks()[-2:], [("JobCancelled", queued), ("JobCancelled", running)])

    def test_a_cancel_subscriber_that_raises_aborts_the_cancel_as_in_any_request(self):
        self.as_user(testing.REPORTER)
        job_id = self.enqueue()
        self.recorder.raise_for = {"JobCancelled"}
        with self.assertRaises(RuntimeError):
            actions.cancel(self.queue, [job_id])
        transaction.abort()
        self.assertEqual(self.jobs.get(job_id).state, "queued")
        self.assertEqual(self.marks(), [])

    def test_subscribers_are_registered_with_zcml(self):
        zca.pushGlobalRegistry()
        self.addCleanup(zca.popGlobalRegistry)
        xmlconfig.string("""
            <configure xmlns="http://namespaces.zope.org/zope">
              <include package="zope.component" file="meta.zcml" />
              <subscriber for="collective.asyncreports.events.IJobQueued"
                          handler="tests.integration.test_events.zcml_handler" />
            </configure>""")
        del ZCML_SEEN[:]
        self.as_user(testing.REPORTER)
        job = submit(self.queue, "whoami", "/docs", {})
        self.assertEqual(ZCML_SEEN, [job.id])


class WorkerEventTests(EventsTestCase):
    def test_started_commits_with_the_claim_and_finished_with_the_result(self):
        job_id = self.enqueue()
        (claim,) = self.claim()
        self.assertEqual(self.seen(), [("JobStarted", job_id)])
        self.assertEqual(self.marks(), [("JobStarted", job_id)])
        self.assertEqual(self.runner.run(*claim), runner.DONE)
        transaction.begin()
        self.assertEqual(self.seen(), [("JobStarted", job_id), ("JobFinished", job_id)])
        event = self.recorder.seen[-1][2]
        job = self.jobs.get(job_id)
        self.assertTrue(events.IJobFinished.providedBy(event))
        self.assertEqual(self.recorder.paths[-1], job.result_path)
        self.assertIs(event.result, event.object)
        # The mark and the job's end are one commit.
        self.assertEqual(self.marks(), [("JobStarted", job_id), ("JobFinished", job_id)])
        self.assertEqual(self.queue._p_serial, job._p_serial)

    def test_the_other_jobs_of_a_batch_start_and_end_in_the_batch_commit(self):
        ids = [self.enqueue() for _ in range(3)]
        claims = self.claim(limit=3)
        self.assertEqual(sorted(c[1] for c in claims), sorted(ids))
        first, *others = [c[1] for c in claims]
        self.assertEqual(self.runner.run_batch(claims), [runner.DONE] * 3)
        expected = [("JobStarted", first), ("JobFinished", first)]
        for job_id in others:
            expected += [("JobStarted", job_id), ("JobFinished", job_id)]
        self.assertEqual(self.seen(), expected)
        self.assertEqual(self.marks(), expected)

    def test_a_failing_report_fires_job_failed_with_its_error_log(self):
        self.report.error = ValueError("bad data in row 7")
        job_id = self.enqueue()
        (claim,) = self.claim()
        self.assertEqual(self.runner.run(*claim), runner.FAILED)
        transaction.begin()
        name, seen_id, event = self.recorder.seen[-1]
        self.assertEqual((name, seen_id), ("JobFailed", job_id))
        job = self.jobs.get(job_id)
        self.assertEqual(self.recorder.paths[-1], job.error_path)
        self.assertIs(event.object, event.error_log)
        self.assertEqual(self.marks()[-1], ("JobFailed", job_id))

    def test_transient_errors_on_the_last_attempt_fire_job_failed_once(self):
        self.report.conflicts_left = 100
        job_id = self.enqueue()
        self.jobs.get(job_id).max_attempts = 1
        transaction.commit()
        (claim,) = self.claim()
        self.assertEqual(self.runner.run(*claim), runner.RELEASED)
        transaction.begin()
        job = self.jobs.get(job_id)
        self.assertEqual(job.state, "failed")
        self.assertEqual(self.seen(), [("JobStarted", job_id), ("JobFailed", job_id)])
        self.assertEqual(self.recorder.paths[-1], job.error_path)
        self.assertEqual(self.marks(), [("JobStarted", job_id), ("JobFailed", job_id)])

    def test_a_job_abandoned_by_a_reaper_fires_job_failed(self):
        job = self.abandoned()
        ((name, seen_id, event),) = self.recorder.seen
        self.assertEqual((name, seen_id), ("JobFailed", job.id))
        self.assertEqual(self.recorder.paths, [job.error_path])
        self.assertIs(event.object, event.error_log)
        self.assertEqual(self.marks(), [("JobFailed", job.id)])

    def test_they_are_object_events_dispatched_on_their_object_too(self):
        seen = []

        def handler(obj, event):
            seen.append((obj.meta_type, type(event).__name__))

        registry = getGlobalSiteManager()
        registry.registerHandler(handler, (IItem, events.IJobFinished))
        self.addCleanup(registry.unregisterHandler, handler, (IItem, events.IJobFinished))
        self.enqueue()
        (claim,) = self.claim()
        self.runner.run(*claim)
        self.assertEqual(seen, [("File", "JobFinished")])


class FailingSubscriberTests(EventsTestCase):
    """In the worker a subscriber that raises never loses a job or runs it twice."""

    def log_of(self, job):
        return bytes(self.stored(job.error_path).data).decode()

    def test_a_finished_subscriber_that_raises_fails_the_job_with_its_error(self):
        self.recorder.raise_for = {"JobFinished"}
        job_id = self.enqueue()
        (claim,) = self.claim()
        self.assertEqual(self.runner.run(*claim), runner.FAILED)
        transaction.begin()
        job = self.jobs.get(job_id)
        self.assertEqual((job.state, job.attempts), ("failed", 1))
        self.assertIn("the JobFinished subscriber broke", job.error_message)
        self.assertIn("the JobFinished subscriber broke", self.log_of(job))
        self.assertIn("Traceback", self.log_of(job))
        self.assertIsNone(job.result_path)
        self.assertEqual(len(self.queue.results.objectIds()), 1)  # the error log alone
        # The finished attempt was rolled back, its subscriber's mark too.
        self.assertEqual(self.marks(), [("JobStarted", job_id), ("JobFailed", job_id)])
        self.assertEqual(self.jobs.claim("another-worker"), [])  # it does not run again

    def test_when_the_failed_subscriber_raises_too_the_job_fails_without_events(self):
        self.recorder.raise_for = {"JobFinished", "JobFailed"}
        job_id = self.enqueue()
        (claim,) = self.claim()
        self.assertEqual(self.runner.run(*claim), runner.FAILED)
        transaction.begin()
        job = self.jobs.get(job_id)
        self.assertEqual(job.state, "failed")
        log = self.log_of(job)
        self.assertIn("the JobFinished subscriber broke", log)
        self.assertIn("the JobFailed subscriber broke", log)
        self.assertEqual(self.marks(), [("JobStarted", job_id)])
        self.assertEqual([name for name, _ in self.seen()],
                         ["JobStarted", "JobFinished", "JobFailed"])

    def test_a_started_subscriber_that_raises_fails_the_job_at_its_claim(self):
        self.recorder.raise_for = {"JobStarted"}
        job_id = self.enqueue()
        self.assertEqual(self.claim(), [])
        job = self.jobs.get(job_id)
        self.assertEqual((job.state, job.attempts), ("failed", 1))
        self.assertIn("the JobStarted subscriber broke", self.log_of(job))
        self.assertEqual(self.marks(), [("JobFailed", job_id)])

    def test_a_failing_subscriber_in_a_batch_fails_only_its_job(self):
        ids = [self.enqueue() for _ in range(3)]
        claims = self.claim(limit=3)
        broken = claims[1][1]
        self.recorder.raise_for = {("JobFinished", broken)}
        outcomes = self.runner.run_batch(claims)
        transaction.begin()
        self.assertEqual(dict(zip([c[1] for c in claims], outcomes, strict=True)),
                         {claims[0][1]: runner.DONE, broken: runner.FAILED,
                          claims[2][1]: runner.DONE})
        self.assertEqual(sorted(ids), sorted(c[1] for c in claims))
        self.assertIn(("JobFailed", broken), self.marks())
        self.assertNotIn(("JobFinished", broken), self.marks())

    def test_a_reaper_whose_failed_subscriber_raises_still_fails_the_job(self):
        self.recorder.raise_for = {"JobFailed"}
        job = self.abandoned()
        self.assertIn("the JobFailed subscriber broke", self.log_of(job))
        self.assertIn("abandoned", self.log_of(job))
        self.assertEqual(self.marks(), [])
