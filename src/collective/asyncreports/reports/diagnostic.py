"""The "Wait and report" diagnostic: proves a deployment end to end."""

import os
import socket
import time

from AccessControl import getSecurityManager
from zope import schema
from zope.interface import Interface

from collective.asyncreports import permissions
from collective.asyncreports.i18n import _
from collective.asyncreports.i18n import say
from collective.asyncreports.rendering import Document
from collective.asyncreports.reports.base import ReportType


class DiagnosticFailure(Exception):
    """Raised on purpose by "Wait and report" with ``fail`` set."""


class IWaitAndReportParameters(Interface):
    """Parameters of the diagnostic report."""

    seconds = schema.Int(
        title=_("Seconds to wait"),
        description=_("How long the report waits before it reports (0 to 600)."),
        min=0,
        max=600,
        default=5,
    )

    fail = schema.Bool(
        title=_("Fail after waiting"),
        description=_("Raise an error instead of making a PDF, to test error logs."),
        default=False,
    )


class WaitAndReport(ReportType):
    """Waits, then makes a one-page PDF saying who ran it where; or fails."""

    name = "wait-and-report"
    title = _("Wait and report")
    description = _(
        "Diagnostics for managers: waits the given time, then makes a one-page "
        "PDF naming the worker, the user and the target, or fails on purpose."
    )
    schema = IWaitAndReportParameters
    permission = permissions.ManageQueue

    def render(self, context, request, parameters):
        """Wait in short sleeps, so time limits and shutdowns can stop it."""
        seconds = parameters["seconds"]
        started = time.time()
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(remaining, 0.1))
        if parameters["fail"]:
            raise DiagnosticFailure(f"failed on purpose after waiting {seconds}s")
        def t(message):
            return say(message, request)

        document = Document(t(self.title))
        document.table(
            [t(_("What")), t(_("Value"))],
            [
                [t(_("Waited")), f"{seconds} s"],
                [t(_("Started")),
                 time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started))],
                [t(_("Ran as")), getSecurityManager().getUser().getId()],
                [t(_("Target")), context.absolute_url()],
                [t(_("Worker")), f"{socket.gethostname()} pid {os.getpid()}"],
            ],
        )
        return document
