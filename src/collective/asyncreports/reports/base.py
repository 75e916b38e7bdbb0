"""ReportType: a base class with defaults, so a new report is a few lines."""

import datetime
import re

from zope.interface import Interface
from zope.interface import implementer

from collective.asyncreports import permissions
from collective.asyncreports.rendering.exports import DOCUMENT_FORMATS
from collective.asyncreports.reports.interfaces import IReportType


@implementer(IReportType)
class ReportType:
    """Base class of report types.

    Subclasses set ``title`` and ``description``, usually ``schema``, and
    implement :meth:`render`::

        class Greeting(ReportType):
            title = "Greeting"
            description = "Says hello to the target."

            def render(self, context, request, parameters):
                document = Document(self.title)
                document.paragraph(f"Hello {context.getId()}")
                return document

    and register an instance as a named IReportType utility.
    """

    title = ""
    description = ""
    schema = Interface
    permission = permissions.QueueReport
    # The formats a submitter may choose, the default first (reports/formats.py);
    # a render that returns PDF bytes of its own sets ("pdf",).
    formats = DOCUMENT_FORMATS
    # Used in file names; the registration name is not known to the utility.
    name = None
    # Limits (docs/user/limits.rst): a submission like a done
    # job of the same owner whose result is younger than this many minutes
    # gets that job (0: always a new run); at most this many jobs of the
    # report run at once across all workers (0: no limit).
    reuse_minutes = 0
    max_concurrent = 0

    def available(self, context):
        """Return True: by default a report can run on any target."""
        return True

    def unavailable_reason(self, context):
        """Say why :meth:`available` is false for ``context``; None says nothing.

        Shown after "report ... is not available for ..." when a submission
        is refused (``submission.authorize``).
        """
        return None

    def render(self, context, request, parameters):
        """Build the report; subclasses must implement this.

        :raises NotImplementedError: always, here.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement render")

    def filename(self, context, parameters):
        """Return ``<name>-<YYYYmmdd-HHMMSS>.pdf``, the time in UTC.

        ``<name>`` is ``self.name``, else the title made file-name safe,
        else ``report``.
        """
        stem = re.sub(r"[^a-z0-9]+", "-", (self.name or self.title).lower())
        stem = stem.strip("-") or "report"
        now = datetime.datetime.now(datetime.UTC)
        return f"{stem}-{now:%Y%m%d-%H%M%S}.pdf"
