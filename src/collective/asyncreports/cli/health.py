"""What ``asyncreports health`` judges: are a queue's due jobs getting done?

Heartbeats alone cannot say: a ``--once`` worker (cron, a timer) heartbeats
only while it runs. So a queue is served when a worker is alive or a
``--once`` run ended within the window; and whoever serves it, no due job may
wait too long, no schedule's tick may stay unfired as long, and no running
job may be held by a worker that is silent, stopped or (on this host) dead.
"""

from collective.asyncreports.queue.schedules import book_of
from collective.asyncreports.rows import iso_time
from collective.asyncreports.worker.host import host_key
from collective.asyncreports.worker.host import is_dead_here


def queue_problems(path, jobs, now, max_wait, window=None):
    """One line per problem of the queue at ``path`` (its JobQueue ``jobs``)."""
    window = window or jobs.lease_seconds
    records = jobs.workers()
    live = [record for record in records if record.is_alive(now, window)]
    once_runs = [record for record in records
                 if record.once and record.last_heartbeat + window > now]
    problems = [f"queue {path}: {line}" for line in _stranded(jobs, now, window)]
    due = jobs.due_count(now)
    if not live and not once_runs:
        last = max((record.last_heartbeat for record in records), default=None)
        ago = "never" if last is None else f"last {now - last:.0f}s ago"
        if due:
            problems.append(f"queue {path}: {_jobs(due)} due and no live worker "
                            f"(none has heartbeat in the last {window:g}s; {ago})")
        else:
            problems.append(f"queue {path}: no worker has heartbeat in the last {window:g}s")
    # Between --once runs a due job waits for the next run: up to the window.
    limit = max(max_wait, window) if once_runs and not live else max_wait
    since = jobs.waiting_since(now)
    if since is not None and now - since > limit:
        problems.append(f"queue {path}: a due job has waited {now - since:.0f}s "
                        f"(more than {limit:g}s)")
    # A schedule's tick is fired by any worker's loop: one left so long is not.
    for schedule in book_of(jobs).overdue(now, grace=limit):
        problems.append(f"queue {path}: schedule {schedule.id} ({schedule.report}) is "
                        f"overdue: its tick of {iso_time(schedule.next_run)} has not fired "
                        f"for {now - schedule.next_run:.0f}s (more than {limit:g}s)")
    return problems


def _stranded(jobs, now, window):
    """Running jobs whose worker cannot be running them."""
    key = host_key()
    for job in jobs.running_jobs():
        record = jobs.worker(job.lease_worker)
        where = f"job {job.id} is running on worker {job.lease_worker}"
        if record is None:
            yield f"{where}, which never heartbeat"
        elif is_dead_here(record, key):
            yield (f"{where}, whose process {record.pid} is gone "
                   "(the next worker started on this host takes it back)")
        elif record.stopped is not None:
            yield f"{where}, which stopped {now - record.stopped:.0f}s ago"
        elif not record.is_alive(now, window):
            yield f"{where}, silent for {now - record.last_heartbeat:.0f}s"
        elif jobs.lease_expired(job, now):
            yield f"{where}, whose lease expired"


def _jobs(count):
    return f"{count}{'+' if count >= 1000 else ''} job(s)"
