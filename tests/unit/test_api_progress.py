"""Progress and cancelling a running report, without Zope: the handle report code
gets (``api.current_job()``), the board the worker's threads share, what the
heartbeat writes and reads, and what UIs read back (``JobQueue.progress_of``)."""

import threading
import time
import unittest
from types import SimpleNamespace

from collective.asyncreports.queue import JobQueue
from collective.asyncreports.relstorage_errors import DatabaseUnavailable
from collective.asyncreports.worker.heartbeat import Heartbeat
from collective.asyncreports.worker.progress import COOPERATIVE_SECONDS
from collective.asyncreports.worker.progress import MAX_MESSAGE_LENGTH
from collective.asyncreports.worker.progress import Board
from collective.asyncreports.worker.progress import current_job
from collective.asyncreports.worker.watchdog import JobCancelled
from collective.asyncreports.worker.watchdog import JobInterrupted
from collective.asyncreports.worker.watchdog import Watchdog


QUEUE = "/asyncreports"
T0 = 1_700_000_000.0


def claimed_job(jobs, worker="w1"):
    jobs.enqueue("noop", "/", {}, owner_id="alice", queue_path=QUEUE, now=T0)
    (job,) = jobs.claim(worker, now=T0)
    return job


class RunningJobTests(unittest.TestCase):
    def setUp(self):
        self.board = Board()
        self.job = self.board.new((QUEUE, "job-1", "token-1"))

    def test_done_of_a_total_is_a_whole_percentage_rounded_down(self):
        self.job.progress(1, 3, "one of three")
        self.assertEqual(self.job.latest(), (33, "one of three"))
        self.job.progress(2.5, 5.0)
        self.assertEqual(self.job.latest(), (50, ""))
        self.job.progress(12, 10)  # counted one too many: no more than 100
        self.assertEqual(self.job.latest(), (100, ""))

    def test_without_a_total_done_is_a_percentage(self):
        self.job.progress(42)
        self.assertEqual(self.job.latest(), (42, ""))
        with self.assertRaisesRegex(ValueError, "percentage, at most 100"):
            self.job.progress(101)

    def test_bad_values_are_refused_with_the_reason(self):
        cases = [
            ((True,), TypeError, "done must be a number"),
            (("5",), TypeError, "done must be a number, not str"),
            ((-1,), ValueError, "at least 0"),
            ((float("nan"),), ValueError, "finite"),
            ((1, 0), ValueError, "total must be more than 0"),
            ((1, None, 7), TypeError, "message must be text"),
        ]
        for args, error, message in cases:
            with self.subTest(args=args), self.assertRaisesRegex(error, message):
                self.job.progress(*args)
        self.assertEqual(self.job.latest(), (0, ""))

    def test_long_messages_are_cut_and_nul_dropped(self):
        self.job.progress(1, 2, "x" * 1000)
        self.assertEqual(len(self.job.latest()[1]), MAX_MESSAGE_LENGTH)
        self.assertTrue(self.job.latest()[1].endswith("\u2026"))
        self.job.progress(1, 2, "a\x00b")
        self.assertEqual(self.job.latest()[1], "ab")

    def test_a_report_that_calls_progress_is_left_to_stop_there_for_a_while(self):
        self.assertFalse(self.job.interruptible())
        self.job.cancel(now=100.0)
        self.assertTrue(self.job.interruptible(now=100.0))  # never called progress()
        self.job._called_at = 100.0
        self.assertFalse(self.job.interruptible(now=100.2))
        self.assertTrue(self.job.interruptible(now=100.0 + COOPERATIVE_SECONDS))
        self.job._called_at = 90.0  # called it long ago: interrupted at once
        self.assertTrue(self.job.interruptible(now=100.1))

    def test_once_cancelled_progress_raises_jobcancelled_which_no_except_exception_catches(self):
        self.job.progress(1, 2)
        self.assertFalse(self.job.cancelled())
        self.job.cancel()
        self.assertTrue(self.job.cancelled())
        with self.assertRaises(JobCancelled):
            self.job.progress(2, 2)
        self.assertTrue(issubclass(JobCancelled, JobInterrupted))
        self.assertFalse(issubclass(JobCancelled, Exception))


