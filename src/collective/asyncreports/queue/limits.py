"""Limits: a user's active jobs (for deduplication and the per-user cap) and
per-report concurrency slots for ``max_concurrent`` (part of ``JobQueue``).

Both are designed not to add a hot spot. The active-jobs index is keyed by
owner, so only one user's submissions and ends write the same buckets. A
claim of a report with ``max_concurrent`` counts that report's running jobs
(a read of the per-worker running indexes, as many jobs as workers run) and
writes that report's ``ReportSlot``: two claims that would take the last
slot at once conflict there, and reports without a limit never touch one.
"""

from itertools import islice

from BTrees.OOBTree import OOBTree
from persistent import Persistent

from collective.asyncreports.queue import indexes
from collective.asyncreports.queue.states import QUEUED
from collective.asyncreports.queue.states import RUNNING


ACTIVE_STATES = (QUEUED, RUNNING)
# A claim looks this far down the due jobs for one of a report whose slots
# are free (jobs of full reports are passed over, not taken).
CLAIM_SCAN = 256


class ReportSlot(Persistent):
    """Written by every claim of one report with ``max_concurrent``."""

    claims = 0


def active_key(job):
    """Key of a queued or running job in ``_active_by_owner``: owner, then oldest."""
    return (job.owner_id, job.created, job.id)


class Limits:
    """JobQueue's methods for active jobs per owner and report slots.

    Uses ``_jobs``, ``_due``, ``_running`` (through ``_running_keys``).
    """

    _active_by_owner = None  # queues stored before there were limits
    _slots = None  # made at the first claim of a limited report

    def active_jobs(self, owner_id):
        """The owner's queued and running jobs, oldest first."""
        index = self._active_index()
        return [self._jobs[key[-1]] for key in
                indexes.keys(index, (owner_id,), (owner_id, float("inf")))]

    def queued_count(self, owner_id):
        """How many jobs of ``owner_id`` wait to run (queued)."""
        return sum(1 for job in self.active_jobs(owner_id) if job.state == QUEUED)

    def active_twin(self, owner_id, report, path, params, format):
        """The owner's queued or running job of the same report, target,
        parameters and format, or None (the newest if several)."""
        params = dict(params or {})
        for job in reversed(self.active_jobs(owner_id)):
            if job.cancel_requested:
                continue  # it will not give a result
            if (job.report, job.path, job.format, job.params) == (report, path, format, params):
                return job
        return None

    def recent_result(self, owner_id, report, path, params, format, since, scan=200):
        """The owner's newest done job of the same report, target, parameters
        and format that finished at or after ``since`` and has a result; None.

        Reads the owner's newest ``scan`` jobs at most.
        """
        params = dict(params or {})
        keys = indexes.keys(self._by_owner, (owner_id,), (owner_id, float("inf")))
        for key in islice(keys, scan):
            job = self._jobs[key[-1]]
            if (job.state == "done" and job.result_path and (job.finished or 0) >= since
                    and (job.report, job.path, job.format, job.params)
                    == (report, path, format, params)):
                return job
        return None

    def running_count(self, report):
        """How many jobs of ``report`` run now (reads every running job)."""
        return sum(1 for key in self._running_keys() if self._jobs[key[-1]].report == report)

    def _active_changed(self, job, active):
        """Add or drop a job in the owner's active index (``_move``, ``enqueue``)."""
        index, key = self._active_index(), active_key(job)
        if active:
            index.add(key)
        elif key in index:
            indexes.drop(index, key)

    def _active_index(self):
        """The active-jobs index, built from the due and running jobs for a
        queue stored before it existed (the queue written once)."""
        if self._active_by_owner is None:
            index = indexes.new_index()
            for key in (*indexes.keys(self._due), *self._running_keys()):
                index.add(active_key(self._jobs[key[-1]]))
            self._active_by_owner = index
        return self._active_by_owner

    def _claimable(self, keys, limits, wanted):
        """Due ``keys`` whose report has a free slot, at most ``wanted``.

        ``limits`` maps report names to their ``max_concurrent``; a job of
        such a report counts against the running ones and those taken
        before it here.
        """
        taken, counts = [], {}
        for key in islice(keys, CLAIM_SCAN):
            report = self._jobs[key[-1]].report
            limit = limits.get(report)
            if limit:
                if report not in counts:
                    counts[report] = self.running_count(report)
                if counts[report] >= limit:
                    continue
                counts[report] += 1
            taken.append(key)
            if len(taken) >= wanted:
                break
        return taken

    def _take_slot(self, report):
        """Write ``report``'s slot: claims of its last free slot conflict here."""
        if self._slots is None:
            self._slots = OOBTree()
        slot = self._slots.get(report)
        if slot is None:
            slot = self._slots[report] = ReportSlot()
        slot.claims += 1
