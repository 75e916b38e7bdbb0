"""Site Setup > Async reports > Queue: every job, with cancel, retry and purge."""

from urllib.parse import urlencode

from Products.Five.browser import BrowserView
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile
from Products.statusmessages.interfaces import IStatusMessage

from collective.asyncreports import actions
from collective.asyncreports import validation
from collective.asyncreports.csrf import check_post
from collective.asyncreports.plone.browser import job_row
from collective.asyncreports.plone.browser import site_queue
from collective.asyncreports.queue import ALL_STATES
from collective.asyncreports.reports.registry import report_types


PAGE_SIZE = 20


class QueueView(BrowserView):
    """GET lists jobs (filtered, paged); POST runs an action on the chosen jobs."""

    index = ViewPageTemplateFile("templates/queue.pt")

    def __call__(self):
        if self.request.method == "POST":
            return self.apply_action()
        self.filters()  # bad filters are a 400, before any rendering
        return self.index()

    def filters(self):
        """The active filters from the query string, checked ('' for none).

        :raises BadInput: an unknown state or report, or a value that is no
            single short text.
        """
        form = self.request.form
        reports = [name for name, _ in report_types()]
        return {
            "state": validation.state(form.get("state")) or "",
            "owner": validation.text(form.get("owner"), "owner", max_length=200),
            "report": validation.one_of(form.get("report"), "report", reports) or "",
        }

    def listing(self):
        """One page of jobs and what the template needs around it."""
        queue = site_queue()
        jobs, served_with = queue.job_queue(), queue.served_with()
        filters = self.filters()
        state = filters["state"] or None
        start = validation.start(self.request.form.get("b_start"))
        page, total = jobs.list_jobs(
            state=state, owner=filters["owner"] or None,
            report=filters["report"] or None, start=start, size=PAGE_SIZE)
        query = {name: value for name, value in filters.items() if value}
        return {
            # Only those who manage the queue see this view.
            "rows": [job_row(job, self.request, jobs, manager=True,
                             served_with=served_with) for job in page],
            "total": total,
            "first": start + 1 if total else 0,
            "last": min(start + PAGE_SIZE, total),
            "prev_url": self._page_url(query, start - PAGE_SIZE) if start > 0 else None,
            "next_url": (
                self._page_url(query, start + PAGE_SIZE)
                if start + PAGE_SIZE < total else None
            ),
            "stats": jobs.stats(),
            "retention_days": jobs.retention_days,
        }

    def states(self):
        return ALL_STATES

    def reports(self):
        return [{"name": name, "title": report.title} for name, report in report_types()]

    def apply_action(self):
        """Cancel, retry or purge the chosen jobs (POST with authenticator only)."""
        check_post(self.request)
        queue, form = site_queue(), self.request.form
        if "purge" in form:
            message = actions.purge(queue, form.get("job_ids"), form.get("older_than_days", ""))
        elif "retry" in form:
            message = actions.retry(queue, form.get("job_ids"))
        else:
            message = actions.cancel(queue, form.get("job_ids"))
        IStatusMessage(self.request).add(message, type="info")
        self.request.response.redirect(self.context.absolute_url() + "/@@asyncreports-jobs")
        return ""

    def _page_url(self, query, start):
        query = dict(query, b_start=max(start, 0))
        return f"{self.context.absolute_url()}/@@asyncreports-jobs?{urlencode(query)}"
