"""Bench-only add-on: a trivial report type and a request view for ``make bench``.

Loaded by the bench's own Zope configuration only (``bench/`` on PYTHONPATH and
``<include package="asyncbench" />`` in the bench's site.zcml).
"""

import io
import time
import uuid

from reportlab.pdfgen.canvas import Canvas
from zope import schema
from zope.interface import Interface

from collective.asyncreports import api
from collective.asyncreports.reports.base import ReportType
from collective.asyncreports.submission import submit


MARKER_KEY = "asyncbench.marker"


def _tiny_pdf():
    output = io.BytesIO()
    canvas = Canvas(output)
    canvas.drawString(72, 720, "trivial bench report")
    canvas.showPage()
    canvas.save()
    return output.getvalue()


TINY_PDF = _tiny_pdf()


class TrivialReport(ReportType):
    """Returns a tiny, ready-made PDF: the job costs only the queue's own work."""

    name = "bench-trivial"
    title = "Bench: trivial"
    description = "A one-line PDF made once at import; for measuring the queue."

    def render(self, context, request, parameters):
        return TINY_PDF


class ICancellableParameters(Interface):
    progress = schema.Bool(title="Call progress() at every turn", default=False)


class CancellableReport(ReportType):
    """Runs until cancelled (at most a minute), in a pure-Python loop that calls
    ``api.current_job().progress()`` at every turn, or never (``progress``)."""

    name = "bench-cancellable"
    title = "Bench: runs until cancelled"
    schema = ICancellableParameters

    def render(self, context, request, parameters):
        job = api.current_job()
        turns = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            turns += 1
            if parameters["progress"]:
                job.progress(turns % 100)
        return TINY_PDF


class BenchRequest:
    """``@@bench-request`` on a queue: the same small write, with or without an enqueue.

    POST ``enqueue=1`` also queues a trivial job through ``submission.submit``
    (the path every form takes), with a fresh dedup key as the ZMI form sends.
    The time spent in ``submit`` is returned in the ``X-Bench-Submit-Ms`` header.
    """

    def __init__(self, context, request):
        self.context = context
        self.request = request

    def __call__(self):
        root = self.context._p_jar.root()
        marker = root[MARKER_KEY]
        marker["hits"] = marker.get("hits", 0) + 1
        spent = 0.0
        job_id = ""
        if self.request.form.get("enqueue") == "1":
            started = time.perf_counter()
            job = submit(self.context, "bench-trivial", self.request.form.get("path", "/docs"),
                         {}, dedup_key=uuid.uuid4().hex)
            spent = time.perf_counter() - started
            job_id = job.id
        self.request.response.setHeader("X-Bench-Submit-Ms", f"{spent * 1000:.4f}")
        self.request.response.setHeader("Content-Type", "text/plain")
        return f"ok {job_id}"
