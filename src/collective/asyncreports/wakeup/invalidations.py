"""The ZEO wake source: a worker wakes on the invalidations its server pushes.

A ZEO server sends every client an invalidation as soon as another client
commits, about a millisecond after the commit. The worker waits on that
message itself: a timer that looks at ``lastTransaction()`` every 50 ms
would add 25 ms on average and 50 ms at worst to every pickup (issue 18).

The client storage hands the invalidations it receives to the object it was
registered with (``IStorage.registerDB``, an ``IStorageWrapper``: the DB's
MVCC adapter). ``Announcer`` takes that place, passes each message on first,
so that a transaction begun after the wake-up sees the commit, and then wakes
the waiting workers. It needs no request to the server: an idle worker still
sends nothing.

Commits of this process's own connections reach no wrapper (ZODB passes
them to the other connections itself): they are seen by ``lastTransaction()``,
a local call, every ``LOCAL_COMMITS_SECONDS``. That is also what a storage
that pushes nothing (a DemoStorage in tests) gets.
"""

import threading
import time
import weakref

from ZEO.ClientStorage import ClientStorage
from zope.interface import implementer

from collective.asyncreports.interfaces import IWakeSource


# How often a waiting worker looks whether a connection of its own process
# committed; a local call, no request to any server.
LOCAL_COMMITS_SECONDS = 0.05

_announcers = weakref.WeakKeyDictionary()  # client storage -> its Announcer
_announcers_lock = threading.Lock()


class Announcer:
    """The ``IStorageWrapper`` a ZEO client storage calls with its server's
    invalidations: passes them on to the wrapper it replaced, then counts
    them and wakes whoever waits on ``condition``."""

    def __init__(self, wrapped):
        self._wrapped = wrapped
        self.condition = threading.Condition()
        self.count = 0  # invalidations (and cache drops) received so far

    def invalidate(self, transaction_id, oids):
        self._wrapped.invalidate(transaction_id, oids)
        self._announce()

    def invalidateCache(self):
        # A reconnected client drops its cache: anything may have changed.
        self._wrapped.invalidateCache()
        self._announce()

    def _announce(self):
        with self.condition:
            self.count += 1
            self.condition.notify_all()

    def __getattr__(self, name):
        # references, transform_record_data... as the wrapped DB has them.
        return getattr(self._wrapped, name)


def announcer_of(db):
    """The ``Announcer`` of ``db``'s ZEO client storage, put in place on
    first use; None for a storage that is not a ZEO client."""
    storage = db.storage
    if not isinstance(storage, ClientStorage):
        return None
    with _announcers_lock:
        announcer = _announcers.get(storage)
        if announcer is None:
            # The DB registered its MVCC adapter with the storage; ours passes to it.
            announcer = _announcers[storage] = Announcer(db._mvcc_storage)
            storage.registerDB(announcer)
    return announcer


@implementer(IWakeSource)
class InvalidationWake:
    """Wakes on the invalidations of a ZEO server and on this process's commits."""

    def __init__(self, db, local_commits_seconds=LOCAL_COMMITS_SECONDS):
        self.db = db
        self.local_commits_seconds = local_commits_seconds
        self.announcer = announcer_of(db)
        # Without a ZEO client, only interrupt() notifies this one.
        self.condition = self.announcer.condition if self.announcer else threading.Condition()
        self.interrupted = False
        self._seen = 0
        self._last = None

    def arm(self):
        self._seen = self._received()
        self._last = self.db.lastTransaction()

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            # Outside the condition: lastTransaction() takes the ZEO cache's
            # lock, which the thread that announces may hold.
            if self.db.lastTransaction() != self._last:
                return True
            with self.condition:
                if self.interrupted:
                    return False
                if self._received() != self._seen:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.condition.wait(min(remaining, self.local_commits_seconds))

    def interrupt(self):
        with self.condition:
            self.interrupted = True
            self.condition.notify_all()

    def close(self):
        pass  # the Announcer stays with its storage; other workers may use it

    def _received(self):
        return self.announcer.count if self.announcer else 0
