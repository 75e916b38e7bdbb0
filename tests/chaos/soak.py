"""The chaos soak: a real system under random faults, then its invariants checked.

A ZEO server (FileStorage + blobs), 3 workers and 1 submitting process on
127.0.0.1 in a temporary home, and two every-minute schedules the workers
fire. For ``--seconds`` a fault every 2-6 s (see faults.py); then a drain
(no faults, missing workers started, schedules paused) until nothing is
queued or running; then every worker is stopped with SIGTERM, the
database is checked over ZEO, the ZEO server stopped and fstest run on
Data.fs. Exit code 0 when every invariant holds, 1 otherwise.

With STORAGE=postgresql (make chaos STORAGE=postgresql) the database server
is PostgreSQL for RelStorage: the "zeo" faults SIGKILL it (all its processes)
or SIGSTOP its postmaster, and its clean shutdown stands for fstest.
"""

import argparse
import random
import secrets
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from ZODB.POSException import ConflictError

from collective.asyncreports.dev.processes import Instance
from collective.asyncreports.dev.processes import free_port
from collective.asyncreports.queue.schedules import Schedule
from collective.asyncreports.queue.schedules import book_of
from collective.asyncreports.queue.schedules import stored_book
from tests.chaos import checks
from tests.chaos.faults import Faults
from tests.chaos.processes import Cluster
from tests.processes import ADDONS
from tests.processes import STORAGE
from tests.processes import instance_options
from tests.processes import queue_in


SUBMITTER = Path(__file__).with_name("submitter.py")
JOBS_PER_SECOND = 17.5  # 10,500 jobs in the default 600 s, 3,150 in CI's 180 s
# On PostgreSQL the 3 workers drained 4 to 8 jobs a second here (2 cores, with other
# test runs beside it): 17.5 a second would not drain in the drain's 300 s.
JOBS_PER_SECOND_POSTGRESQL = 6.0
WORKERS = 3
LEASE_SECONDS = 15  # short, so a SIGSTOPped worker outlives its lease
MAX_ATTEMPTS = 3
STATUS_EVERY = 30.0


# Every-minute schedules fired by the workers under the same faults (one skips
# missed ticks); each tick must fire exactly once (checks.check_schedule_ticks).
SCHEDULES = (("every-minute", "run-once"), ("every-minute-skip", "skip"))


SCHEDULE_OWNER = "scheduler"


def add_schedules(queue):
    """The soak's schedules, owned by a user of their own: the submitter's
    thousands of waiting jobs are admin's, above the per-user cap."""
    queue.getPhysicalRoot().acl_users._doAddUser(
        SCHEDULE_OWNER, secrets.token_hex(16), ["Manager"], [])
    book = stored_book(queue.job_queue())
    for schedule_id, missed in SCHEDULES:
        params = {"key": f"schedule-{schedule_id}", "kind": "instant", "ms": 0, "rows": 0}
        book.add(Schedule(schedule_id, "chaos", "/", params, SCHEDULE_OWNER, "* * * * *",
                          "Europe/Berlin", missed=missed, queue_path="/asyncreports"))


def pause_schedules(db):
    """Pause the soak's schedules; a worker firing one meanwhile makes us retry."""
    for _ in range(50):
        try:
            with queue_in(db) as queue:
                for schedule in book_of(queue.job_queue()):
                    schedule.pause("the soak is over")
            return
        except ConflictError:
            time.sleep(0.1)
    raise RuntimeError("could not pause the schedules")


