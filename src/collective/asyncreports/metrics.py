"""Prometheus / OpenMetrics text of queues, computed from the database at each scrape.

The data lives in the ZODB, not in this process, so every scrape reads it
afresh through a collector of its own (``QueueCollector``) in a registry of
its own: nothing is kept between scrapes and several Zope or CLI processes
all give the same answer.

What is read is bounded, so a scrape stays fast in a big queue: counts per
state come from the queue's counters (exact); everything per job (counts per
report, the wait, run time and attempt histograms) from the newest
``RECENT`` jobs of each state. The histograms therefore describe the last
ended jobs, not all jobs since the start: use ``histogram_quantile`` on the
buckets themselves, not on their ``rate()``.
"""

from prometheus_client import CollectorRegistry
from prometheus_client import exposition
from prometheus_client.core import CounterMetricFamily
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.openmetrics import exposition as openmetrics

from collective.asyncreports.queue.clock import now_or_time
from collective.asyncreports.queue.schedules import book_of
from collective.asyncreports.queue.states import ALL_STATES
from collective.asyncreports.queue.states import DONE
from collective.asyncreports.queue.states import FAILED


# Jobs read per state at most: measured 10,000 done jobs scraped in well under
# a second with this bound (docs/admin/monitoring.rst, "Metrics").
RECENT = 1000
WAIT_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400)
RUN_BUCKETS = (0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 4 * 3600)
ATTEMPT_BUCKETS = (1, 2, 3, 5, 10)

OPENMETRICS_TYPE = openmetrics.CONTENT_TYPE_LATEST
TEXT_TYPE = exposition.CONTENT_TYPE_LATEST


def wants_openmetrics(accept):
    """True when an Accept header asks for the OpenMetrics text format."""
    return "application/openmetrics-text" in (accept or "")


def exposition_text(queues, openmetrics_format=False, now=None):
    """(bytes, content type) of the metrics of ``queues``: (path, JobQueue) pairs."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(queues, now))
    if openmetrics_format:
        return openmetrics.generate_latest(registry), OPENMETRICS_TYPE
    return exposition.generate_latest(registry), TEXT_TYPE


class QueueCollector:
    """A prometheus_client collector over queues, read when collected."""

    def __init__(self, queues, now=None):
        self.queues = list(queues)
        self.now = now

    def describe(self):
        return []  # computed at collect time; nothing to check in advance

    def collect(self):
        now = now_or_time(self.now)
        families = _Families()
        for path, jobs in self.queues:
            _collect_queue(families, path, jobs, now)
        return families.all()


class _Families:
    """The metric families of one scrape, each filled queue by queue."""

    def __init__(self):
        queue = ["queue"]
        self.jobs = GaugeMetricFamily(
            "asyncreports_jobs", "Jobs in the queue by state (exact).", labels=queue + ["state"])
        self.by_report = GaugeMetricFamily(
            "asyncreports_jobs_by_report",
            f"Jobs by state and report, among the newest {RECENT} of each state.",
            labels=queue + ["state", "report"])
        self.wait = HistogramMetricFamily(
            "asyncreports_job_wait_seconds",
            f"Created to started, over the newest {RECENT} done and {RECENT} failed jobs.",
            labels=queue + ["report"])
        self.run = HistogramMetricFamily(
            "asyncreports_job_run_seconds",
            f"Started to finished, over the newest {RECENT} done and {RECENT} failed jobs.",
            labels=queue + ["report"])
        self.attempts = HistogramMetricFamily(
            "asyncreports_job_attempts",
            f"Attempts a job took, over the newest {RECENT} done and {RECENT} failed jobs.",
            labels=queue + ["report"])
        self.oldest_due = GaugeMetricFamily(
            "asyncreports_oldest_due_job_wait_seconds",
            "How long the longest-waiting due job has waited (0: none is due).", labels=queue)
        self.workers = GaugeMetricFamily(
            "asyncreports_workers",
            "Workers by status: alive (heartbeat within the lease time), silent, stopped.",
            labels=queue + ["status"])
        self.heartbeat = GaugeMetricFamily(
            "asyncreports_worker_last_heartbeat_timestamp_seconds",
            "Last heartbeat of each worker that has not stopped.",
            labels=queue + ["worker", "host"])
        self.worker_jobs = CounterMetricFamily(
            "asyncreports_worker_jobs", "Jobs each worker that has not stopped ended, by outcome.",
            labels=queue + ["worker", "outcome"])
        self.overdue = GaugeMetricFamily(
            "asyncreports_schedules_overdue",
            "Enabled schedules whose next run passed more than a minute ago.", labels=queue)

    def all(self):
        return list(vars(self).values())


def _collect_queue(families, path, jobs, now):
    stats = jobs.stats()
    recent = {}
    for state in ALL_STATES:
        families.jobs.add_metric([path, state], stats[state])
        recent[state], _ = jobs.list_jobs(state=state, size=RECENT)
        for report, count in sorted(_count_by(recent[state], "report").items()):
            families.by_report.add_metric([path, state, report], count)
    ended = recent[DONE] + recent[FAILED]
    for report, group in sorted(_group_by(ended, "report").items()):
        started = [job for job in group if job.started is not None]
        _histogram(families.wait, [path, report], WAIT_BUCKETS,
                   [max(job.started - job.created, 0.0) for job in started])
        _histogram(families.run, [path, report], RUN_BUCKETS,
                   [max(job.finished - job.started, 0.0) for job in started
                    if job.finished is not None])
        _histogram(families.attempts, [path, report], ATTEMPT_BUCKETS,
                   [job.attempts for job in group])
    since = jobs.waiting_since(now)
    families.oldest_due.add_metric([path], 0.0 if since is None else max(now - since, 0.0))
    _collect_workers(families, path, jobs, now)
    families.overdue.add_metric([path], len(book_of(jobs).overdue(now)))


def _collect_workers(families, path, jobs, now):
    window = jobs.lease_seconds
    statuses = {"alive": 0, "silent": 0, "stopped": 0}
    for record in jobs.workers():
        if record.stopped is not None:
            statuses["stopped"] += 1
            continue
        statuses["alive" if record.is_alive(now, window) else "silent"] += 1
        worker = str(record.worker_id)
        families.heartbeat.add_metric([path, worker, str(record.hostname or "")],
                                      record.last_heartbeat)
        families.worker_jobs.add_metric([path, worker, DONE], record.jobs_done)
        families.worker_jobs.add_metric([path, worker, FAILED], record.jobs_failed)
    for status, count in statuses.items():
        families.workers.add_metric([path, status], count)


def _histogram(family, labels, bounds, values):
    buckets = [(str(float(bound)), sum(1 for value in values if value <= bound))
               for bound in bounds]
    buckets.append(("+Inf", len(values)))
    family.add_metric(labels, buckets, sum_value=float(sum(values)))


def _group_by(jobs, attribute):
    groups = {}
    for job in jobs:
        groups.setdefault(getattr(job, attribute), []).append(job)
    return groups


def _count_by(jobs, attribute):
    return {key: len(group) for key, group in _group_by(jobs, attribute).items()}
