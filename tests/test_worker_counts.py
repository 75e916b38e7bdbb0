"""The Workers tab tells the truth soon: a worker's counts follow its jobs within seconds."""

import time
import unittest

from tests.system import System


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
