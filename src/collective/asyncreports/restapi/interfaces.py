"""The marker of API requests to this package's endpoints."""

from plone.rest.interfaces import IAPIRequest


class IAsyncReportsAPIRequest(IAPIRequest):
    """A plone.rest API request whose path goes through one of our services
    (set by ``publication.prepare_api_request``)."""
