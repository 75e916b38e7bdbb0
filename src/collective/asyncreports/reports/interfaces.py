"""The contract every report type fulfils."""

from zope.interface import Attribute
from zope.interface import Interface


class IReportType(Interface):
    """A kind of report that can be queued, registered as a named utility.

    The utility name is the report's name in jobs, URLs and on the command
    line. Instances are shared by all threads and workers: keep no state on
    them between calls.

    Optional: ``unavailable_reason(context)`` says why ``available`` is false
    there (ReportType returns None), for the message that refuses a submission;
    ``reuse_minutes`` and ``max_concurrent`` (see below; 0 when missing).
    """

    title = Attribute("Short human title, e.g. 'Object inventory'.")

    description = Attribute("One or two sentences saying what the report shows.")

    schema = Attribute(
        "An interface whose zope.schema fields are the report's parameters; "
        "its invariants are checked too. zope.interface.Interface for none."
    )

    permission = Attribute(
        "Name of the Zope permission a user needs on the target to queue the report."
    )

    formats = Attribute(
        "The result formats a submitter may choose, names from "
        "collective.asyncreports.rendering.exports.FORMATS ('pdf', 'csv', "
        "'xlsx'), the default first. ReportType offers all three, for a render "
        "that returns a Document; a render that returns PDF bytes offers "
        "('pdf',). Without it: PDF only."
    )

    reuse_minutes = Attribute(
        "Optional, whole minutes (ReportType: 0). A submission identical to a "
        "done job of the same owner (report, target, parameters, format) whose "
        "result is younger than this returns that job instead of a new run."
    )

    max_concurrent = Attribute(
        "Optional (ReportType: 0, no limit). At most this many jobs of the "
        "report run at once across all workers; the others wait, claimed later."
    )

    def available(context):
        """Tell whether the report can run on ``context``.

        :param context: The target object.
        :returns: True when the report makes sense for ``context``.
        """

    def render(context, request, parameters):
        """Build the report; runs in a worker as the user who queued it.

        :param context: The target object, traversed with that user's rights.
        :param request: A synthetic request.
        :param parameters: Dict of validated, typed parameter values.
        :returns: A collective.asyncreports.rendering.Document, or the bytes
            of a PDF the report made itself.
        """

    def filename(context, parameters):
        """Return the file name of the result, ending in ``.pdf``.

        For a CSV or XLSX result the worker replaces ``.pdf`` by that
        format's extension (``reports.formats.result_filename``).

        :param context: The target object.
        :param parameters: Dict of validated, typed parameter values.
        """
