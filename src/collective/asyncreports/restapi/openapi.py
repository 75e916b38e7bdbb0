"""``GET {site}/@reports-openapi``: the OpenAPI 3.1 document of this REST API.

The document is ``openapi.json`` next to this module; its ``servers`` are
set to the site it is served from.
"""

import json
from pathlib import Path

from plone.restapi.services import Service


DOCUMENT = Path(__file__).with_name("openapi.json")


def openapi_document(site_url):
    """The document, with ``site_url`` as its one server."""
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    document["servers"] = [{"url": site_url, "description": "this Plone site"}]
    return document


class OpenAPIGet(Service):
    def reply(self):
        return openapi_document(self.context.absolute_url())
