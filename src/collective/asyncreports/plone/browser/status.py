"""A read-only JSON view of job states, polled by the listings while jobs run."""

import json

from Products.Five.browser import BrowserView

from collective.asyncreports import actions
from collective.asyncreports import validation
from collective.asyncreports.i18n import _
from collective.asyncreports.i18n import say
from collective.asyncreports.plone.browser import job_row
from collective.asyncreports.plone.browser import require_signed_in
from collective.asyncreports.plone.browser import site_queue


MAX_IDS = 100


class JobStatus(BrowserView):
    """``@@asyncreports-status?ids=a,b``: the rows of those jobs as JSON.

    Managers may ask about any job; other users only about their own. It
    never writes, so it is safe as a GET.
    """

    def __call__(self):
        require_signed_in()
        queue = site_queue()
        jobs, served_with = queue.job_queue(), queue.served_with()
        who = actions.viewer(queue)
        ids = validation.token_list(self.request.form.get("ids"), "ids", max_items=MAX_IDS)
        rows = []
        for job_id in ids:
            if job_id not in jobs:
                continue
            job = jobs.get(job_id)
            if who.may_see(job):
                row = job_row(job, self.request, jobs, who.manager, served_with)
                # What the listing shows of state_label (a state's name), in the
                # page's language, as the templates translate it.
                label = row["state_label"]  # a name, not a literal: i18ndude lists none
                row["state_title"] = say(_(label), self.request)
                rows.append(row)
        response = self.request.response
        response.setHeader("Content-Type", "application/json")
        response.setHeader("Cache-Control", "no-store")
        return json.dumps({"jobs": rows, "active": any(row["active"] for row in rows)})
