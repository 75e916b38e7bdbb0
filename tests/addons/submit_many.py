"""Submit N trivial jobs through ZEO, one transaction each (load tests).

Usage: python submit_many.py ZEO_PORT COUNT PREFIX
A submission that meets a ConflictError is retried with the same dedup key
after a short random pause, as a web client would resubmit, so every job is
queued exactly once.
"""

import random
import sys
import time

import transaction
import ZEO
from ZODB.POSException import ConflictError


def submit(connection, manager, key, attempts=50):
    for attempt in range(attempts):
        manager.begin()  # a fresh view of the database for every attempt
        try:
            jobs = connection.root()["Application"].asyncreports.job_queue()
            jobs.enqueue("noop", "/", {}, owner_id="admin", queue_path="/asyncreports",
                         dedup_key=key)
            manager.commit()
            return
        except ConflictError as exc:
            last = exc
            manager.abort()
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
    raise ConflictError(f"gave up on {key} after {attempts} conflicts, the last: {last}")


def main(port, count, prefix):
    db = ZEO.DB(("127.0.0.1", int(port)))
    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    for number in range(int(count)):
        submit(connection, manager, f"{prefix}-{number}")
    connection.close()
    db.close()
    print(f"submitted {count}")


if __name__ == "__main__":
    main(*sys.argv[1:])
