"""Requests to our endpoints before Zope reads them: HTTP methods and input
that Zope itself would answer with a 500.

Two upstream faults, found by schemathesis, are handled here for the
endpoints of this package only (``ENDPOINTS`` in the path); the rest of the
site keeps Zope's and plone.rest's behaviour:

- An HTTP method that neither Zope nor plone.rest knows (``QUERY``, ``FOO``)
  is not marked as an API request by plone.rest, so ZPublisher treats it as
  WebDAV: a missing name traverses to a ``NullResource`` and
  ``BaseRequest.traverse`` ends with a bare ``AttributeError`` (a 500, on
  any path of any Plone site). Here such a request becomes an API request,
  so plone.rest's traversal finds no service for it and falls back to
  ``methods.MethodNotAllowed`` (405 with ``Allow``).
- ``HTTPRequest.processInputs`` raises on some form input: ``KeyError`` for
  ``multipart/form-data`` without a boundary, ``LookupError`` for an unknown
  charset, ``ValueError`` for a ``:int`` field that is no number (500 or
  503). It runs before traversal, so no service can catch it; here it is
  wrapped for this one request, and the service answers 400 instead
  (``common.Service.render``).

Every API request to our endpoints is also marked IAsyncReportsAPIRequest,
whose error view shows no traceback (``errors.py``).
"""

from plone.rest.events import mark_as_api_request
from plone.rest.interfaces import IAPIRequest
from zope.interface import alsoProvides

from collective.asyncreports.restapi.interfaces import IAsyncReportsAPIRequest


ENDPOINTS = frozenset({"@report-types", "@reports", "@report-schedules", "@report-workers",
                       "@reports-openapi"})
# Methods Zope publishes itself (WebDAV among them) or CORS preflight uses.
ZOPE_METHODS = frozenset({
    "GET", "HEAD", "POST", "PURGE", "PUT", "DELETE", "OPTIONS", "TRACE", "PROPFIND",
    "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK",
})
UNREADABLE_INPUT = "unreadable_input"
UNREADABLE_MESSAGE = ("the query string or body cannot be read as form data "
                      "(send the parameters as documented, a body as application/json)")


def for_our_endpoints(request):
    """True when the request's path goes through one of our services."""
    return not ENDPOINTS.isdisjoint(request.get("PATH_INFO", "").split("/"))


def prepare_api_request(event):
    """IPubStart: see the module's docstring. Runs after plone.rest's own
    subscriber, and does nothing for requests to other paths."""
    request = event.request
    if not for_our_endpoints(request):
        return
    method = request.get("REQUEST_METHOD", "GET").upper()
    if not IAPIRequest.providedBy(request) and method not in ZOPE_METHODS:
        mark_as_api_request(request, "application/json")  # in case it is registered
        if not IAPIRequest.providedBy(request):
            mark_unknown_method(request, method)
    if IAPIRequest.providedBy(request):
        alsoProvides(request, IAsyncReportsAPIRequest)
        guard_input_processing(request)


def mark_unknown_method(request, method):
    """What plone.rest's mark_as_api_request does for a registered method,
    with a service id no service has: traversal then reaches the fallback."""
    alsoProvides(request, IAPIRequest)
    request._rest_service_id = f"{method}_application_json_"
    request._rest_cors_preflight = False
    request.maybe_webdav_client = 0  # no WebDAV traversal (NullResource)


def guard_input_processing(request):
    """Make this request's processInputs remember what it cannot read instead
    of raising it (an instance attribute: other requests are untouched)."""
    process_inputs = request.processInputs

    def processInputs():
        try:
            process_inputs()
        except (KeyError, LookupError, ValueError, UnicodeError):
            request.other[UNREADABLE_INPUT] = UNREADABLE_MESSAGE

    request.processInputs = processInputs


def unreadable_input(request):
    """The message for input processInputs could not read, or None."""
    return request.other.get(UNREADABLE_INPUT)
