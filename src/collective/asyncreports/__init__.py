"""collective.asyncreports: queue slow reports and run them in ZEO-client workers."""

import logging


logger = logging.getLogger("collective.asyncreports")


def initialize(context):
    """Zope product initialisation (five:registerPackage): make the queue addable."""
    from collective.asyncreports.zmi.queue import register_queue_class

    register_queue_class(context)
