"""The bench's own system: a temp home, a database server (ZEO, or PostgreSQL
for RelStorage), workers, and a client of that database.

Everything started here is stopped here, by PID (``Bench.close``), and the
temp home is removed unless asked to keep it.
"""

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import transaction
import ZEO
from AccessControl.Permission import registerPermissions
from OFS.Folder import manage_addFolder
from OFS.Image import manage_addFile
from persistent.mapping import PersistentMapping
from ZODB.TimeStamp import TimeStamp

from collective.asyncreports.dev.processes import Instance
from collective.asyncreports.dev.processes import free_port
from collective.asyncreports.results.listing import LISTING_PERMISSIONS
from collective.asyncreports.zmi.queue import manage_addAsyncReportQueue


BENCH_DIR = Path(__file__).resolve().parent
PASSWORD = "bench-" + os.urandom(6).hex()
OWNER = "admin"
OWNER_FOLDER = "/acl_users"
TRIVIAL = "bench-trivial"
INVENTORY = "object-inventory"
MARKER_KEY = "asyncbench.marker"


def commit_time(obj):
    """Epoch seconds of the commit that last wrote ``obj`` (its TID)."""
    return TimeStamp(obj._p_serial).timeTime()


def rss_kib(pid):
    """Resident set size of a process in KiB, from /proc/PID/status (None if gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid):
    """User + system CPU seconds of a process so far (None if gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_SS_FIELDS = ("bytes_sent", "bytes_received", "data_segs_out", "data_segs_in", "segs_out")


def tcp_counters(zeo_port):
    """Per client PID: kernel TCP counters of its connections to the ZEO port.

    Read with ``ss -tinp`` on the client side of each connection. ``data_segs_out``
    counts TCP segments carrying data that the client sent: every ZEO request
    (load, ping, lastTransaction, tpc_*...) is at least one, so it is an upper
    bound on the number of requests, with no change to any code.
    """
    out = subprocess.run(
        ["ss", "-tinpH", "state", "established", f"( dport = :{zeo_port} )"],
        capture_output=True, text=True, check=True).stdout
    counters = {}
    pid = None
    for line in out.splitlines():
        found = re.search(r"pid=(\d+)", line)
        if found:
            pid = int(found.group(1))
            continue
        if pid is None:
            continue
        values = counters.setdefault(pid, dict.fromkeys(_SS_FIELDS, 0))
        for name in _SS_FIELDS:
            match = re.search(rf"\b{name}:(\d+)", line)
            if match:
                values[name] += int(match.group(1))
        pid = None
    return counters


def _rates(finish_times):
    """Jobs/s over the first and the last fifth of the jobs, by finish time.

    A queue whose per-job cost grows with the number of results shows a
    lower rate at the end.
    """
    times = sorted(finish_times)
    fifth = len(times) // 5
    if fifth < 2:
        return {}
    first = times[:fifth]
    last = times[-fifth:]
    return {"jobs_per_s_first_fifth": (fifth - 1) / max(first[-1] - first[0], 1e-9),
            "jobs_per_s_last_fifth": (fifth - 1) / max(last[-1] - last[0], 1e-9)}


class Client:
    """A client of the bench's database (ZEO, or RelStorage with ``instance``'s
    PostgreSQL) in the bench process, with a transaction manager of its own."""

    def __init__(self, port, cache_size=100000, instance=None):
        if instance is not None and instance.storage != "zeo":
            self.db = instance.open_db()
            self.db.setCacheSize(cache_size)
        else:
            self.db = ZEO.DB(("127.0.0.1", port), cache_size=cache_size)
        self.tm = transaction.TransactionManager()
        self.connection = self.db.open(transaction_manager=self.tm)

    @property
    def app(self):
        return self.connection.root()["Application"]

    def queue(self, path):
        return self.app.unrestrictedTraverse(path.lstrip("/"))

    def jobs(self, path):
        return self.queue(path).job_queue()

    def begin(self):
        self.tm.begin()

    def commit(self):
        self.tm.commit()

    def abort(self):
        self.tm.abort()

    def read(self, step):
        """``step(self)`` on a fresh view of the database, writing nothing."""
        self.tm.begin()
        try:
            return step(self)
        finally:
            self.tm.abort()

    def server_status(self):
        """The ZEO server's counts (loads, stores, commits...); {} on RelStorage."""
        status = getattr(self.db.storage, "server_status", None)
        return status() if status is not None else {}

    def close(self):
        try:
            self.tm.abort()
            self.connection.close()
        finally:
            self.db.close()


class Bench:
    """A temp home with the bench's database server (``storage``: ``zeo`` or
    ``postgresql``); workers come and go per scenario."""

    def __init__(self, keep=False, log=print, zodb_cache_size=0, results_folder="ofs",
                 storage="zeo"):
        self.storage = storage
        self.keep = keep
        self.results_folder = results_folder
        self.zodb_cache_size = zodb_cache_size
        self.log = log
        self.home = Path(tempfile.mkdtemp(prefix="asyncreports-bench-"))
        self.instance = Instance(
            self.home, free_port(), free_port(), extra_packages=["asyncbench"], storage=storage,
            env={"PYTHONPATH": os.pathsep.join(
                [str(BENCH_DIR)] + [p for p in [os.environ.get("PYTHONPATH")] if p])})
        self.client = None

    # -- life cycle ---------------------------------------------------------------

    def start(self):
        self.instance.write_configuration()
        if self.storage == "zeo":
            # The server logs each unresolved conflict (oid and class) at BLATHER.
            conf = self.instance.etc / "zeo.conf"
            conf.write_text(conf.read_text().replace(
                "<eventlog>", "<eventlog>\n  level blather", 1))
        if self.zodb_cache_size:
            # Diagnosis only: the workers' ZODB connection cache size (objects).
            conf = self.instance.zope_conf
            conf.write_text(re.sub(r"(?m)^(\s*)cache-size \d+$",
                                   rf"\g<1>cache-size {self.zodb_cache_size}", conf.read_text()))
        self.instance.start_database()
        started = time.monotonic()
        self.instance.bootstrap("--password", PASSWORD)
        self.log(f"  {self.instance.describe_database()}, bootstrap "
                 f"{time.monotonic() - started:.1f}s, home {self.home}")
        self.client = self.new_client()
        self.client.begin()
        app = self.client.app
        manage_addFolder(app, "docs", "Small target")
        root = self.client.connection.root()
        root[MARKER_KEY] = PersistentMapping()
        self.client.commit()

    def close(self):
        try:
            if self.client is not None:
                self.client.close()
        finally:
            self.instance.stop_all()
            if not self.keep:
                shutil.rmtree(self.home, ignore_errors=True)

    def new_client(self, cache_size=100000):
        """Another client of the bench's database, in this process."""
        return Client(self.zeo_port, cache_size=cache_size, instance=self.instance)

    @property
    def zeo_port(self):
        """The database server's port: ZEO's or PostgreSQL's."""
        return self.instance.zeo_port

    @property
    def zeo_pid(self):
        """The database server's PID: ZEO's or PostgreSQL's postmaster."""
        return next(p.pid for p in self.instance.processes
                    if p.name == self.instance.database_name)

    @property
    def zeo_log(self):
        return self.instance.var / "log" / "zeo.log"

    def zeo_log_offset(self):
        return self.zeo_log.stat().st_size if self.zeo_log.exists() else 0

    def conflicts_since(self, offset):
        """Unresolved conflicts the server logged since ``offset``, by class of object."""
        classes = {}
        if not self.zeo_log.exists():
            return classes
        with open(self.zeo_log, "rb") as log:
            log.seek(offset)
            for line in log:
                if b"conflict error" in line:
                    found = re.search(rb"class ([\w.]+)", line)
                    if found:
                        name = found.group(1).decode()
                    elif b"read conflict" in line:
                        name = "read-current"  # readCurrent(), e.g. check_lease
                    else:
                        name = "?"
                    classes[name] = classes.get(name, 0) + 1
        return classes

    def data_fs_bytes(self):
        path = self.instance.var / "Data.fs"
        return path.stat().st_size if path.exists() else 0

    # -- fixtures -----------------------------------------------------------------

    def add_queue(self, queue_id, **settings):
        """A fresh Async Report Queue at /queue_id (own results folder), with settings."""
        # This process boots no Zope: the permissions a results folder sets
        # (some are CMF's or webdav's) are known only once registered.
        registerPermissions([(name, ()) for name in LISTING_PERMISSIONS])
        client = self.client
        client.begin()
        if self.results_folder == "btree":
            # Diagnosis only: what a BTreeFolder2 results folder would change.
            from Products.BTreeFolder2.BTreeFolder2 import BTreeFolder2

            from collective.asyncreports.results.folder import RESULTS_ID
            from collective.asyncreports.zmi.queue import AsyncReportQueue

            client.app._setObject(queue_id, AsyncReportQueue(queue_id, f"Bench {queue_id}"))
            client.app._getOb(queue_id)._setObject(RESULTS_ID, BTreeFolder2(RESULTS_ID))
        else:
            manage_addAsyncReportQueue(client.app, queue_id, f"Bench queue {queue_id}")
        queue = client.app._getOb(queue_id)
        queue.server_url = "http://127.0.0.1:8080"
        jobs = queue.job_queue()
        for name, value in dict(dict(backoff_seconds=1, backoff_max=5), **settings).items():
            setattr(jobs, name, value)
        client.commit()
        return "/" + queue_id

    def add_inventory_folder(self, folder_id, count):
        """A folder of ``count`` small OFS Files, committed in batches."""
        client = self.client
        client.begin()
        manage_addFolder(client.app, folder_id, "Inventory target")
        client.commit()
        for start in range(0, count, 500):
            client.begin()
            folder = client.app._getOb(folder_id)
            for number in range(start, min(count, start + 500)):
                manage_addFile(folder, f"item-{number:05d}.txt", b"x" * (number % 97),
                               f"Item number {number} of the inventory")
            client.commit()
        return "/" + folder_id

    def enqueue(self, queue_path, count, report=TRIVIAL, path="/docs", params=None,
                batch=5000):
        """Queue ``count`` jobs with JobQueue.enqueue, ``batch`` per commit.

        :returns: (job ids, epoch time of the last commit from its TID).
        """
        client = self.client
        ids = []
        committed = None
        for start in range(0, count, batch):
            client.begin()
            jobs = client.jobs(queue_path)
            last = None
            for _ in range(start, min(count, start + batch)):
                last = jobs.enqueue(report, path, dict(params or {}), OWNER,
                                    owner_folder=OWNER_FOLDER, queue_path=queue_path)
                ids.append(last.id)
            client.commit()
            committed = commit_time(last)
        return ids, committed

    # -- workers ------------------------------------------------------------------

    def start_workers(self, queue_path, count, tag, *args, wait=True, timeout=120):
        """Start ``count`` worker processes on one queue; wait until each heartbeat."""
        started = time.monotonic()
        processes = [
            self.instance.start_worker("--queue", queue_path, *args,
                                       name=f"{tag}-w{number}")
            for number in range(1, count + 1)
        ]
        if wait:
            self.wait_for_workers(queue_path, processes, timeout)
        boot = time.monotonic() - started
        return processes, boot

    def wait_for_workers(self, queue_path, processes, timeout=120):
        pids = {p.pid for p in processes}
        deadline = time.monotonic() + timeout
        while True:
            seen = self.client.read(lambda c: {
                r.pid for r in c.jobs(queue_path).workers() if r.stopped is None})
            if pids <= seen:
                return
            dead = [p for p in processes if p.poll() is not None]
            if dead:
                raise RuntimeError(f"worker {dead[0].name} exited with {dead[0].returncode}; "
                                   f"see {self.worker_log(dead[0].name)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not heartbeat within {timeout}s")
            time.sleep(0.1)

    def stop_workers(self, processes):
        for process in processes:
            self.instance.stop(process, timeout=60)

    def worker_log(self, name):
        return self.instance.var / "log" / f"{name}.out"

    def worker_log_counts(self, names):
        """How often the workers' logs mention retries and conflicts."""
        counts = {"transient_retries": 0, "conflict_errors": 0, "released": 0,
                  "lease_lost": 0, "errors": 0, "queue_unavailable_waits": 0,
                  "conflict_classes": {}}
        for name in names:
            path = self.worker_log(name)
            if not path.exists():
                continue
            for line in path.read_text(errors="replace").splitlines():
                if "transient" in line and "retrying" in line:
                    counts["transient_retries"] += 1
                if "ConflictError" in line:
                    counts["conflict_errors"] += 1
                    found = re.search(r"class ([\w.]+)", line)
                    if found:
                        classes = counts["conflict_classes"]
                        classes[found.group(1)] = classes.get(found.group(1), 0) + 1
                if "queue unavailable" in line:
                    counts["queue_unavailable_waits"] += 1
                if " released in " in line:
                    counts["released"] += 1
                if " lost in " in line:
                    counts["lease_lost"] += 1
                if " ERROR " in line:
                    counts["errors"] += 1
        return counts

    # -- watching and checking ----------------------------------------------------

    def stats(self, queue_path):
        return self.client.read(lambda c: c.jobs(queue_path).stats())

    def wait_until_finished(self, queue_path, total, timeout, processes=(), sample=None,
                            interval=0.25):
        """Poll until ``total`` jobs are final; call ``sample(stats)`` each poll.

        :returns: (stats, timed_out)
        """
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats(queue_path)
            if sample is not None:
                sample(stats)
            final = stats["done"] + stats["failed"] + stats["cancelled"]
            if final >= total:
                return stats, False
            if time.monotonic() > deadline:
                return stats, True
            dead = [p for p in processes if p.poll() is not None]
            if dead and len(dead) == len(processes):
                return stats, True
            time.sleep(interval)

    def verify(self, queue_path, job_ids, complete=True):
        """Count lost, duplicated and left-running jobs from job states and results.

        - lost: a job failed, was cancelled, is done without its result object,
          or (``complete``) is still queued;
        - duplicated: a job with more than one result object, or a result
          object that belongs to no done job;
        - running: jobs still running after their workers stopped.
        """
        def check(client):
            queue = client.queue(queue_path)
            jobs = queue.job_queue()
            results = queue.result_store().folder()
            result_ids = list(results.objectIds())
            per_job = {}
            for result_id in result_ids:
                per_job.setdefault(result_id.split("-", 1)[0], []).append(result_id)
            counts = {"jobs": len(job_ids), "done": 0, "failed": 0, "cancelled": 0,
                      "queued": 0, "running": 0, "missing_result": 0, "duplicated": 0,
                      "orphan_results": 0, "reclaimed": 0, "first": None, "last": None,
                      "results": len(result_ids), "claims": 0}
            wanted = set(job_ids)
            finish_times = []
            for job_id in job_ids:
                job = jobs.get(job_id)
                counts[job.state] += 1
                claims = sum(1 for event in job.history if event["event"] == "claimed")
                counts["claims"] += claims
                if claims > 1:
                    counts["reclaimed"] += 1
                own = per_job.get(job_id, [])
                if len(own) > 1:
                    counts["duplicated"] += 1
                if job.state == "done":
                    name = (job.result_path or "").rsplit("/", 1)[-1]
                    if not name or name not in own:
                        counts["missing_result"] += 1
                    if counts["first"] is None or job.started < counts["first"]:
                        counts["first"] = job.started
                    if counts["last"] is None or job.finished > counts["last"]:
                        counts["last"] = job.finished
                    finish_times.append(job.finished)
                elif own:
                    counts["orphan_results"] += len(own)
            counts["orphan_results"] += sum(
                len(names) for job_id, names in per_job.items() if job_id not in wanted)
            counts["lost"] = (counts["failed"] + counts["cancelled"] + counts["missing_result"]
                              + (counts["queued"] if complete else 0))
            counts["duplicates"] = counts["duplicated"] + counts["orphan_results"]
            counts.update(_rates(finish_times))
            # Through the connection's storage: its view, also on RelStorage.
            counts["folder_pickle_bytes"] = len(results._p_jar._storage.load(results._p_oid)[0])
            return counts
        return self.client.read(check)

    def started_times(self, queue_path, job_ids):
        def read(client):
            jobs = client.jobs(queue_path)
            return {job_id: (jobs.get(job_id).started, jobs.get(job_id).finished,
                             jobs.get(job_id).state) for job_id in job_ids}
        return self.client.read(read)
