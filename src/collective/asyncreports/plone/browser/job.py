"""``@@asyncreports-job?job=ID``: one job's page, with its actions; and
``@@asyncreports-job-parts?job=ID``, the parts of it that change while the job runs."""

from urllib.parse import urlencode

from Products.Five.browser import BrowserView
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile
from Products.statusmessages.interfaces import IStatusMessage

from collective.asyncreports import actions
from collective.asyncreports.csrf import check_post
from collective.asyncreports.plone.browser import job_detail
from collective.asyncreports.plone.browser import require_signed_in
from collective.asyncreports.plone.browser import site_queue


class JobView(BrowserView):
    """GET shows a job to its owner or a manager (actions.job_for); a POST
    with the authenticator cancels, retries or runs it again (actions.job_action)."""

    index = ViewPageTemplateFile("templates/job.pt")

    def __call__(self):
        require_signed_in()
        if self.request.method == "POST":
            return self.apply_action()
        self.job = self.detail()  # NotFound, Unauthorized or a 400 before any rendering
        return self.index()

    def detail(self):
        """What the page shows of the job (rows.job_detail) and which actions apply."""
        queue = site_queue()
        job = actions.job_for(queue, self.request.form.get("job"), "job")
        who = actions.viewer(queue)
        detail = job_detail(job, self.request, queue.job_queue(), who.manager,
                            queue.served_with())
        detail["may_retry"] = who.manager and job.can_retry
        return detail

    def apply_action(self):
        check_post(self.request)
        form = self.request.form
        message, shown = actions.job_action(site_queue(), form.get("job"), form.get("action"))
        IStatusMessage(self.request).add(message, type="info")
        self.request.response.redirect(
            f"{self.context.absolute_url()}/@@asyncreports-job?{urlencode({'job': shown})}")
        return ""


class JobPartsView(JobView):
    """The parts of a job's page that change while it runs, as HTML for its
    refresh script: state, progress, attempts, result or error, times, the
    buttons and the history (the page's own macros).

    Read-only, with the page's checks (``detail``); no form token. The
    summary says ``data-active="0"`` once the job has ended: the script stops.
    """

    parts = ViewPageTemplateFile("templates/job_parts.pt")

    def __call__(self):
        require_signed_in()
        self.job = self.detail()
        response = self.request.response
        response.setHeader("Content-Type", "text/html; charset=utf-8")
        response.setHeader("Cache-Control", "no-store")
        # Not themed: the script takes the parts alone. plone.protect still
        # sees the response (its check of writes), and adds its script.
        response.setHeader("X-Theme-Disabled", "1")
        return self.parts()
