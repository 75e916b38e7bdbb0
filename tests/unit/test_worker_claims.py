"""How many jobs a worker claims (--max-jobs budget, batch size): no Zope, no processes."""

import threading
import unittest

from collective.asyncreports.worker.claims import CLAIM_SPREAD
from collective.asyncreports.worker.claims import MAX_BATCH
from collective.asyncreports.worker.claims import ClaimBudget
from collective.asyncreports.worker.claims import batch_size
from collective.asyncreports.worker.claims import claim_spread


class ClaimBudgetTests(unittest.TestCase):
    def test_without_a_limit_every_claim_is_granted(self):
        budget = ClaimBudget()
        self.assertEqual(budget.take(64), 64)
        self.assertEqual(budget.take(10**6), 10**6)
        budget.give_back(5)  # nothing to count
        self.assertIsNone(budget.left)

    def test_claims_are_granted_up_to_the_limit_and_no_further(self):
        budget = ClaimBudget(5)
        self.assertEqual(budget.take(3), 3)
        self.assertEqual(budget.take(3), 2)
        self.assertEqual(budget.take(1), 0)
        self.assertEqual(budget.left, 0)

    def test_claims_not_used_can_be_taken_again(self):
        budget = ClaimBudget(4)
        granted = budget.take(4)
        claimed = 1  # the queue had one due job
        budget.give_back(granted - claimed)
        self.assertEqual(budget.take(10), 3)
        self.assertEqual(budget.take(1), 0)

    def test_asking_for_nothing_takes_nothing(self):
        budget = ClaimBudget(2)
        self.assertEqual(budget.take(0), 0)
        self.assertEqual(budget.left, 2)

    def test_threads_claiming_at_once_never_exceed_the_limit_together(self):
        budget = ClaimBudget(500)
        granted = []
        start = threading.Barrier(8)

        def claim_a_lot():
            start.wait()
            granted.append(sum(budget.take(3) for _ in range(100)))

        threads = [threading.Thread(target=claim_a_lot) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        self.assertEqual(len(granted), 8)
        self.assertEqual(sum(granted), 500)  # 2,400 asked for
        self.assertEqual(budget.left, 0)


class BatchSizeTests(unittest.TestCase):
    def test_a_batch_takes_about_a_tenth_of_a_second(self):
        self.assertEqual(batch_size(0.01), 10)
        self.assertEqual(batch_size(0.05), 2)

    def test_slow_jobs_run_one_by_one(self):
        self.assertEqual(batch_size(0.1), 1)
        self.assertEqual(batch_size(3600), 1)

    def test_instant_jobs_make_the_largest_batch(self):
        self.assertEqual(batch_size(0), MAX_BATCH)
        self.assertEqual(batch_size(-1), MAX_BATCH)  # a clock that stepped back
        self.assertEqual(batch_size(1e-9), MAX_BATCH)

    def test_claims_pick_among_at_least_the_spread_and_twice_the_batch(self):
        self.assertEqual(claim_spread(1), CLAIM_SPREAD)
        self.assertEqual(claim_spread(MAX_BATCH), 2 * MAX_BATCH)