class BoardTests(unittest.TestCase):
    def test_current_job_is_the_running_one_in_its_own_thread_only(self):
        board = Board()
        job = board.new((QUEUE, "job-1", "token-1"))
        seen_elsewhere = []
        self.assertIsNone(current_job())
        with board.running(job):
            self.assertIs(current_job(), job)
            other = threading.Thread(target=lambda: seen_elsewhere.append(current_job()))
            other.start()
            other.join()
            self.assertEqual(board.jobs(), [job])
        self.assertEqual(seen_elsewhere, [None])
        self.assertIsNone(current_job())
        self.assertEqual(board.jobs(), [])

    def test_what_the_heartbeat_writes_per_queue(self):
        board = Board()
        first, second, silent = (board.new((path, job_id, f"t-{job_id}")) for path, job_id in
                                 ((QUEUE, "a"), ("/other", "b"), (QUEUE, "c")))
        with board.running(first), board.running(second), board.running(silent):
            first.progress(1, 4, "one")
            second.progress(50)
            self.assertEqual(board.progress(QUEUE), (("a", "t-a", 25, "one"),))
            self.assertEqual(board.progress("/other"), (("b", "t-b", 50, ""),))
            second.cancel()
            self.assertEqual(board.to_interrupt(), [])  # it calls progress(): it stops there
            self.assertEqual(board.to_interrupt(now=time.monotonic() + COOPERATIVE_SECONDS),
                             ["b"])
        self.assertEqual(board.progress(QUEUE), ())


class ProgressOfTests(unittest.TestCase):
    """UIs read progress through JobQueue.progress_of; heartbeats write it."""

    def setUp(self):
        self.jobs = JobQueue()
        self.job = claimed_job(self.jobs)

    def test_a_running_job_shows_what_its_worker_last_wrote(self):
        self.assertEqual(self.jobs.progress_of(self.job), (0, ""))
        self.jobs.heartbeat("w1", now=T0 + 1, current_jobs=[self.job.id], progress=[
            (self.job.id, self.job.lease_token, 40, "row 400 of 1000")])
        self.assertEqual(self.jobs.progress_of(self.job), (40, "row 400 of 1000"))
        self.assertEqual(self.jobs.progress_of(self.job).percent, 40)

    def test_progress_of_another_attempt_or_worker_is_not_shown(self):
        self.jobs.heartbeat("w1", now=T0 + 1, progress=[(self.job.id, "old-token", 90, "old")])
        self.jobs.heartbeat("w2", now=T0 + 1, progress=[
            (self.job.id, self.job.lease_token, 80, "not its worker")])
        self.assertEqual(self.jobs.progress_of(self.job), (0, ""))

    def test_without_progress_a_heartbeat_leaves_it_and_an_ended_job_shows_its_own(self):
        entry = (self.job.id, self.job.lease_token, 40, "half")
        self.jobs.heartbeat("w1", now=T0 + 1, progress=[entry])
        self.jobs.heartbeat("w1", now=T0 + 2)  # as the loop's final counts do
        self.assertEqual(self.jobs.worker("w1").progress, (entry,))
        self.jobs.finish(self.job.id, self.job.lease_token, "/result", now=T0 + 3)
        self.assertEqual(self.jobs.progress_of(self.job), (100, ""))

    def test_records_from_before_progress_have_none(self):
        record = self.jobs.worker("w1") or self.jobs.heartbeat("w1", now=T0)
        record.__dict__.pop("progress", None)
        self.assertEqual(self.jobs.progress_of(self.job), (0, ""))


class FakeSession:
    """What Heartbeat.look_for_cancels needs of a Session: ``read(step)``."""

    def __init__(self, jobs):
        self.reads = 0
        queue = SimpleNamespace(job_queue=lambda: jobs)
        self.app = SimpleNamespace(unrestrictedTraverse=lambda path: queue)

    def read(self, step):
        self.reads += 1
        return step(self.app)


