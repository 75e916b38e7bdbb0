"""The expandable element ``reports`` of content: the user's jobs on the item.

``GET {item}?expand=reports`` (or ``GET {item}/@reports``), so Volto shows
them on the item, as the Classic UI's My reports does for all of them.
"""

from plone import api
from plone.restapi.interfaces import IExpandableElement
from zope.component import adapter
from zope.interface import Interface
from zope.interface import implementer

from collective.asyncreports import actions
from collective.asyncreports.plone.interfaces import IAsyncReportsLayer
from collective.asyncreports.restapi.common import installed_queue
from collective.asyncreports.restapi.jobs import at_site
from collective.asyncreports.restapi.jobs import listing


@implementer(IExpandableElement)
@adapter(Interface, IAsyncReportsLayer)
class Reports:
    def __init__(self, context, request):
        self.context, self.request = context, request

    def __call__(self, expand=False):
        url = f"{self.context.absolute_url()}/@reports"
        if not expand:
            return {"reports": {"@id": url}}
        if api.user.is_anonymous():
            return {"reports": {"@id": url, "items_total": 0, "items": []}}
        queue = installed_queue()
        if queue is None:
            return {}
        return {"reports": listing(self.context, self.request, queue, actions.viewer(queue),
                                   at_site(self.context))}
