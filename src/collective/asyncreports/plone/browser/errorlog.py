"""``@@asyncreports-error-log?job=ID``: a job's full error log, for managers."""

from Products.Five.browser import BrowserView

from collective.asyncreports import validation
from collective.asyncreports.plone.browser import site_queue


class FullErrorLog(BrowserView):
    """The error log with server paths, which its owner sees trimmed. Read-only."""

    def __call__(self):
        text = site_queue().full_error_log(validation.job_id(self.request.form.get("job"), "job"))
        response = self.request.response
        response.setHeader("Content-Type", "text/plain; charset=utf-8")
        response.setHeader("Cache-Control", "no-store")
        return text
