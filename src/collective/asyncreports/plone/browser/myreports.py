"""``@@my-reports``: the current user's jobs, their progress and downloads."""

from urllib.parse import urlencode

from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile
from Products.statusmessages.interfaces import IStatusMessage

from collective.asyncreports import actions
from collective.asyncreports import validation
from collective.asyncreports.csrf import check_post
from collective.asyncreports.plone.browser import OwnListView
from collective.asyncreports.plone.browser import job_row
from collective.asyncreports.plone.browser import site_queue
from collective.asyncreports.queue import ALL_STATES
from collective.asyncreports.reports.registry import report_types


PAGE_SIZE = 20


class MyReportsView(OwnListView):
    """Lists the jobs the current user queued, newest first, filtered by
    state and report. A POST (with the authenticator) deletes finished jobs
    of the user's own, or runs one again (actions.py)."""

    index = ViewPageTemplateFile("templates/myreports.pt")

    def query(self):
        """``b_start``, the ``job`` to highlight and the filters, checked.

        :raises BadInput: an unknown state or report, a bad offset or job id.
        """
        form = self.request.form
        return {
            "b_start": validation.start(form.get("b_start")),
            "job": validation.job_id(form.get("job"), "job"),
            "state": validation.state(form.get("state")) or "",
            "report": validation.one_of(form.get("report"), "report",
                                        [name for name, _ in report_types()]) or "",
        }

    def states(self):
        return ALL_STATES

    def reports(self):
        return [{"name": name, "title": report.title} for name, report in report_types()]

    def listing(self):
        queue = site_queue()
        jobs, served_with = queue.job_queue(), queue.served_with()
        who = actions.viewer(queue)
        query = self.query()
        start = query["b_start"]
        page, total = jobs.list_jobs(owner=who.user_id, state=query["state"] or None,
                                     report=query["report"] or None, start=start,
                                     size=PAGE_SIZE)
        filters = {name: query[name] for name in ("state", "report") if query[name]}
        return {
            "rows": [job_row(job, self.request, jobs, who.manager, served_with) for job in page],
            "total": total,
            "filters": query,
            "filtered": bool(filters),
            "prev_url": self._page_url(filters, start - PAGE_SIZE) if start else None,
            "next_url": (
                self._page_url(filters, start + PAGE_SIZE)
                if start + PAGE_SIZE < total else None
            ),
            "highlight": query["job"],
        }

    def apply_action(self):
        """Delete the chosen finished jobs, or run one again (``run_again=<id>``)."""
        check_post(self.request)
        queue, form = site_queue(), self.request.form
        shown = None
        if form.get("run_again"):
            message, shown = actions.job_action(queue, form.get("run_again"), "run_again")
        else:
            message = actions.delete_own(queue, form.get("job_ids"))
        IStatusMessage(self.request).add(message, type="info")
        query = "?" + urlencode({"job": shown}) if shown else ""
        self.request.response.redirect(f"{self.context.absolute_url()}/@@my-reports{query}")
        return ""

    def _page_url(self, filters, start):
        query = dict(filters, b_start=max(start, 0))
        return f"{self.context.absolute_url()}/@@my-reports?{urlencode(query)}"
