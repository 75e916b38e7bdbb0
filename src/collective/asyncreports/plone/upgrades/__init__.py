"""Upgrade steps of the default profile, one function per step."""

from plone import api

from collective.asyncreports.plone.queue import QUEUE_ID
from collective.asyncreports.plone.settings import sync_job_queue


PROFILE = "profile-collective.asyncreports:default"


def reload_registry_and_queue(context):
    """1000 -> 1001: load the settings records and copy them onto the queue.

    Sites installed before the control panel existed get its records (with
    defaults) and the queue is made to obey them.
    """
    setup = api.portal.get_tool("portal_setup")
    setup.runImportStepFromProfile(PROFILE, "plone.app.registry", run_dependencies=False)
    queue = api.portal.get()._getOb(QUEUE_ID, None)
    if queue is not None:
        sync_job_queue(queue)
