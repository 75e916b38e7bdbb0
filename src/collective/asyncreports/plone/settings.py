"""The registry is the source of truth for a site's queue settings.

Workers read the numbers from the JobQueue, so every change of a record is
copied there.
"""

from zope.component.hooks import getSite

from collective.asyncreports.plone.queue import QUEUE_ID
from collective.asyncreports.queue.settings import SETTINGS


def sync_job_queue(queue):
    """Copy the registry's numbers onto ``queue``'s JobQueue.

    Only changed values are written: the JobQueue object is shared by every
    enqueue and claim, and an idle write would make them conflict.
    """
    settings = queue.settings_record()
    if settings is None:
        return
    jobs = queue.job_queue()
    for name in SETTINGS.defaults():
        value = getattr(settings, name)
        if value is not None and getattr(jobs, name) != value:
            setattr(jobs, name, value)


def settings_modified(settings, event):
    """Registry subscriber: one of our settings changed, update the site's queue."""
    site = getSite()
    queue = site._getOb(QUEUE_ID, None) if site is not None else None
    if queue is not None:
        sync_job_queue(queue)
