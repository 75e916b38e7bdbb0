"""Views of the Plone integration: control panel, Generate report, My reports."""

from urllib.parse import urlencode

from AccessControl import Unauthorized
from DateTime import DateTime
from plone import api
from Products.Five.browser import BrowserView
from zExceptions import NotFound
from zope.schema import getFieldsInOrder
from zope.schema.interfaces import IBool
from zope.schema.interfaces import IChoice
from zope.schema.interfaces import ICollection

from collective.asyncreports import rows
from collective.asyncreports import validation
from collective.asyncreports.plone.queue import QUEUE_ID
from collective.asyncreports.reports.registry import MAX_TEXT_LENGTH


def site_queue():
    """Return the site's queue; NotFound when the add-on is not installed here."""
    queue = api.portal.get()._getOb(QUEUE_ID, None)
    if queue is None:
        raise NotFound("collective.asyncreports is not installed in this site")
    return queue


def job_row(job, request, jobs, manager=False, served_with=((), ())):
    """What a Plone listing shows of ``job`` (rows.job_row), with this site's links."""
    return rows.job_row(job, request, jobs, manager, served_with,
                        full_error_url=_error_log_url, local_time=local_time)


def job_detail(job, request, jobs, manager=False, served_with=((), ())):
    """What the Plone job page shows of ``job`` (rows.job_detail)."""
    return rows.job_detail(job, request, jobs, manager, served_with,
                           full_error_url=_error_log_url, local_time=local_time)


def local_time(timestamp):
    """Plone's one format of a time (rows.moment): in the site's time zone
    (``plone.portal_timezone``), in the user's language's long format."""
    moment = DateTime(timestamp)
    zone = api.portal.get_registry_record("plone.portal_timezone", default=None)
    if zone:
        try:
            moment = moment.toZone(zone)
        except (KeyError, ValueError):  # a zone this DateTime does not know
            pass
    return f"{api.portal.get_localized_time(moment, long_format=True)} {moment.timezone()}"


def _error_log_url(job):
    return (f"{api.portal.get().absolute_url()}/@@asyncreports-error-log?"
            + urlencode({"job": job.id}))


def require_signed_in():
    """Unauthorized for anonymous users (Plone then asks them to log in).

    A user's own pages (My reports, their jobs' status) are for whoever is
    signed in: the right to queue may be a local role on some folder only.
    """
    if api.user.is_anonymous():
        raise Unauthorized("sign in to see your reports")


class OwnListView(BrowserView):
    """A list for a signed-in user (My reports, the schedules pages): a POST applies one of
    its actions (``apply_action``, which checks the authenticator), a GET checks its
    query (``query``: bad values are a 400, before any rendering), then renders."""

    def __call__(self):
        require_signed_in()
        if self.request.method == "POST":
            return self.apply_action()
        self.query()
        return self.index()


def check_text_widgets(request, schema, prefix="form.widgets."):
    """Refuse lists, records and oversized text for a z3c.form's text inputs.

    z3c.form's converters expect one string from a text input and raise a
    TypeError (a 500) on ``name:list`` or ``name.x:record``. Checkboxes,
    selects and collections send lists on purpose and are left alone.

    :raises BadInput: naming the field.
    """
    for name, field in getFieldsInOrder(schema):
        if IBool.providedBy(field) or IChoice.providedBy(field) or ICollection.providedBy(field):
            continue
        validation.text(request.form.get(prefix + name), str(field.title or name),
                        max_length=MAX_TEXT_LENGTH, strip=False)
