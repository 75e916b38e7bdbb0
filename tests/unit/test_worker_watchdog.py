"""The watchdog stops report code in real threads: no Zope, no layer, no processes.

Each test runs "report code" (a Python loop, so an asynchronous exception
reaches it within milliseconds) in a thread of its own inside
``Watchdog.rendering`` and looks at what that thread raised.
"""

import threading
import time
import unittest

from collective.asyncreports.worker.watchdog import JobInterrupted
from collective.asyncreports.worker.watchdog import JobTimedOut
from collective.asyncreports.worker.watchdog import Watchdog


FAR_FUTURE = time.monotonic() + 10_000


class ReportThread:
    """A thread that runs a busy loop as job ``job_id`` until stopped (at most 5 s)."""

    def __init__(self, watchdog, job_id, limit):
        self.inside = threading.Event()
        self.raised = None
        self.finished = threading.Event()  # the loop ended on its own
        self.thread = threading.Thread(target=self.run, args=(watchdog, job_id, limit))
        self.thread.start()
        if not self.inside.wait(5):
            raise AssertionError("the report thread did not start")

    def run(self, watchdog, job_id, limit):
        try:
            with watchdog.rendering(job_id, limit):
                self.inside.set()
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    time.sleep(0.001)
                self.finished.set()
        except BaseException as exc:  # what the worker's job thread would see
            self.raised = exc

    def join(self):
        self.thread.join(5)
        if self.thread.is_alive():
            raise AssertionError("the report thread did not stop")
        return self.raised


class WatchdogTests(unittest.TestCase):
    def setUp(self):
        self.watchdog = Watchdog()

    def test_report_code_past_its_deadline_is_stopped_with_jobtimedout(self):
        report = ReportThread(self.watchdog, "job-1", limit=7)
        self.assertEqual(self.watchdog.expire(), [])  # 7 s are not over yet
        self.assertEqual(self.watchdog.expire(now=FAR_FUTURE), ["job-1"])
        raised = report.join()
        self.assertIsInstance(raised, JobTimedOut)
        self.assertFalse(report.finished.is_set())
        self.assertEqual(str(raised), "timed out: report code ran longer than its limit of 7s")

    def test_only_jobs_past_their_own_deadline_expire(self):
        short = ReportThread(self.watchdog, "short", limit=0.001)
        long = ReportThread(self.watchdog, "long", limit=3600)
        time.sleep(0.01)
        self.assertEqual(self.watchdog.expire(), ["short"])
        self.assertIsInstance(short.join(), JobTimedOut)
        self.assertEqual(self.watchdog.interrupt_all(), ["long"])
        self.assertIs(type(long.join()), JobInterrupted)

    def test_interrupt_all_stops_every_job_as_not_its_fault(self):
        reports = [ReportThread(self.watchdog, f"job-{n}", limit=3600) for n in range(3)]
        self.assertEqual(sorted(self.watchdog.interrupt_all()), ["job-0", "job-1", "job-2"])
        for report in reports:
            raised = report.join()
            self.assertIs(type(raised), JobInterrupted)
            self.assertEqual(str(raised), "interrupted: the worker is shutting down")

    def test_a_job_is_told_to_stop_once(self):
        report = ReportThread(self.watchdog, "job-1", limit=3600)
        self.assertEqual(self.watchdog.interrupt_all(), ["job-1"])
        self.assertEqual(self.watchdog.interrupt_all(), [])
        self.assertEqual(self.watchdog.expire(now=FAR_FUTURE), [])
        self.assertIs(type(report.join()), JobInterrupted)

    def test_the_exceptions_get_past_except_exception_in_report_code(self):
        self.assertFalse(issubclass(JobInterrupted, Exception))
        self.assertTrue(issubclass(JobTimedOut, JobInterrupted))

    def test_overdue_lists_jobs_told_to_stop_longer_ago_than_the_grace(self):
        rendering = self.watchdog.rendering("stuck", 3600)
        rendering.__enter__()  # this thread "is inside report code", told nothing yet
        try:
            self.assertEqual(self.watchdog.overdue(0, now=FAR_FUTURE), [])
            # Told to stop: the exception is raised in this very thread at
            # its next bytecode; catch it as report code stuck in C would not.
            try:
                self.watchdog.interrupt_all()
                time.sleep(0.001)
                for _ in range(1000):
                    pass
            except JobInterrupted:
                pass
            self.assertEqual(self.watchdog.overdue(10), [])
            self.assertEqual(self.watchdog.overdue(10, now=time.monotonic() + 11), ["stuck"])
        finally:
            with self.assertRaises(JobInterrupted):
                rendering.__exit__(None, None, None)  # raised again on leaving

    def test_a_job_that_left_report_code_is_out_of_reach(self):
        with self.watchdog.rendering("done", 0.001):
            pass
        self.assertEqual(self.watchdog.expire(now=FAR_FUTURE), [])
        self.assertEqual(self.watchdog.interrupt_all(), [])
        self.assertEqual(self.watchdog.overdue(0, now=FAR_FUTURE), [])
