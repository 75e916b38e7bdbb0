"""The chaos soak's submitting process: COUNT jobs over SECONDS, through ZEO outages.

Usage: python submitter.py ZEO_PORT|ZODB_CONF COUNT SECONDS SEED RECORD_FILE
(ZODB_CONF: a file with a ``<zodb>`` section, for RelStorage)

One job per transaction, paced evenly over SECONDS (catching up after an
outage). Every job has a dedup key (``c-<n>``), so a commit retried after an
outage never queues a second job, as a web client resubmitting its form.
RECORD_FILE gets a line per outcome: ``C key job_id`` once a commit returned,
``M key job_id`` when commit raised something other than a conflict (the
server may have died between vote and finish: the job may or may not
exist; the soak asks the database at the end).
"""

import random
import sys
import time

import transaction
import ZEO
import ZODB.config
from ZODB.POSException import ConflictError


QUEUE = "/asyncreports"
# The mix of jobs: kind, share.
# PDFs of 50 KB and more cost the most CPU (ReportLab): few of them.
MIX = (("instant", 0.76), ("slow", 0.08), ("raise", 0.10), ("pdf", 0.06))


def job_params(rng, key):
    kind = rng.choices([kind for kind, _ in MIX], [share for _, share in MIX])[0]
    params = {"key": key, "kind": kind, "ms": 0, "rows": 0}
    if kind == "slow":
        params["ms"] = rng.randint(100, 2000)
    elif kind == "pdf":
        params["rows"] = rng.randint(220, 500)  # 55 to 80 KB
    return params


def submit(connection, manager, params, record):
    """Queue one job, retrying until a commit returns; log what happened."""
    key = params["key"]
    pause = 0.01
    while True:
        job_id = None
        try:
            manager.begin()
            jobs = connection.root()["Application"].unrestrictedTraverse(
                QUEUE.lstrip("/")).job_queue()
            job_id = jobs.enqueue("chaos", "/", params, owner_id="admin", queue_path=QUEUE,
                                  dedup_key=key).id
            try:
                manager.commit()
            except ConflictError:
                raise
            except Exception:
                record.write(f"M {key} {job_id}\n")
                record.flush()
                raise
            record.write(f"C {key} {job_id}\n")
            record.flush()
            return
        except ConflictError:
            manager.abort()
            time.sleep(random.uniform(0, 0.05))
        except Exception as exc:  # the ZEO server is away: wait, try again
            print(f"{time.strftime('%H:%M:%S')} {key}: {type(exc).__name__}: {exc}; retrying",
                  flush=True)
            try:
                manager.abort()
            except Exception:
                pass
            time.sleep(pause)
            pause = min(pause * 2, 1.0)


def main(port, count, seconds, seed, record_file):
    count, seconds = int(count), float(seconds)
    rng = random.Random(f"{seed}-submitter")
    if port.isdigit():
        db = ZEO.DB(("127.0.0.1", int(port)), wait_timeout=3600)
    else:
        db = ZODB.config.databaseFromURL(port)
    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    started = time.monotonic()
    with open(record_file, "a") as record:
        for number in range(count):
            # Job n is due at n/count of the way: sleep when ahead, never when behind.
            ahead = started + seconds * number / count - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            submit(connection, manager, job_params(rng, f"c-{number}"), record)
    took = time.monotonic() - started
    connection.close()
    db.close()
    print(f"submitted {count} jobs in {took:.0f}s", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
