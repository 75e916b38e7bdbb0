"""``@@my-reports``: the current user's jobs, their progress and downloads."""

from urllib.parse import urlencode

from Products.Five.browser import BrowserView
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile

from collective.asyncreports import actions
from collective.asyncreports import validation
from collective.asyncreports.plone.browser import job_row
from collective.asyncreports.plone.browser import require_signed_in
from collective.asyncreports.plone.browser import site_queue


PAGE_SIZE = 20


class MyReportsView(BrowserView):
    """Lists the jobs the current user queued, newest first. Read-only."""

    index = ViewPageTemplateFile("templates/myreports.pt")

    def __call__(self):
        require_signed_in()
        self.query()  # bad values are a 400, before any rendering
        return self.index()

    def query(self):
        """``b_start`` and the ``job`` to highlight, checked."""
        form = self.request.form
        return validation.start(form.get("b_start")), validation.job_id(form.get("job"), "job")

    def listing(self):
        queue = site_queue()
        jobs, served_with = queue.job_queue(), queue.served_with()
        who = actions.viewer(queue)
        start, highlight = self.query()
        page, total = jobs.list_jobs(owner=who.user_id, start=start, size=PAGE_SIZE)
        base = f"{self.context.absolute_url()}/@@my-reports?"
        return {
            "rows": [job_row(job, self.request, jobs, who.manager, served_with) for job in page],
            "total": total,
            "prev_url": base + urlencode({"b_start": start - PAGE_SIZE}) if start else None,
            "next_url": (
                base + urlencode({"b_start": start + PAGE_SIZE})
                if start + PAGE_SIZE < total else None
            ),
            "highlight": highlight,
        }
