"""The add-on's report type: orders per region, with progress, a chart and totals."""

import datetime
import time

from zope import schema
from zope.interface import Interface

from collective.asyncreports import api
from collective.asyncreports.rendering import Document
from collective.asyncreports.rendering import Link
from collective.asyncreports.reports.base import ReportType


REGIONS = ("North", "South", "East", "West", "Zürich", "東京", "Москва", "القاهرة")


class IOrdersParameters(Interface):
    regions = schema.Int(title="Regions", default=4, min=1, max=len(REGIONS))
    seconds = schema.Float(title="Seconds to take", default=0.0, min=0.0, max=120.0)


def orders(number):
    """The made-up figures of region ``number`` (1-based): orders, revenue, last order."""
    return 10 * number, 1250.5 * number, datetime.date(2026, 1, number)


def fetch_orders(seconds):
    """Stand in for the slow part: many short calls (a cancel lands between two)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)


class OrdersByRegion(ReportType):
    title = "Orders by region"
    description = "Orders and revenue per region, as a table and a chart."
    schema = IOrdersParameters
    # formats: ReportType's default, ("pdf", "csv", "xlsx").

    def render(self, context, request, parameters):
        job = api.current_job()
        count = parameters["regions"]
        rows = []
        for number in range(1, count + 1):
            # Raises api.JobCancelled once somebody cancelled the job: let it go.
            job.progress(number - 1, count, f"region {number} of {count}")
            fetch_orders(parameters["seconds"] / count)
            region = REGIONS[number - 1]
            rows.append((Link(region, f"https://example.com/regions/{number}"),
                         *orders(number)))
        job.progress(count, count, "drawing")

        document = Document(self.title, subtitle=context.absolute_url(),
                            subject="Orders per region")
        document.heading("Orders")
        document.paragraph("The figures behind every region's page.",
                           url="https://example.com/regions")
        document.table(["Region", "Orders", "Revenue", "Last order"], rows, totals=True)
        document.heading("Charts", level=2)
        labels = [row[0].text for row in rows]
        document.chart("Orders per region", labels, [row[1] for row in rows])
        document.chart("Revenue per region", labels, [row[2] for row in rows], kind="pie")
        return document
