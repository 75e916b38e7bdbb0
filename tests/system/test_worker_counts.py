"""The Workers tab tells the truth soon: a worker's counts follow its jobs within seconds."""

import time
import unittest

from tests.processes import System


class WorkerCountsTests(unittest.TestCase):
    def setUp(self):
        # A long lease: heartbeats for the lease alone come only every 30 s.
        self.system = System(lease_seconds=300)
        self.addCleanup(self.system.close)

    def test_done_counter_follows_jobs_within_seconds_not_a_heartbeat_interval(self):
        system = self.system
        worker = system.start_worker()
        system.wait_for_log(worker, "serving")
        time.sleep(1.5)  # past the first beat, so the next one is 30 s away
        job_ids = [system.submit("noop") for _ in range(5)]
        for job_id in job_ids:
            system.wait_for_state(job_id, "done", timeout=30)
        ended = time.monotonic()

        def counted():
            with system.queue() as queue:
                (record,) = queue.job_queue().workers()
                return record.jobs_done == 5 and record

        record = system.wait_for(counted, timeout=10, what="the worker's record to count 5 jobs")
        self.assertLess(time.monotonic() - ended, 3)
        self.assertEqual(record.current_jobs, ())

    def test_jobs_of_a_batch_show_as_started_only_once_their_report_begins(self):
        """A real worker claims a batch; the job behind a slow one is 'not started'."""
        system = self.system
        worker = system.start_worker()
        system.wait_for_log(worker, "serving")
        # Short jobs first, so the worker claims in batches...
        for job_id in [system.submit("noop") for _ in range(20)]:
            system.wait_for_state(job_id, "done", timeout=30)
        # ...then a batch whose first job takes a while holds the second one back.
        with system.queue() as queue:
            jobs = queue.job_queue()
            slow = jobs.enqueue("wait-and-report", "/", {"seconds": 4, "fail": False},
                                owner_id="admin", queue_path="/asyncreports", priority=1)
            behind = jobs.enqueue("noop", "/", {}, owner_id="admin",
                                  queue_path="/asyncreports")
            slow, behind = slow.id, behind.id
        system.wait_for_state(slow, "running", timeout=30)
        time.sleep(2)  # past a heartbeat that follows the slow job's start

        def started(job_id):
            with system.queue() as queue:
                jobs = queue.job_queue()
                job = jobs.get(job_id)
                return job.state, jobs.is_started(job)

        self.assertEqual(started(slow), ("running", True))
        # Claimed in the slow job's batch, waiting behind it.
        self.assertEqual(started(behind), ("running", False))
        system.wait_for_state(behind, "done", timeout=30)
