"""Bench-only report types of issue 18's scenarios (bench/scenarios_round2.py).

``bench-small-pdf`` renders a real 1-2 page ReportLab document, the same one
scenario 10's plain loop renders (``small_document``); ``bench-big-pdf``
returns the bytes of a file the bench wrote, so scenario 13 measures storing
a big result and nothing else; ``bench-numbered`` is ``bench-trivial`` with
a number, so that many submissions of it are many jobs (the same job twice
is one), for scenario 11.
"""

from pathlib import Path

from zope import schema
from zope.interface import Interface

from collective.asyncreports.reports.base import ReportType


def _tiny_pdf():
    from asyncbench import TINY_PDF

    return TINY_PDF


SMALL_ROWS = 45  # a table of 45 rows and a paragraph: two A4 pages


def small_document(rows=SMALL_ROWS, title="Bench: small report"):
    """A Document of two pages: a paragraph and a table of ``rows`` rows."""
    from collective.asyncreports.rendering import Document

    document = Document(title, subject="bench scenario 10")
    document.paragraph(f"A real small report: {rows} rows of five columns, "
                       "rendered with ReportLab like any report of the product.")
    document.table(
        ("Path", "Type", "Title", "Modified", "Size"),
        [(f"folder/item-{number:05d}.txt", "File", f"Item number {number} of the report",
          "2026-11-27T05:40:12+00:00", number * 37 % 100000) for number in range(rows)])
    return document


class ISmallParameters(Interface):
    rows = schema.Int(title="Rows", default=SMALL_ROWS, min=1, max=1000)


class SmallPdfReport(ReportType):
    """Two pages of ReportLab: a paragraph and a table (scenario 10)."""

    name = "bench-small-pdf"
    title = "Bench: small real report"
    schema = ISmallParameters
    formats = ("pdf",)

    def render(self, context, request, parameters):
        return small_document(parameters["rows"])


class IBigParameters(Interface):
    source = schema.TextLine(title="File with the PDF bytes", max_length=4096)


class BigPdfReport(ReportType):
    """The bytes of a file the bench wrote (one read, no other copy): scenario 13."""

    name = "bench-big-pdf"
    title = "Bench: big ready-made PDF"
    schema = IBigParameters
    formats = ("pdf",)

    def render(self, context, request, parameters):
        return Path(parameters["source"]).read_bytes()


class INumberedParameters(Interface):
    n = schema.Int(title="Number", default=0, min=0)


class NumberedReport(ReportType):
    """``bench-trivial`` with a parameter: each number is a job of its own (scenario 11)."""

    name = "bench-numbered"
    title = "Bench: trivial, numbered"
    schema = INumberedParameters
    formats = ("pdf",)

    def render(self, context, request, parameters):
        return _tiny_pdf()
