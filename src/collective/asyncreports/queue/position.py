"""Where a job stands, as the UI tells its owner: the one place for that rule.

A queued job's "N ahead of you" must count what really runs before it, and
say why it waits when nothing is ahead. Workers serve every queue of the
database (unless told ``--queue``), claiming from the queues in path order:
a queue sorted before this one is drained first, and running jobs hold the
workers. So a job waits for

- the due jobs before it in its own queue (``JobQueue.position``),
- the jobs waiting in queues the workers claim from first,
- the jobs running now, in every queue, when all workers are busy.

A running job was claimed; in a batch it may still wait for the jobs before
it. It runs once it is started (``JobQueue.is_started``).

Plain Python over JobQueue, like the rest of queue/.
"""

import time

from collective.asyncreports.queue.clock import now_or_time
from collective.asyncreports.queue.states import QUEUED
from collective.asyncreports.queue.states import RUNNING


def standing(job, queue, others_first=(), others=(), now=None):
    """Tell where ``job`` stands: a dict for templates and JSON.

    :param queue: the JobQueue holding ``job``.
    :param others_first: JobQueues of the same database that workers claim
        from before ``queue`` (paths sorted before its own).
    :param others: the other JobQueues of the database (after it).
    :returns: ``{"phase", "label", "text", "ahead", "ahead_here",
        "ahead_elsewhere", "running"}``: ``phase`` is "waiting", "scheduled",
        "claimed", "running" or the final state; ``label`` the word a
        listing's State column shows ("waiting" for a claimed job that has
        not started); ``text`` the detail next to it ("" when none).
    """
    now = now_or_time(now)
    every = [queue, *others_first, *others]
    info = {"ahead": None, "ahead_here": None, "ahead_elsewhere": None, "running": None}
    if job.state == RUNNING:
        if queue.is_started(job):
            return dict(info, phase="running", label=RUNNING,
                        text=f"{queue.progress_of(job).percent}%")  # as its worker last said
        return dict(info, phase="claimed", label="waiting",
                    text=f"claimed by worker {job.lease_worker}, not started")
    if job.state != QUEUED:
        return dict(info, phase=job.state, label=job.state, text="")
    if job.not_before > now:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(job.not_before))
        return dict(info, phase="scheduled", label=QUEUED, text=f"due again at {when}")
    here = queue.position(job.id, now) or 0
    elsewhere = sum(jobs.stats()[QUEUED] for jobs in others_first)
    running = sum(jobs.stats()[RUNNING] for jobs in every)
    alive = _alive_workers(every, now)
    info = {"ahead": here + elsewhere, "ahead_here": here, "ahead_elsewhere": elsewhere,
            "running": running}
    return dict(info, phase="waiting", label=QUEUED,
                text=_waiting_text(here, elsewhere, running, alive))


def _waiting_text(here, elsewhere, running, alive):
    if not alive:
        reason = "no worker is running"
    elif running:
        # Running jobs hold the workers (another queue's too): why "0 ahead" waits.
        reason = f"{running} job{'s' if running != 1 else ''} running now"
    else:
        reason = None
    ahead = here + elsewhere
    parts = [f"{ahead} ahead of you"]
    if elsewhere:
        parts[0] += f" ({elsewhere} in queues served first)"
    if reason:
        parts.append(reason)
    return "; ".join(parts)


def _alive_workers(queues, now):
    """How many distinct workers heartbeat on any of ``queues`` within their lease time."""
    alive = set()
    for jobs in queues:
        for record in jobs.workers():
            if record.is_alive(now, jobs.lease_seconds):
                alive.add(record.worker_id)
    return len(alive)
