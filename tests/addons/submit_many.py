"""Submit N trivial jobs through ZEO or RelStorage, one transaction each (load tests).

Usage: python submit_many.py ZEO_PORT|ZODB_CONF COUNT PREFIX
(ZODB_CONF: a file with a ``<zodb>`` section, Instance.zodb_config)
A submission that meets a ConflictError is retried with the same dedup key
after a short random pause, as a web client would resubmit, so every job is
queued exactly once.
"""

import random
import sys
import time

import transaction
import ZEO
import ZODB.config
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


def main(database, count, prefix):
    if database.isdigit():
        db = ZEO.DB(("127.0.0.1", int(database)))
    else:
        db = ZODB.config.databaseFromURL(database)
    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    for number in range(int(count)):
        submit(connection, manager, f"{prefix}-{number}")
    connection.close()
    db.close()
    print(f"submitted {count}")


if __name__ == "__main__":
    main(*sys.argv[1:])
