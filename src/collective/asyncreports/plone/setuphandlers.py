"""Install and uninstall steps that profiles cannot express in XML."""

from plone import api
from plone.base.interfaces import INonInstallable
from zope.interface import implementer

from collective.asyncreports.plone.queue import QUEUE_ID
from collective.asyncreports.plone.queue import PloneReportQueue
from collective.asyncreports.plone.settings import sync_job_queue


@implementer(INonInstallable)
class HiddenProfiles:
    """Keep the uninstall profile out of the Add-ons control panel."""

    def getNonInstallableProfiles(self):
        """Return the profiles that are not offered for installation."""
        return ["collective.asyncreports:uninstall"]


def post_install(setup_tool):
    """Add the site's queue and the results folder (default profile)."""
    site = api.portal.get()
    if QUEUE_ID not in site.objectIds():
        site._setObject(QUEUE_ID, PloneReportQueue(QUEUE_ID, "Async reports"))
    queue = site._getOb(QUEUE_ID)
    queue.result_store().folder()
    sync_job_queue(queue)


def pre_uninstall(setup_tool):
    """Remove the queue; delete its results only when the settings ask for it.

    Runs before the uninstall profile removes the registry records, so it can
    still read them.
    """
    site = api.portal.get()
    if QUEUE_ID not in site.objectIds():
        return
    queue = site._getOb(QUEUE_ID)
    settings = queue.settings_record()
    if settings is not None and settings.remove_results_on_uninstall:
        store = queue.result_store()
        for job in queue.job_queue().list_jobs(size=len(queue.job_queue()))[0]:
            for path in (job.result_path, job.error_path):
                store.delete(path)
    site._delObject(QUEUE_ID)
