"""Content-rule triggers "Report finished" and "Report failed".

``events.IJobFinished`` and ``events.IJobFailed`` are registered as rule
event types (``contentrules.zcml``), so a site administrator can make a rule
for them in *Site Setup › Content Rules* (send mail, move, notify...) without
code. The worker fires them in the commit that ends the job; their
``object`` is the result File (or the error log File), so conditions on the
content type or path, and ``${title}`` or ``${url}`` in a mail, are the
File's. The rules assigned to the results folder and the folders above it
(up to the site) run, as the job's owner.
"""

from AccessControl.SpecialUsers import nobody
from Acquisition import aq_inner
from Acquisition import aq_parent
from plone import api
from plone.app.contentrules import handlers
from Products.CMFCore.interfaces import IContentish

from collective.asyncreports.errors import UnknownUser
from collective.asyncreports.users import load_user


def execute_rules(event):
    """Run the rules for a job's result or error log in a Plone site."""
    result = event.object
    if result is None or not IContentish.providedBy(result):
        return  # a ZMI queue's OFS File: no content rules there
    handlers.init()
    nested = handlers._status.rule_filter.in_progress
    try:
        with api.env.adopt_user(user=_owner(result, event.job)):
            handlers.execute(aq_parent(aq_inner(result)), event)
    finally:
        if not nested:
            # A worker has no end of request to forget what ran (as
            # IEndRequestEvent does): a retried commit runs its rules again.
            handlers.close(event)


def _owner(result, job):
    """The job's owner; Anonymous when the owner is gone (their error log is
    for managers only then)."""
    try:
        return load_user(result.getPhysicalRoot(), job.owner_folder, job.owner_id)
    except UnknownUser:
        return nobody