class Soak:
    def __init__(self, seconds, seed, jobs, home):
        self.seconds, self.seed, self.target = seconds, seed, jobs
        self.rng = random.Random(seed)
        self.home = home
        self.record = home / "submitted.txt"
        self.instance = Instance(
            home, free_port(), free_port(), extra_packages=["chaosreports"],
            env={"PYTHONPATH": str(ADDONS)}, **instance_options())
        self.cluster = Cluster(self.instance, self.say, workers=WORKERS)
        self.faults = None
        self.submitter = None
        self.db = None
        self.started = time.monotonic()
        self.timings = {}
        self.after_soak = None  # the queue's counts when the faults stopped
        self.data_suspect = True  # Data.fs is kept on failure unless fstest found it clean

    def say(self, text):
        print(f"[{time.monotonic() - self.started:7.1f}s] {text}", flush=True)

    # -- phases -------------------------------------------------------------------------

    def set_up(self):
        self.instance.write_configuration()
        self.cluster.start_zeo()
        self.instance.bootstrap("--password", "admin-password")
        db = self.instance.open_db()
        try:
            with queue_in(db) as queue:
                jobs = queue.job_queue()
                jobs.lease_seconds = LEASE_SECONDS
                jobs.max_attempts = MAX_ATTEMPTS
                jobs.backoff_seconds = 1
                jobs.backoff_max = 5
                add_schedules(queue)
        finally:
            db.close()
        self.cluster.keep_workers()
        while not all(worker.check_ready() for worker in self.cluster.workers):
            self.cluster.reap_workers("set-up")
            if not self.cluster.workers:
                raise RuntimeError("the workers died while starting; see their logs")
            time.sleep(0.2)
        database = self.instance.zeo_port
        if self.instance.storage != "zeo":
            database = self.home / "zodb.conf"
            database.write_text(self.instance.zodb_config())
        self.submitter = self.instance.start(
            "submitter", [str(arg) for arg in (
                sys.executable, SUBMITTER, database, self.target,
                self.seconds, self.seed, self.record)])
        self.say(f"home {self.home}; {self.instance.describe_database()}; "
                 f"{WORKERS} workers serving; submitting {self.target} jobs over "
                 f"{self.seconds:.0f}s; seed {self.seed}")

    def soak(self):
        self.faults = Faults(self.rng, self.cluster, LEASE_SECONDS, self.say)
        deadline = time.monotonic() + self.seconds
        status_at = time.monotonic() + STATUS_EVERY
        while time.monotonic() < deadline:
            self.cluster.reap_workers("soak")
            self.faults.tick()
            self.cluster.keep_workers()
            if time.monotonic() >= status_at:
                status_at += STATUS_EVERY
                self.status()
            time.sleep(0.1)

    def drain(self, timeout):
        """No more faults: undo what is pending, keep 3 workers, wait for an empty queue."""
        self.say("soak over: no more faults; draining")
        self.faults.run_pending()
        if not self.cluster.zeo_up():
            self.cluster.start_zeo()
        self.cluster.resume_zeo()
        for worker in self.cluster.workers:
            self.cluster.resume_worker(worker)
        self.db = self.instance.open_db()
        pause_schedules(self.db)  # no new jobs once the queue drains
        started = time.monotonic()
        deadline = started + timeout
        stats = {}
        status_at = started + STATUS_EVERY / 3
        while time.monotonic() < deadline:
            self.cluster.reap_workers("drain")
            self.cluster.keep_workers()
            with queue_in(self.db) as queue:
                stats = queue.job_queue().stats()
            self.after_soak = self.after_soak or stats
            if self.submitter.poll() is not None and not stats["queued"] and not stats["running"]:
                return True, time.monotonic() - started, stats
            if time.monotonic() >= status_at:
                status_at += STATUS_EVERY / 3
                self.say(f"draining: {stats}")
            time.sleep(1)
        return False, time.monotonic() - started, stats

    def status(self):
        try:
            submitted = sum(1 for line in self.record.open() if line.startswith("C "))
        except OSError:
            submitted = 0
        alive = sum(1 for worker in self.cluster.workers if worker.alive())
        zeo = "up" if self.cluster.zeo_up() else "down"
        if self.cluster.zeo_paused:
            zeo = "stopped"
        self.say(f"status: {submitted} jobs committed, {alive} workers, ZEO {zeo}, "
                 f"{len(self.faults.injected)} faults")

    # -- the whole run ------------------------------------------------------------------

    def run(self, drain_timeout):
        results = []
        self.set_up()
        phase = time.monotonic()
        self.soak()
        self.timings["soak"] = time.monotonic() - phase
        phase = time.monotonic()
        drained, drain_seconds, stats = self.drain(drain_timeout)
        self.timings["drain"] = drain_seconds
        if self.submitter.poll() is None:
            self.say("FAILURE: the submitter has not finished; stopping it")
            self.instance.stop(self.submitter)
        self.say("stopping every worker (SIGTERM)")
        self.cluster.stop_workers("final stop")
        phase = time.monotonic()
        committed, maybe = checks.read_record(self.record)
        self.say("reading the database")
        facts = checks.Facts(self.db)
        self.db.close()
        self.db = None
        self.timings["check"] = time.monotonic() - phase
        zeo_code = self.cluster.stop_zeo()
        logs = sorted((self.instance.var / "log").glob("worker*.out"))
        results += [
            checks.check_submitter(self.submitter.returncode, self.target, committed, maybe),
            checks.check_jobs_exist(facts, committed, maybe),
            checks.check_one_job_per_key(facts, committed, maybe),
            checks.check_schedule_ticks(facts),
            checks.check_drained(drained, drain_seconds, stats),
            checks.check_final(facts),
            checks.check_counts(facts),
            checks.check_outcomes(facts),
            checks.check_results(facts),
            checks.check_readable(facts),
            checks.check_worker_exits(self.cluster.exits),
            checks.check_thread_crashes(logs),
            checks.Check("the ZEO server always started again",
                         not self.cluster.zeo_start_failures,
                         f"{self.cluster.zeo_starts} starts, "
                         f"{len(self.cluster.zeo_start_failures)} failed",
                         self.cluster.zeo_start_failures),
            checks.check_fstest(self.instance.var / "Data.fs") if self.instance.storage == "zeo"
            else checks.check_postgresql(self.instance),
        ]
        self.data_suspect = not results[-1].ok
        self.report(results, logs, zeo_code)
        return all(check.ok for check in results)

    def report(self, results, logs, zeo_code):
        print("\n=== chaos soak: faults injected ===")
        for kind, count in self.faults.counts.items():
            print(f"  {kind:16s} {count}")
        print(f"  {'total':16s} {len(self.faults.injected)}")
        print("  sequence: " + "; ".join(
            f"{at:.0f}s {kind}" for at, kind, _ in self.faults.injected))
        print("\n=== exception lines in worker logs (most frequent) ===")
        for line in checks.exception_summary(logs) or ["  none"]:
            print(line)
        print(f"\n=== invariants (seed {self.seed}) ===")
        for check in results:
            for line in check.lines():
                print(line)
        timings = ", ".join(f"{name} {seconds:.0f}s" for name, seconds in self.timings.items())
        ended = self.after_soak or {}
        print(f"\njobs ended while the faults ran: {ended.get('done', 0)} done, "
              f"{ended.get('failed', 0)} failed of {ended.get('total', 0)} queued by then")
        print(f"workers started {self.cluster.started_workers}; ZEO exit code at the end "
              f"{zeo_code}; {timings}")
        failed = sum(1 for check in results if not check.ok)
        verdict = "PASS" if not failed else f"FAIL ({failed} of {len(results)} invariants)"
        print(f"chaos soak {verdict}; replay with: python tests/chaos.py "
              f"--seconds {self.seconds:g} --seed {self.seed}")

    def close(self):
        if self.db is not None:
            self.db.close()
        self.cluster.stop_everything()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="faults for this long")
    parser.add_argument("--seed", type=int, help="random seed (default: a new one, printed)")
    parser.add_argument("--jobs", type=int,
                        help=f"jobs to submit (default {JOBS_PER_SECOND:g} per second)")
    parser.add_argument("--drain-timeout", type=float,
                        help="longest wait for the queue to empty (default max(300, seconds))")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary home also when every invariant holds")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**9)
    rate = JOBS_PER_SECOND_POSTGRESQL if STORAGE == "postgresql" else JOBS_PER_SECOND
    jobs = args.jobs or int(args.seconds * rate)
    drain = args.drain_timeout or max(300.0, args.seconds)
    home = Path(tempfile.mkdtemp(prefix="asyncreports-chaos-"))

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    soak = Soak(args.seconds, seed, jobs, home)
    ok = False
    try:
        ok = soak.run(drain)
    except KeyboardInterrupt:
        soak.say("interrupted: stopping everything")
    except Exception:
        traceback.print_exc()
        soak.say("FAILURE: the soak itself broke (above); stopping everything")
    finally:
        # Stopping everything must not be cut short by a second signal.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        soak.close()
    if ok and not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    elif args.keep or soak.data_suspect:
        print(f"logs and data kept in {home}")
    else:  # the logs tell what failed; a clean Data.fs of hundreds of MB does not
        for path in home.glob("var/Data.fs*"):
            path.unlink()
        for name in ("blobs", "blobcache"):
            shutil.rmtree(home / "var" / name, ignore_errors=True)
        print(f"logs kept in {home}/var/log (Data.fs removed: fstest found it clean; "
              "--keep keeps it)")
    return 0 if ok else 1
