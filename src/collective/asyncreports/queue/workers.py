"""WorkerRecord: one persistent record per worker process, written only by it."""

from persistent import Persistent


# A worker running a batch lists every job of it; tabs show the first few.
JOBS_SHOWN = 3


def jobs_text(job_ids):
    """``job_ids`` for people: "-", "a, b", or "a, b, c and 61 more"."""
    shown = ", ".join(job_ids[:JOBS_SHOWN]) or "-"
    hidden = len(job_ids) - JOBS_SHOWN
    return f"{shown} and {hidden} more" if hidden > 0 else shown


class WorkerRecord(Persistent):
    """What the queue knows about one worker: identity, heartbeat and counters.

    Each worker writes only its own record, so heartbeats of different workers
    never conflict.
    """

    # The latest progress of its running jobs, written by its heartbeats:
    # ((job id, lease token, percent, message), ...); see JobQueue.progress_of.
    progress = ()

    def __init__(self, worker_id, hostname=None, pid=None, now=0.0):
        self.worker_id = worker_id
        self.hostname = hostname
        self.pid = pid
        self.started = now
        self.last_heartbeat = now
        self.current_jobs = ()
        # The jobs of current_jobs whose report has begun (a batch runs them
        # one after another), as of the last heartbeat.
        self.started_jobs = ()
        self.jobs_done = 0
        self.jobs_failed = 0
        self.last_job_id = None
        self.stopped = None
        # Set when the worker starts (JobQueue.worker_started). ``host_key``
        # tells which records share this machine's boot and PID namespace, so
        # their PIDs mean something here; ``once`` marks a ``--once`` run
        # (cron, timers).
        self.host_key = None
        self.once = False

    def __repr__(self):
        return f"<WorkerRecord {self.worker_id} jobs={self.current_jobs!r}>"

    def is_alive(self, now, window):
        """Return True if the worker has not stopped and heartbeat within ``window``
        seconds before ``now``."""
        return self.stopped is None and self.last_heartbeat + window > now

    def as_dict(self):
        """Return the record as a JSON-serialisable dict."""
        return {
            "worker_id": self.worker_id,
            "hostname": self.hostname,
            "pid": self.pid,
            "started": self.started,
            "last_heartbeat": self.last_heartbeat,
            "current_jobs": list(self.current_jobs),
            "current_jobs_text": jobs_text(self.current_jobs),
            "jobs_done": self.jobs_done,
            "jobs_failed": self.jobs_failed,
            "last_job_id": self.last_job_id,
            "stopped": self.stopped,
            "once": self.once,
        }
