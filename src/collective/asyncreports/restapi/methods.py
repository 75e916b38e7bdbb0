"""405 Method Not Allowed for the methods our endpoints do not serve.

plone.rest's traversal looks for the service ``{METHOD}_{media type}_{name}``
and, when there is none, for a view named ``name``: ``MethodNotAllowed`` is
that view for each of our endpoints (registered for
IAsyncReportsAPIRequest only, so browsers asking for HTML still get 404).
Its ``Allow`` header lists the methods that have a service for the name on
this context, read from the component registry, so it cannot disagree with
configure.zcml.
"""

from plone.rest.negotiation import lookup_service_id
from Products.Five.browser import BrowserView
from zExceptions import MethodNotAllowed as MethodNotAllowedError
from zExceptions import NotFound
from zope.component import queryMultiAdapter
from zope.interface import implementer
from zope.publisher.interfaces import IPublishTraverse


SERVICE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(context, request, name):
    """The methods with a JSON service named ``name`` on ``context``."""
    allowed = []
    for method in SERVICE_METHODS:
        service_id = lookup_service_id(method, "application/json")
        if service_id and queryMultiAdapter((context, request), name=service_id + name):
            allowed.append(method)
    return allowed


@implementer(IPublishTraverse)
class MethodNotAllowed(BrowserView):
    """Answers 405 with ``Allow`` for the endpoint itself; 404 below it (a job
    of that id may not exist, and that is what the client needs to know)."""

    below = False

    def publishTraverse(self, request, name):
        self.below = True
        return self

    def __call__(self):
        allowed = allowed_methods(self.context, self.request, self.__name__)
        if self.below or not allowed:  # not installed here, or a sub-path
            raise NotFound(self.request.getURL())
        method = self.request.get("REQUEST_METHOD", "GET").upper()
        error = MethodNotAllowedError(
            f"{method} is not allowed on {self.__name__}: use {', '.join(allowed)}")
        error.setHeader("Allow", ", ".join(allowed))
        raise error
