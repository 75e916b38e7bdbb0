"""``GET {context}/@report-types``: the report types the user may queue here.

Each with its formats and its parameters as JSON Schema, made by
plone.restapi's own serialization of zope.schema fields (as for content
types and control panels), so Volto draws the form as it draws any other.
"""

from plone.restapi.interfaces import IJsonCompatible
from plone.restapi.types import utils

from collective.asyncreports.plone.browser import site_queue
from collective.asyncreports.reports.formats import format_choices
from collective.asyncreports.reports.registry import queueable_report_types
from collective.asyncreports.restapi.common import Service


def parameter_schema(report, context, request):
    """The JSON Schema of ``report``'s parameters, bound to ``context``."""
    fieldsets = utils.get_fieldsets(context, request, report.schema)
    properties = utils.get_jsonschema_properties(context, request, fieldsets)
    return {
        "type": "object",
        "properties": IJsonCompatible(properties),
        "required": [field.field.getName() for field in utils.iter_fields(fieldsets)
                     if field.field.required],
        "fieldsets": utils.get_fieldset_infos(fieldsets),
    }


class ReportTypesGet(Service):
    """The report types of ``queueable_report_types``, the Generate report form's list."""

    def reply(self):
        url = f"{self.context.absolute_url()}/@report-types"
        return {
            "@id": url,
            "items": [
                {
                    "name": name,
                    "title": str(report.title),
                    "description": str(report.description or ""),
                    "formats": [{"name": fmt, "title": str(title)}
                                for fmt, title in format_choices(report)],
                    "schema": parameter_schema(report, self.context, self.request),
                    "queue": {"@id": f"{self.context.absolute_url()}/@reports"},
                }
                for name, report in queueable_report_types(site_queue(), self.context)
            ],
        }
