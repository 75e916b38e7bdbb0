"""collective.asyncreports: queue slow reports and run them in ZEO-client workers."""

import logging

from collective.asyncreports import relstorage_errors
from collective.asyncreports import zeo_oids


logger = logging.getLogger("collective.asyncreports")

# Before any ZEO client of this process connects: see zeo_oids.
zeo_oids.apply()
# Before any RelStorage client opens: see relstorage_errors.
relstorage_errors.apply()


def initialize(context):
    """Zope product initialisation (five:registerPackage): make the queue addable."""
    from collective.asyncreports.zmi.queue import register_queue_class

    register_queue_class(context)
