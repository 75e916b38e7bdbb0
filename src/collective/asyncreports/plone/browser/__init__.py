"""Views of the Plone integration: control panel, Generate report, My reports."""

from plone import api
from plone.protect import CheckAuthenticator
from zExceptions import MethodNotAllowed
from zExceptions import NotFound

from collective.asyncreports.plone.queue import QUEUE_ID


def site_queue():
    """Return the site's queue; NotFound when the add-on is not installed here."""
    queue = api.portal.get()._getOb(QUEUE_ID, None)
    if queue is None:
        raise NotFound("collective.asyncreports is not installed in this site")
    return queue


def check_post(request):
    """Refuse anything but a POST carrying the user's plone.protect token.

    :raises MethodNotAllowed: for GET and other methods.
    :raises Forbidden: when the authenticator is missing or wrong.
    """
    if request.method != "POST":
        raise MethodNotAllowed("this action changes data: use POST")
    CheckAuthenticator(request)
