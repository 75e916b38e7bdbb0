"""The "Wait and report" diagnostic: proves a deployment end to end."""

import os
import socket
import time

from AccessControl import getSecurityManager
from zope import schema
from zope.interface import Interface

from collective.asyncreports import permissions
from collective.asyncreports.rendering import Document
from collective.asyncreports.reports.base import ReportType


class DiagnosticFailure(Exception):
    """Raised on purpose by "Wait and report" with ``fail`` set."""


class IWaitAndReportParameters(Interface):
    """Parameters of the diagnostic report."""

    seconds = schema.Int(
        title="Seconds to wait",
        description="How long the report waits before it reports (0 to 600).",
        min=0,
        max=600,
        default=5,
    )

    fail = schema.Bool(
        title="Fail after waiting",
        description="Raise an error instead of making a PDF, to test error logs.",
        default=False,
    )


class WaitAndReport(ReportType):
    """Waits, then makes a one-page PDF saying who ran it where; or fails."""

    name = "wait-and-report"
    title = "Wait and report"
    description = (
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
        document = Document(self.title)
        document.table(
            ["What", "Value"],
            [
                ["Waited", f"{seconds} s"],
                ["Started", time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started))],
                ["Ran as", getSecurityManager().getUser().getId()],
                ["Target", context.absolute_url()],
                ["Worker", f"{socket.gethostname()} pid {os.getpid()}"],
            ],
        )
        return document
