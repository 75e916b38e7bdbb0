"""Claims while a retention purge runs: conflict rate and latency, measured.

Two claimer threads (each its own connection and transaction manager, as
two workers) claim and finish short jobs from a FileStorage queue while a
third purges 5,000 expired jobs in batches of 100 (JobQueue.purge_expired,
as an idle worker does); the same run without the purge is the baseline.
In-process threads on one FileStorage: the conflicts are ZODB's own, the
latencies include the GIL. Run: ``.venv/bin/python bench/retention.py``.
"""

import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

import transaction
from ZODB.DB import DB
from ZODB.FileStorage import FileStorage
from ZODB.POSException import ConflictError

from collective.asyncreports.queue import JobQueue
from collective.asyncreports.queue.retention import DAY


OLD_JOBS = 5000
QUEUED_JOBS = 3000
CLAIMERS = 2


def build(db):
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    queue = conn.root()["queue"] = JobQueue(retention_days=30)
    tm.commit()
    old = time.time() - 40 * DAY
    for start in range(0, OLD_JOBS, 500):
        for i in range(start, start + 500):
            queue.enqueue("summary", "/site", {"n": i}, f"user{i % 50}", now=old + i)
        for job in queue.claim("setup", limit=500, now=old + OLD_JOBS):
            queue.finish(job.id, job.lease_token, f"/r/{job.id}", now=old + OLD_JOBS)
        tm.commit()
    for i in range(QUEUED_JOBS):
        queue.enqueue("summary", "/site", {"n": i}, f"user{i % 50}")
    tm.commit()
    conn.close()


def claimer(db, name, stop, latencies, conflicts):
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    while not stop.is_set():
        started = time.perf_counter()
        try:
            tm.begin()
            jobs = conn.root()["queue"].claim(name, limit=1, spread=64)
            if not jobs:
                tm.abort()
                return
            tm.commit()
            for job in jobs:
                tm.begin()
                conn.root()["queue"].finish(job.id, job.lease_token, "/r")
                tm.commit()
        except ConflictError:
            tm.abort()
            conflicts.append(1)
            continue
        latencies.append(time.perf_counter() - started)
    conn.close()


def purger(db, stop, batches, conflicts):
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    while not stop.is_set():
        try:
            tm.begin()
            removed = conn.root()["queue"].purge_expired("purger")
            tm.commit()
        except ConflictError:
            tm.abort()
            conflicts.append(1)
            continue
        if not removed:
            break
        batches.append(len(removed))
    conn.close()


def run(with_purge, seconds=8.0):
    tmpdir = tempfile.mkdtemp()
    try:
        db = DB(FileStorage(os.path.join(tmpdir, "Data.fs")))
        build(db)
        stop = threading.Event()
        latencies, claim_conflicts, batches, purge_conflicts = [], [], [], []
        threads = [threading.Thread(target=claimer, args=(db, f"w{i}", stop, latencies,
                                                          claim_conflicts))
                   for i in range(CLAIMERS)]
        if with_purge:
            threads.append(threading.Thread(target=purger,
                                            args=(db, stop, batches, purge_conflicts)))
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        purge_thread = threads[-1] if with_purge else None
        if purge_thread is not None:
            purge_thread.join(seconds * 10)
        purge_seconds = time.perf_counter() - began
        time.sleep(max(0.0, seconds - purge_seconds))
        stop.set()
        for thread in threads:
            thread.join()
        db.close()
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    claims = len(latencies)
    return {
        "claims": claims,
        "claim_conflicts": len(claim_conflicts),
        "conflict_rate": len(claim_conflicts) / max(1, claims + len(claim_conflicts)),
        "median_ms": statistics.median(latencies) * 1000 if latencies else 0,
        "p95_ms": (statistics.quantiles(latencies, n=20)[-1] * 1000
                   if len(latencies) > 20 else 0),
        "purged": sum(batches),
        "purge_conflicts": len(purge_conflicts),
        "purge_seconds": purge_seconds if with_purge else None,
    }


def main():
    for label, with_purge in (("claims alone", False), ("claims + purge", True)):
        figures = run(with_purge)
        print(f"{label}: {figures['claims']} claim+finish, {figures['claim_conflicts']} "
              f"conflicts ({figures['conflict_rate']:.1%}), median {figures['median_ms']:.2f} "
              f"ms, p95 {figures['p95_ms']:.2f} ms"
              + (f"; purged {figures['purged']} in {figures['purge_seconds']:.1f} s with "
                 f"{figures['purge_conflicts']} purge conflicts" if with_purge else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
