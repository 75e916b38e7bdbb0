"""A report whose progress bar moves, for the real-browser tests (tests/browser/).

It is apireports' ``steps`` (``progress()`` at every step, "step N of
STEPS"), offered only on the targets those tests run it on: the docs'
screenshots of other folders show the built-in reports alone.
"""

from apireports import Steps  # its neighbour in tests/addons, on the same PYTHONPATH


PLACES = ("docs", "news")  # the ZMI's /docs, Plone's /Plone/demo/news


class ProgressSteps(Steps):
    name = "progress-steps"
    title = "Progress in steps"
    description = "Waits, telling how far it got at every step."

    def available(self, context):
        return context.getId() in PLACES

    def unavailable_reason(self, context):
        return f"only on {', '.join(PLACES)}"
