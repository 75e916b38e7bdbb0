"""Site Setup > Async reports > Workers: who is alive and what each is doing."""

from Products.Five.browser import BrowserView
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile

from collective.asyncreports.plone.browser import local_time
from collective.asyncreports.plone.browser import site_queue
from collective.asyncreports.rows import worker_rows


class WorkersView(BrowserView):
    """Workers that served this site's queue, newest heartbeat first."""

    index = ViewPageTemplateFile("templates/workers.pt")

    def __call__(self):
        return self.index()

    def rows(self):
        return worker_rows(site_queue().job_queue(), local_time=local_time)
