"""NOTIFY in the transaction that makes a job due, for workers on RelStorage with PostgreSQL.

RelStorage sees other clients' commits only when a transaction begins (it
polls the database then), so a sleeping worker would see a new job only
after its poll interval. Instead the transaction that makes a job due sends
``NOTIFY collective_asyncreports`` and every worker LISTENs for it on a
connection of its own.

The delivery guarantee is PostgreSQL's own: a NOTIFY is part of the database
transaction it was sent in, delivered to the listeners when (and after) that
transaction commits, and never if it rolls back. ``NotifyOnCommit`` sends it
through RelStorage's store connection, inside the very database transaction
that writes the job, during the two-phase commit's vote. So:

- an aborted transaction, or one whose vote fails (a ConflictError), sends
  nothing: RelStorage rolls its store transaction back, and the NOTIFY with it;
- a committed one wakes every listener, also when the committing process
  dies right after its COMMIT (no second step that a crash could skip);
- a listener woken by it begins its next transaction after the commit, so
  RelStorage's poll sees the job.

A NOTIFY sent on another connection after the commit (an after-commit hook)
would be lost when the process dies between the two, and would need one more
connection per process and one more round trip per commit. The price of the chosen way is that it
reaches into RelStorage's two-phase-commit state for the store connection
(``store_cursor``); tests/system/test_wakeup.py pins that, so a
RelStorage upgrade that moves it fails there, and the poll interval still
wakes workers meanwhile.

PostgreSQL folds identical notifications of one transaction into one, and
``NotifyOnCommit.join`` sends at most one per transaction and connection.
"""

import logging


# Not the package's logger: queue/ imports this module, and the package's
# __init__ loads ZEO and Zope's interfaces (tests/unit/test_queue_imports.py).
logger = logging.getLogger("collective.asyncreports")

CHANNEL = "collective_asyncreports"


def dsn_of(storage):
    """The DSN of a RelStorage on PostgreSQL, or None for any other storage."""
    adapter = getattr(storage, "_adapter", None)
    if adapter is None or not type(adapter).__module__.startswith("relstorage.adapters.postgresql"):
        return None
    return getattr(adapter, "_dsn", None)


def store_cursor(jar):
    """The cursor of the database transaction RelStorage commits ``jar``'s
    changes in, while ``jar`` is in the two-phase commit; else None."""
    phase = getattr(jar._storage, "_tpc_phase", None)
    connection = getattr(phase, "store_connection", None)
    return getattr(connection, "cursor", None)


class _Savepoint:
    def rollback(self):
        pass  # a NOTIFY then sent for nothing only makes workers look once


class NotifyOnCommit:
    """A transaction data manager that sends NOTIFY in RelStorage's own
    database transaction for ``jar``, voting right after ``jar`` (see the
    module's docstring for why this way)."""

    def __init__(self, jar):
        self.jar = jar
        self.transaction_manager = jar.transaction_manager

    @classmethod
    def join(cls, jar):
        """Join one ``NotifyOnCommit`` for ``jar`` to its current transaction."""
        transaction = jar.transaction_manager.get()
        try:
            transaction.data(cls)
        except KeyError:
            joined = set()
            transaction.set_data(cls, joined)
        else:
            joined = transaction.data(cls)
        if id(jar) not in joined:
            joined.add(id(jar))
            transaction.join(cls(jar))

    def sortKey(self):
        # Right after the connection's own key: RelStorage has voted, so its
        # store connection is in the database transaction that commits the job.
        return f"{self.jar.sortKey()}~asyncreports-notify"

    def tpc_vote(self, transaction):
        cursor = store_cursor(self.jar)
        if cursor is None:
            logger.warning("no RelStorage store connection to send NOTIFY on "
                           "(a RelStorage that changed?): workers wake at their poll interval")
            return
        cursor.execute(f"NOTIFY {CHANNEL}")

    def abort(self, transaction):
        # Also when a savepoint taken before we joined rolls back (an
        # AbortSavepoint unjoins us): a job made due after it joins us again.
        try:
            transaction.data(NotifyOnCommit).discard(id(self.jar))
        except KeyError:
            pass

    def tpc_begin(self, transaction):
        pass

    def commit(self, transaction):
        pass

    def tpc_finish(self, transaction):
        pass

    def tpc_abort(self, transaction):
        pass  # RelStorage rolls its store transaction back, the NOTIFY with it

    def savepoint(self):
        return _Savepoint()
