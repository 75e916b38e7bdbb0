"""Which wake source a worker sleeps in, by its database's storage."""

from collective.asyncreports.wakeup import invalidations
from collective.asyncreports.wakeup import postgresql
from collective.asyncreports.wakeup.notices import dsn_of


def wake_source(db):
    """The ``IWakeSource`` for a worker on ``db``: LISTEN/NOTIFY on RelStorage
    with PostgreSQL, else ZEO invalidations and this process's own commits."""
    dsn = dsn_of(db.storage)
    if dsn is not None:
        return postgresql.NotifyWake(dsn)
    return invalidations.InvalidationWake(db)
