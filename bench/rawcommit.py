"""Scenario 1 client: commit one small new persistent object per transaction.

Run as a separate process (one per client, so clients do not share a GIL):

    python rawcommit.py PORT LABEL SECONDS [STORAGE HOME]

STORAGE ``postgresql``: RelStorage on the PostgreSQL at PORT, configured as
the bench's home HOME configures it (default: a ZEO server at PORT).

It connects, finds its own IOBTree at the root (made by the bench, one per
client, so clients never conflict),
prints ``ready``, waits for a line on stdin, commits for SECONDS and prints a
JSON line with its counts. Each transaction adds one PersistentMapping to
the tree: the new object and the tree bucket it lands in are written.
"""

import json
import statistics
import sys
import time

import transaction
import ZEO
from persistent.mapping import PersistentMapping

from collective.asyncreports.dev.processes import Instance


def main(argv):
    port, label, seconds = int(argv[0]), argv[1], float(argv[2])
    if len(argv) > 3 and argv[3] != "zeo":
        db = Instance(argv[4], port, 0, storage=argv[3]).open_db()
    else:
        db = ZEO.DB(("127.0.0.1", port))
    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    key = f"asyncbench.raw.{label}"
    try:
        manager.begin()
        connection.root()[key]  # made by the bench before this client starts
        manager.abort()
        print("ready", flush=True)
        sys.stdin.readline()
        latencies = []
        started = time.perf_counter()
        deadline = started + seconds
        number = 0
        while True:
            before = time.perf_counter()
            if before >= deadline:
                break
            manager.begin()
            tree = connection.root()[key]
            tree[number] = PersistentMapping({"n": number, "at": time.time()})
            manager.commit()
            latencies.append(time.perf_counter() - before)
            number += 1
        elapsed = time.perf_counter() - started
        print(json.dumps({
            "label": label, "commits": number, "seconds": elapsed,
            "commits_per_s": number / elapsed,
            "median_commit_ms": statistics.median(latencies) * 1000 if latencies else None,
        }), flush=True)
    finally:
        manager.abort()
        connection.close()
        db.close()


if __name__ == "__main__":
    main(sys.argv[1:])
