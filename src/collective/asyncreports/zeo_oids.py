"""ZEO clients forget their prefetched oids when they (re)connect to a server.

A ZEO ClientStorage asks its server for new oids 100 at a time and keeps
the ones it has not used yet. A server that restarts knows only the
highest oid committed, so it hands out again the oids its clients still
hold: another client's new objects get them too. Then two objects share
an oid. A worker that loads such an object (a job a submitter just
committed) and then stores a new one under the same oid from its list
fails with "ValueError: A different object already has the same oid"; a
client that stores second gets a ConflictError on an object it created.
Dropping the list on connect costs one round trip per reconnect.

Applied in every process that loads this package: the Zope instance,
the worker and the command line.
"""

from functools import wraps


def _forget_prefetched_oids(notify_connected):
    @wraps(notify_connected)
    def notify_connected_without_stale_oids(self, conn, info):
        # Before the connection is announced, so no new_oid() can take one.
        del self._oids[:]
        return notify_connected(self, conn, info)

    notify_connected_without_stale_oids.forgets_prefetched_oids = True
    return notify_connected_without_stale_oids


def apply():
    """Patch ZEO's ClientStorage once; a no-op without ZEO (RelStorage sites)."""
    try:
        from ZEO.ClientStorage import ClientStorage
    except ImportError:
        return
    if not getattr(ClientStorage.notify_connected, "forgets_prefetched_oids", False):
        ClientStorage.notify_connected = _forget_prefetched_oids(ClientStorage.notify_connected)