class LookForCancelsTests(unittest.TestCase):
    def setUp(self):
        self.jobs = JobQueue()
        self.job = claimed_job(self.jobs)
        self.last_transaction = b"1"
        db = SimpleNamespace(lastTransaction=lambda: self.last_transaction)
        self.board = Board()
        self.watchdog = Watchdog()
        self.heartbeat = Heartbeat(db, "w1", dict, self.board, self.watchdog)
        self.session = FakeSession(self.jobs)
        self.running = self.board.new((QUEUE, self.job.id, self.job.lease_token))

    def test_an_idle_worker_reads_nothing(self):
        self.heartbeat.look_for_cancels(self.session)
        self.assertEqual(self.session.reads, 0)

    def test_reads_only_after_a_commit_and_tells_the_job(self):
        with self.board.running(self.running):
            self.heartbeat.look_for_cancels(self.session)
            self.heartbeat.look_for_cancels(self.session)  # nothing committed since
            self.assertEqual(self.session.reads, 1)
            self.jobs.cancel(self.job.id, actor="manager")
            self.last_transaction = b"2"
            self.heartbeat.look_for_cancels(self.session)
            self.assertEqual(self.session.reads, 2)
            self.assertTrue(self.running.cancelled())
            with self.assertRaises(JobCancelled):
                self.running.progress(1, 2)

    def test_a_database_that_is_away_is_looked_at_again_later(self):
        # RelStorage's lastTransaction() asks PostgreSQL: an outage raised out of
        # the heartbeat thread and ended it (the PostgreSQL chaos soak found it).
        def away():
            raise DatabaseUnavailable("connection refused")

        self.heartbeat.db = SimpleNamespace(lastTransaction=away)
        self.jobs.cancel(self.job.id, actor="manager")
        with self.board.running(self.running):
            with self.assertLogs("collective.asyncreports", "WARNING") as logged:
                self.heartbeat.look_for_cancels(self.session)
                self.heartbeat.look_for_cancels(self.session)
            self.assertEqual(len(logged.records), 1)  # once per outage
            self.assertFalse(self.running.cancelled())
            self.heartbeat.db = SimpleNamespace(lastTransaction=lambda: b"2")
            self.heartbeat.look_for_cancels(self.session)
            self.assertTrue(self.running.cancelled())

    def test_a_cancel_for_another_attempt_is_not_ours(self):
        stale = self.board.new((QUEUE, self.job.id, "a-token-of-an-older-attempt"))
        self.jobs.cancel(self.job.id)
        with self.board.running(stale):
            self.heartbeat.look_for_cancels(self.session)
        self.assertFalse(stale.cancelled())

    def test_report_code_that_never_calls_progress_is_interrupted(self):
        self.jobs.cancel(self.job.id)
        raised = []
        inside = threading.Event()

        def busy_report():
            try:
                with self.board.running(self.running), \
                        self.watchdog.rendering(self.job.id, 60):
                    inside.set()
                    deadline = time.monotonic() + 5
                    while time.monotonic() < deadline:
                        pass
            except BaseException as exc:
                raised.append(exc)

        thread = threading.Thread(target=busy_report)
        thread.start()
        self.assertTrue(inside.wait(5))
        began = time.monotonic()
        self.heartbeat.look_for_cancels(self.session)
        thread.join(5)
        self.assertLess(time.monotonic() - began, 1)
        self.assertEqual([type(exc) for exc in raised], [JobCancelled])
        self.assertIn("cancel was requested", str(raised[0]))


class HeartbeatSessionTests(unittest.TestCase):
    """The heartbeat's session opens once the database answers: opening polls it on
    RelStorage, and an outage as the worker started ended the heartbeat thread (the
    PostgreSQL chaos soak found it, seed 394349535)."""

    def test_it_waits_for_the_database_then_opens(self):
        tries = []

        def open_connection(transaction_manager):
            tries.append(transaction_manager)
            if len(tries) < 3:
                raise DatabaseUnavailable("connection refused")
            return SimpleNamespace()

        heartbeat = Heartbeat(SimpleNamespace(open=open_connection), "w1", dict)
        with self.assertLogs("collective.asyncreports", "WARNING") as logged:
            session = heartbeat._open_session(0.01)
        self.assertIsNotNone(session)
        self.assertEqual(len(tries), 3)
        self.assertEqual(len(logged.records), 1)  # once per outage

    def test_told_to_stop_while_it_waits_it_opens_nothing(self):
        def away(transaction_manager):
            heartbeat.stopping.set()
            raise DatabaseUnavailable("connection refused")

        heartbeat = Heartbeat(SimpleNamespace(open=away), "w1", dict)
        with self.assertLogs("collective.asyncreports", "WARNING"):
            self.assertIsNone(heartbeat._open_session(0.01))


class HeartbeatPacingTests(unittest.TestCase):
    """The heartbeat thread: a cancel is seen within a fraction of a second while
    jobs run, and progress is written at most once a second."""

    def test_cancel_seen_quickly_and_progress_at_most_once_a_second(self):
        jobs = JobQueue()
        job = claimed_job(jobs)
        writes = []
        db = SimpleNamespace(lastTransaction=lambda: len(writes))
        board = Board()
        heartbeat = Heartbeat(db, "w1", dict, board, Watchdog())
        session = FakeSession(jobs)
        heartbeat.write = lambda session, paths: writes.append(heartbeat.progress(paths)) or \
            setattr(heartbeat, "written", writes[-1])
        running = board.new((QUEUE, job.id, job.lease_token))
        with board.running(running):
            thread = threading.Thread(target=self.beat, args=(heartbeat, session))
            thread.start()
            try:
                deadline = time.monotonic() + 2.2
                done = 0
                while time.monotonic() < deadline:
                    done += 1
                    running.progress(done % 100)
                    time.sleep(0.001)
                self.assertGreaterEqual(len(writes), 2)
                self.assertLessEqual(len(writes), 4)  # at start, then once a second
                jobs.cancel(job.id)
                writes.append("a commit")  # lastTransaction changes
                began = time.monotonic()
                while not running.cancelled() and time.monotonic() - began < 2:
                    time.sleep(0.01)
                self.assertTrue(running.cancelled())
                self.assertLess(time.monotonic() - began, 0.6)
            finally:
                heartbeat.stop()
                thread.join(5)

    def beat(self, heartbeat, session):
        heartbeat._beat_loop(session, [QUEUE], interval=30)
