"""The report type of the chaos soak (tests/chaos.py): one type, four kinds of job.

``kind`` picks what a job does: ``instant`` (a one-page PDF at once),
``slow`` (sleeps ``ms`` milliseconds first), ``raise`` (report code that
raises: the job fails with an error log) and ``pdf`` (a table of ``rows``
random rows, 50 KB and more, through the product's own renderer). Every PDF
names the job's ``key``, so the soak can tell a result belongs to its job.
"""

import io
import random
import secrets
import time

from reportlab.pdfgen import canvas
from zope import schema
from zope.interface import Interface

from collective.asyncreports.rendering import Document
from collective.asyncreports.reports.base import ReportType


KINDS = ("instant", "slow", "raise", "pdf")


class ChaosFailure(Exception):
    """Raised on purpose by ``raise`` jobs."""


class IChaosParameters(Interface):
    key = schema.TextLine(title="The submitter's key of this job", required=True)
    kind = schema.Choice(title="What the job does", values=KINDS, default="instant")
    ms = schema.Int(title="Milliseconds a slow job sleeps", min=0, max=10_000, default=0)
    rows = schema.Int(title="Rows of a pdf job's table", min=0, max=5_000, default=0)


def one_page(text):
    """A one-page PDF in a millisecond: ReportLab's canvas, a standard font."""
    output = io.BytesIO()
    page = canvas.Canvas(output)
    page.drawString(72, 720, text)
    page.save()
    return output.getvalue()


class Chaos(ReportType):
    name = "chaos"
    title = "Chaos soak job"
    schema = IChaosParameters

    def render(self, context, request, parameters):
        key, kind = parameters["key"], parameters["kind"]
        if kind == "raise":
            raise ChaosFailure(f"chaos job {key} fails on purpose")
        if kind == "slow":
            # Short sleeps, so a shutdown or time limit can interrupt the job.
            deadline = time.monotonic() + parameters["ms"] / 1000
            while (left := deadline - time.monotonic()) > 0:
                time.sleep(min(left, 0.05))
        if kind == "pdf":
            document = Document(f"chaos job {key}")
            document.paragraph(f"chaos job {key}")
            document.table(
                ["row", "token", "value"],
                [[n, secrets.token_hex(16), random.random()] for n in range(parameters["rows"])])
            return document.to_pdf()
        return one_page(f"chaos job {key}")
