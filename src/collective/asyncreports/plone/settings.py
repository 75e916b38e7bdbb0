"""The registry is the source of truth for a site's queue settings.

Workers read the numbers from the JobQueue, so every change of a record is
copied there.
"""

from zope.component.hooks import getSite

from collective.asyncreports.plone.queue import QUEUE_ID
from collective.asyncreports.queue.settings import SETTINGS


def sync_job_queue(queue):
    """Copy the registry's settings onto ``queue``'s JobQueue.

    Only changed values are written: the JobQueue object is shared by every
    enqueue and claim, and an idle write would make them conflict.
    """
    settings = queue.settings_record()
    if settings is None:
        return
    jobs = queue.job_queue()
    current = SETTINGS.of(jobs)
    for setting in SETTINGS.in_plone():
        # A record added by a newer version is missing until its upgrade step ran.
        value = getattr(settings, setting.name, None)
        if value is not None and current[setting.name] != value:
            setattr(jobs, setting.name, value)


def settings_modified(settings, event):
    """Registry subscriber: one of our settings changed, update the site's queue."""
    site = getSite()
    queue = site._getOb(QUEUE_ID, None) if site is not None else None
    if queue is not None:
        sync_job_queue(queue)
