"""Waking a sleeping worker when a job becomes due: one seam, one wake source per storage.

A worker that finds nothing to claim sleeps in its wake source (``IWakeSource``,
made by ``sources.wake_source``) until a commit may have made a job due, or
until its poll interval is over, the fallback that always holds. How a
commit reaches a sleeping worker is the storage's business:

- ZEO pushes an invalidation to every client as soon as another commits:
  ``invalidations.InvalidationWake`` wakes on it, within a millisecond.
- RelStorage sees other commits only when a transaction begins (it polls).
  The transaction that makes a job due also sends a PostgreSQL NOTIFY, which
  PostgreSQL delivers only when that transaction commits
  (``notices.NotifyOnCommit``); workers LISTEN on a connection of their own
  (``postgresql.NotifyWake``).

The queue calls ``job_due`` in each transaction that makes a job due: queued,
queued again (backoff, a lease that expired, a retry), or a running job
ending while others wait for its worker or its report's concurrency slot.
This module and ``notices`` are plain ZODB, like queue/.
"""

import weakref

from collective.asyncreports.wakeup import notices


# The databases seen, and whether their commits need a NOTIFY (RelStorage on
# PostgreSQL): asked once per database, not once per queued job.
_notify_needed = weakref.WeakKeyDictionary()


def job_due(obj, only_if=None):
    """Wake sleeping workers when the current transaction of ``obj``'s
    connection commits; nothing if it aborts.

    ``obj`` is a persistent object the transaction writes (the JobQueue).
    Not yet stored (no connection): nothing to do, no worker can see it.
    ``only_if``: a callable asked only where a wake-up costs a message (a
    NOTIFY): none is sent when it returns false.
    """
    jar = obj._p_jar
    if jar is None:
        return
    db = jar.db()
    needed = _notify_needed.get(db)
    if needed is None:
        needed = _notify_needed[db] = notices.dsn_of(db.storage) is not None
    if needed and (only_if is None or only_if()):
        notices.NotifyOnCommit.join(jar)
