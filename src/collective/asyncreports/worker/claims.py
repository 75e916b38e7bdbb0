"""How many jobs a worker claims: its ``--max-jobs`` budget and its batch size."""

import threading


# Busy workers take their jobs at random among the first few due ones (at
# least this many, and twice their batch), not all the very first: see
# JobQueue.claim.
CLAIM_SPREAD = 64

# Short jobs run in batches: claimed in one commit, ended in one commit. A
# batch is sized to take about BATCH_SECONDS, from how long the last one
# took per job, and holds at most MAX_BATCH jobs; slow jobs run one by one.
BATCH_SECONDS = 0.1
MAX_BATCH = 64


def batch_size(seconds_per_job):
    """How many jobs to claim at once, for jobs that took ``seconds_per_job`` each."""
    if seconds_per_job <= 0:
        return MAX_BATCH
    return max(1, min(MAX_BATCH, int(BATCH_SECONDS / seconds_per_job)))


def claim_spread(limit):
    """Among how many of the first due jobs a claim of ``limit`` jobs picks."""
    return max(CLAIM_SPREAD, 2 * limit)


class ClaimBudget:
    """How many more jobs the worker may claim (``--max-jobs``); shared by its threads.

    ``None`` means no limit. A claim reserves first and gives back what it
    did not get, so threads claiming at once never exceed the limit together.
    """

    def __init__(self, limit=None):
        self.left = limit
        self.lock = threading.Lock()

    def take(self, wanted):
        """Reserve up to ``wanted`` claims; return how many were granted."""
        with self.lock:
            if self.left is None:
                return wanted
            granted = max(0, min(wanted, self.left))
            self.left -= granted
            return granted

    def give_back(self, count):
        """Return ``count`` reserved claims that were not used (or not run)."""
        with self.lock:
            if self.left is not None:
                self.left += count
