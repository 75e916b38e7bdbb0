"""Report types for fault-injection tests: trivial, poison, broken, who-am-I."""

import os
import time

from AccessControl import getSecurityManager
from zope.component.hooks import getSite
from zope.globalrequest import getRequest

from collective.asyncreports.rendering import Document
from collective.asyncreports.reports.base import ReportType


TINY_PDF = Document("ok").to_pdf()


class Noop(ReportType):
    """Returns a tiny ready-made PDF: measures the queue, not ReportLab."""

    name = title = "noop"

    def render(self, context, request, parameters):
        return TINY_PDF


class Poison(ReportType):
    """Kills the worker process every time it runs."""

    name = title = "poison"

    def render(self, context, request, parameters):
        os._exit(9)


class Broken(ReportType):
    """Report code that raises."""

    name = "broken"
    title = "Broken report"

    def render(self, context, request, parameters):
        raise RuntimeError("the report code broke on purpose")


class Blocking(ReportType):
    """Blocks in C code (one long sleep) that no exception can interrupt."""

    name = title = "blocking"

    def render(self, context, request, parameters):
        time.sleep(60)
        return TINY_PDF


class WhoAmI(ReportType):
    """Says who it runs as, and what site and request it sees."""

    name = "whoami"
    title = "Who am I"

    def render(self, context, request, parameters):
        document = Document(self.title)
        document.paragraph(f"user={getSecurityManager().getUser().getId()}")
        document.paragraph(f"site={getSite()!r}")
        document.paragraph(f"same-request={getRequest() is request}")
        document.paragraph(f"url={context.absolute_url()}")
        return document


class OneAtATime(ReportType):
    """A heavy report that runs at most once at a time across all workers."""

    name = title = "one-at-a-time"
    max_concurrent = 1

    def render(self, context, request, parameters):
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # short sleeps: stoppable
            time.sleep(0.05)
        return TINY_PDF
