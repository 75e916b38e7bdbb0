"""Report types that use the authors' API while they run (tests of api.current_job).

``steps`` calls ``progress()`` at every step; ``spin`` is a busy loop that
never does. Both run until they are cancelled or ``seconds`` are over, and
say in their PDF what ``api.current_job()`` told them.
"""

import time

from zope import schema
from zope.interface import Interface

from collective.asyncreports import api
from collective.asyncreports.rendering import Document
from collective.asyncreports.reports.base import ReportType


class IRunParameters(Interface):
    seconds = schema.Float(title="Seconds to run", default=30.0, min=0.0, max=600.0)
    steps = schema.Int(title="Steps", default=1000, min=1)


class RunningReport(ReportType):
    """Runs ``run(job, parameters)``, then says what ``api.current_job()`` told it."""

    schema = IRunParameters

    def render(self, context, request, parameters):
        job = api.current_job()
        self.run(job, parameters)
        document = Document(self.title)
        document.paragraph(f"job={job.id} attempt={job.attempt} owner={job.owner_id}")
        return document


class Steps(RunningReport):
    """Says how far it got at every step, for ``seconds`` in ``steps`` steps."""

    name = title = "steps"

    def run(self, job, parameters):
        steps = parameters["steps"]
        for step in range(1, steps + 1):
            time.sleep(parameters["seconds"] / steps)
            job.progress(step, steps, f"step {step} of {steps}")


class Spin(RunningReport):
    """A busy loop that never calls progress(); only the worker can stop it."""

    name = title = "spin"

    def run(self, job, parameters):
        deadline = time.monotonic() + parameters["seconds"]
        while time.monotonic() < deadline:
            pass
