"""``max_concurrent`` across real workers: a report limited to one run at a time
never runs twice at once, however many workers are free."""

import itertools
import unittest

from tests.processes import System


class MaxConcurrentTests(unittest.TestCase):
    def setUp(self):
        self.system = System(lease_seconds=10)
        self.addCleanup(self.system.close)

    def test_three_workers_run_a_one_at_a_time_report_one_after_another(self):
        system = self.system
        # Different owners' or parameters' jobs are not deduplicated: distinct targets.
        ids = [system.submit("one-at-a-time", path=path)
               for path in ("/", "/asyncreports", "/", "/asyncreports", "/", "/asyncreports")]
        self.assertEqual(len(set(ids)), 6)
        workers = [system.start_worker() for _ in range(3)]
        jobs = [system.wait_for_state(job_id, "done", "failed", timeout=120) for job_id in ids]
        self.assertEqual({job["state"] for job in jobs}, {"done"}, jobs)
        # "started" is the claim: a free slot, so after the last run ended.
        runs = sorted((job["started"], job["finished"], job["id"]) for job in jobs)
        for (_, ended, before), (started, _, after) in itertools.pairwise(runs):
            self.assertGreaterEqual(started, ended, f"{after} began before {before} ended")
        self.assertTrue(all(worker.poll() is None for worker in workers))
