"""``GET {site}/@reports-openapi``: the OpenAPI 3.1 document of this REST API.

The document is ``openapi.json`` next to this module. As served, its
``servers`` are the site it is served from, and the report names it
accepts (queueing, scheduling, the listing's filter) are the registered ones, as
``POST @reports`` and ``GET @reports`` check them.
"""

import json
from pathlib import Path

from collective.asyncreports.reports.registry import report_types
from collective.asyncreports.restapi.common import Service


DOCUMENT = Path(__file__).with_name("openapi.json")


def openapi_document(site_url):
    """The document, with ``site_url`` as its one server and the report names."""
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    document["servers"] = [{"url": site_url, "description": "this Plone site"}]
    names = [name for name, _ in report_types()]
    schemas = document["components"]["schemas"]
    for schema in ("NewJob", "NewSchedule", "ScheduleChange"):
        schemas[schema]["properties"]["report"]["enum"] = names
    for parameter in document["paths"]["/@reports"]["get"]["parameters"]:
        if parameter["name"] == "report":
            parameter["schema"]["enum"] = names
    return document


class OpenAPIGet(Service):
    def reply(self):
        return openapi_document(self.context.absolute_url())
