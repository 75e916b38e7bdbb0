"""The "Async Report Queue" ZMI object: the queue (container.py) with its tabs."""

import time
import uuid
from urllib.parse import urlencode

from AccessControl import ClassSecurityInfo
from AccessControl.class_init import InitializeClass
from OFS.Folder import Folder
from Products.PageTemplates.PageTemplateFile import PageTemplateFile
from ZPublisher import zpublish

from collective.asyncreports import actions
from collective.asyncreports import public_url
from collective.asyncreports import rows
from collective.asyncreports import validation
from collective.asyncreports.container import QueueContainer
from collective.asyncreports.csrf import add_form_token
from collective.asyncreports.csrf import check_add_form
from collective.asyncreports.csrf import check_post
from collective.asyncreports.csrf import csrf_token
from collective.asyncreports.errors import InvalidJobRequest
from collective.asyncreports.errors import InvalidParameters
from collective.asyncreports.metrics import exposition_text
from collective.asyncreports.metrics import wants_openmetrics
from collective.asyncreports.permissions import ManageQueue
from collective.asyncreports.permissions import QueueReport
from collective.asyncreports.permissions import ViewMetrics
from collective.asyncreports.queue import ALL_STATES
from collective.asyncreports.queue.settings import SETTINGS
from collective.asyncreports.reports.registry import queueable_report_types
from collective.asyncreports.reports.registry import report_types
from collective.asyncreports.submission import submit_noted
from collective.asyncreports.targets import MAX_PATH_LENGTH
from collective.asyncreports.targets import site_of
from collective.asyncreports.zmi import forms
from collective.asyncreports.zmi.schedules import SchedulesTab


PAGE_SIZE = 20


def _template(name):
    return PageTemplateFile(f"www/{name}.zpt", globals(), __name__=name)


def local_time(timestamp):
    """The ZMI's one format of a time: the server's local time zone (rows.moment)."""
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(timestamp))


class AsyncReportQueue(SchedulesTab, QueueContainer):
    """A queue of report jobs with its ZMI tabs: Queue, Submit, Schedules, Workers, Settings."""

    meta_type = "Async Report Queue"
    zmi_icon = "fas fa-file-pdf"

    security = ClassSecurityInfo()

    manage_options = (
        {"label": "Queue", "action": "manage_queue"},
        {"label": "Submit", "action": "manage_submitForm"},
        {"label": "Schedules", "action": "manage_schedules"},
        {"label": "Workers", "action": "manage_workers"},
        {"label": "Settings", "action": "manage_settingsForm"},
    ) + tuple(
        option
        for option in Folder.manage_options
        if option["label"] in ("Contents", "Security", "Ownership", "Undo")
    )

    # -- what the tabs show --------------------------------------------------

    @zpublish(False)
    @security.protected(QueueReport)
    def can_manage(self):
        """True when the current user may manage every job of this queue."""
        return actions.viewer(self).manager

    @zpublish(False)
    @security.protected(QueueReport)
    def authenticator(self):
        """Hidden form field value that proves a POST came from our own form."""
        return csrf_token(self._csrf_secret, self.REQUEST)

    @zpublish(False)
    @security.protected(QueueReport)
    def listing(self, REQUEST):
        """One page of jobs for the Queue tab, as plain dicts.

        Managers see every job (or one owner's); other users see only their
        own. Filters: state, owner, report, and a job id to find.
        """
        query = _listing_query(REQUEST)
        start = query.pop("b_start")
        who = actions.viewer(self)
        owner = (query["owner"] or None) if who.manager else who.user_id
        if query["job"]:
            job = self._jobs.get(query["job"]) if query["job"] in self._jobs else None
            jobs = [job] if job is not None and who.may_see(job) else []
            total = len(jobs)
        else:
            jobs, total = self._jobs.list_jobs(
                state=query["state"] or None, owner=owner, report=query["report"] or None,
                start=start, size=PAGE_SIZE)
        served_with = self.served_with()
        query = {name: value for name, value in query.items() if value}
        return {
            "rows": [rows.job_row(job, REQUEST, self._jobs, who.manager, served_with,
                                  full_error_url=self._error_log_url, local_time=local_time)
                     for job in jobs],
            "total": total,
            "state": query.get("state", ""),
            "owner": query.get("owner", ""),
            "report": query.get("report", ""),
            "job": query.get("job", ""),
            "states": ("",) + ALL_STATES,
            "reports": [{"name": name, "title": report.title}
                        for name, report in report_types()],
            "stats": self._jobs.stats(),
            "prev_url": _page_url(query, start - PAGE_SIZE) if start > 0 else None,
            "next_url": (
                _page_url(query, start + PAGE_SIZE)
                if start + PAGE_SIZE < total
                else None
            ),
            "first": start + 1 if total else 0,
            "last": min(start + PAGE_SIZE, total),
            "retention_days": self._jobs.retention_days,
        }

    def _error_log_url(self, job):
        return f"{self.absolute_url()}/manage_errorLog?{urlencode({'job_id': job.id})}"

    @zpublish(False)
    @security.protected(QueueReport)
    def job_page(self, REQUEST):
        """Everything a job's page shows (rows.job_detail), for ``manage_job``.

        Raises NotFound or Unauthorized (somebody else's job) as actions.job_for does.
        """
        job = actions.job_for(self, REQUEST.form.get("job_id"))
        who = actions.viewer(self)
        detail = rows.job_detail(job, REQUEST, self._jobs, who.manager, self.served_with(),
                                 full_error_url=self._error_log_url, local_time=local_time)
        detail["may_retry"] = who.manager and job.can_retry
        return detail

    @zpublish(False)
    @security.protected(ManageQueue)
    def worker_rows(self):
        """Workers known to this queue, newest heartbeat first, for the Workers tab."""
        return rows.worker_rows(self._jobs, local_time=local_time)

    @zpublish(False)
    @security.protected(ManageQueue)
    def settings(self):
        """Current settings, for the Settings tab."""
        return {
            "numbers": [
                dict(setting._asdict(), value=SETTINGS.of(self._jobs)[setting.name])
                for setting in SETTINGS
            ],
            "server_url": self.server_url,
            "url_warning": (None if public_url.known_public_url(self)
                            else public_url.unknown_url_warning()),
        }

    @zpublish(False)
    @security.protected(QueueReport)
    def submit_form(self, REQUEST):
        """Everything the Submit tab needs: reports, the chosen one's widgets."""
        reports = queueable_report_types(self)
        query = _submit_query(REQUEST)
        chosen = query["report"] or (reports[0][0] if reports else "")
        report = dict(reports).get(chosen)
        errors = REQUEST.other.get("asyncreports_errors", {})
        site_path = "/".join(site_of(self).getPhysicalPath()) or "/"
        return {
            "reports": [{"name": n, "title": r.title} for n, r in reports],
            "report": chosen,
            "description": report.description if report else "",
            "path": site_path if query["path"] is None else query["path"],
            "widgets": forms.widgets(report, REQUEST.form, errors) if report else [],
            "formats": forms.format_options(report, REQUEST.form) if report else [],
            "form_error": errors.get("", ""),
            "submission_id": query["submission_id"] or uuid.uuid4().hex,
        }

    # -- tabs ----------------------------------------------------------------

    _queue_page = _template("queue")
    _submit_page = _template("submit")
    _job_page = _template("job")
    _workers_page = _template("workers")
    _shared = _template("macros")

    @zpublish(methods=("GET", "HEAD", "POST"))
    @security.protected(QueueReport)
    def manage_queue(self, REQUEST=None, **kw):
        """The Queue tab: jobs, filtered by state, owner, report or job id, and paged."""
        if REQUEST is not None:
            _listing_query(REQUEST)  # bad filters are a 400, before any rendering
        return self._queue_page(shared=self._shared.macros, **kw)

    @zpublish(methods=("GET", "HEAD"))
    @security.protected(QueueReport)
    def manage_job(self, REQUEST, **kw):
        """One job's page: parameters, history, attempts, outcome, its actions.

        Owners see their own jobs, managers every job (actions.job_for).
        """
        self.job_page(REQUEST)  # NotFound, Unauthorized or a 400 before any rendering
        return self._job_page(shared=self._shared.macros, **kw)

    _job_parts = _template("job_parts")

    @zpublish(methods=("GET", "HEAD"))
    @security.protected(QueueReport)
    def manage_jobParts(self, REQUEST):
        """The parts of a job's page that change while it runs, as HTML, for the
        page's refresh script: state, progress, times, result, buttons, history.

        Read-only, with the page's checks (``job_page``); ``data-active="0"``
        once the job has ended tells the script to stop.
        """
        job = self.job_page(REQUEST)
        REQUEST.RESPONSE.setHeader("Content-Type", "text/html; charset=utf-8")
        REQUEST.RESPONSE.setHeader("Cache-Control", "no-store")
        return self._job_parts(job=job, macros=self._job_page.macros,
                               shared=self._shared.macros)

    @zpublish(methods=("GET", "HEAD", "POST"))
    @security.protected(QueueReport)
    def manage_submitForm(self, REQUEST=None, **kw):
        """The Submit tab: choose a report, fill in its parameters."""
        if REQUEST is not None:
            _submit_query(REQUEST)
        return self._submit_page(**kw)

    @zpublish(methods=("GET", "HEAD"))
    @security.protected(ManageQueue)
    def manage_workers(self, REQUEST=None, **kw):
        """The Workers tab."""
        return self._workers_page(shared=self._shared.macros, **kw)

    security.declareProtected(ManageQueue, "manage_settingsForm")
    manage_settingsForm = _template("settings")

    _queue_rows = _template("queue_rows")

    @zpublish(methods=("GET", "HEAD"))
    @security.protected(QueueReport)
    def manage_queueRows(self, REQUEST):
        """The Queue tab's job table alone, as HTML, for the tab's refresh script.

        Read-only: the same rows, counts and buttons as ``manage_queue`` for the
        same ``state`` and ``b_start``, without the page around them.
        """
        _listing_query(REQUEST)
        REQUEST.RESPONSE.setHeader("Content-Type", "text/html; charset=utf-8")
        REQUEST.RESPONSE.setHeader("Cache-Control", "no-store")
        return self._queue_rows(macros=self._queue_page.macros, shared=self._shared.macros)

    @zpublish(methods=("GET", "HEAD"))
    @security.protected(ManageQueue)
    def manage_errorLog(self, job_id=None, REQUEST=None):
        """The full error log of a job, server paths and all: for managers only.

        The stored error log its owner reads has them trimmed (results/errorlog.py).
        """
        text = self.full_error_log(validation.job_id(job_id))
        if REQUEST is not None:
            REQUEST.RESPONSE.setHeader("Content-Type", "text/plain; charset=utf-8")
            REQUEST.RESPONSE.setHeader("Cache-Control", "no-store")
        return text

    @zpublish(methods=("GET", "HEAD"))
    @security.protected(ViewMetrics)
    def metrics(self, REQUEST):
        """This queue's metrics as Prometheus text (OpenMetrics when the Accept
        header asks for it), for a scrape user with *View metrics* alone."""
        text, content_type = exposition_text(
            [("/".join(self.getPhysicalPath()), self._jobs)],
            wants_openmetrics(REQUEST.get_header("Accept")))
        REQUEST.RESPONSE.setHeader("Content-Type", content_type)
        REQUEST.RESPONSE.setHeader("Cache-Control", "no-store")
        return text

    # -- state changes: POST only, with a CSRF token -------------------------

    @zpublish(methods="POST")
    @security.protected(QueueReport)
    def manage_submitReport(self, REQUEST):
        """Queue a report from the Submit tab."""
        check_post(REQUEST, self._csrf_secret)
        form = REQUEST.form
        try:
            query = _submit_query(REQUEST)
            job, note = submit_noted(
                self,
                query["report"],
                form.get("path", ""),
                forms.raw_parameters(form),
                dedup_key=query["submission_id"],
                format=form.get("format"),
            )
            public_url.remember_served_url(self, REQUEST.get("SERVER_URL"))
        except InvalidParameters as exc:
            REQUEST.other["asyncreports_errors"] = dict(exc.errors)
            REQUEST.RESPONSE.setStatus(400)
            return self.manage_submitForm()
        except InvalidJobRequest as exc:
            REQUEST.other["asyncreports_errors"] = {"": str(exc)}
            REQUEST.RESPONSE.setStatus(400)
            if isinstance(exc, validation.BadInput):
                raise  # the form itself cannot be shown again with these values
            return self.manage_submitForm()
        return self._redirect(REQUEST, "manage_queue", note or f"Queued job {job.id}.")

    @zpublish(methods="POST")
    @security.protected(QueueReport)
    def manage_cancelJobs(self, job_ids=(), REQUEST=None):
        """Cancel jobs: managers any job, other users only their own."""
        check_post(REQUEST, self._csrf_secret)
        return self._redirect(REQUEST, "manage_queue", actions.cancel(self, job_ids))

    @zpublish(methods="POST")
    @security.protected(ManageQueue)
    def manage_retryJobs(self, job_ids=(), REQUEST=None):
        """Put failed or cancelled jobs back in the queue."""
        check_post(REQUEST, self._csrf_secret)
        return self._redirect(REQUEST, "manage_queue", actions.retry(self, job_ids))

    @zpublish(methods="POST")
    @security.protected(ManageQueue)
    def manage_purgeJobs(self, job_ids=(), older_than_days="", REQUEST=None):
        """Remove finished jobs (the chosen ones, or all older than N days) and their results."""
        check_post(REQUEST, self._csrf_secret)
        message = actions.purge(self, job_ids, older_than_days)
        return self._redirect(REQUEST, "manage_queue", message)

    @zpublish(methods="POST")
    @security.protected(QueueReport)
    def manage_jobAction(self, job_id=None, action=None, REQUEST=None):
        """Cancel, retry or run again one job, from its page (actions.job_action)."""
        check_post(REQUEST, self._csrf_secret)
        message, shown = actions.job_action(self, job_id, action)
        query = urlencode({"job_id": shown, "manage_tabs_message": message})
        REQUEST.RESPONSE.redirect(f"{self.absolute_url()}/manage_job?{query}")
        return message

    @zpublish(methods="POST")
    @security.protected(ManageQueue)
    def manage_editSettings(self, REQUEST):
        """Save the Settings tab."""
        check_post(REQUEST, self._csrf_secret)
        try:
            values = forms.parse_settings(REQUEST.form, current=SETTINGS.of(self._jobs))
        except InvalidParameters as exc:
            return self._redirect(REQUEST, "manage_settingsForm", str(exc))
        self.server_url = values.pop("server_url")
        for name, value in values.items():
            setattr(self._jobs, name, value)
        return self._redirect(REQUEST, "manage_settingsForm", "Settings saved.")

    def _redirect(self, request, view, message):
        if request is None:
            return message
        query = urlencode({"manage_tabs_message": message})
        request.RESPONSE.redirect(f"{self.absolute_url()}/{view}?{query}")
        return message


InitializeClass(AsyncReportQueue)


def _listing_query(request):
    """The Queue tab's filters and ``b_start``, checked ('' for a filter not given).

    :raises BadInput: an unknown state or report, a bad offset, an owner or
        job id that is no single short text.
    """
    form = request.form
    return {
        "state": validation.state(form.get("state")) or "",
        "owner": validation.text(form.get("owner"), "owner", max_length=200),
        "report": validation.one_of(form.get("report"), "report",
                                    [name for name, _ in report_types()]) or "",
        "job": validation.job_id(form.get("job"), "job"),
        "b_start": validation.start(form.get("b_start")),
    }


# The Submit tab's submission id is a uuid4 hex; allow other clients some room.
MAX_SUBMISSION_ID_LENGTH = 100


def _submit_query(request):
    """The Submit tab's own fields, checked (report parameters are the schema's)."""
    form = request.form
    path = form.get("path")
    return {
        "report": validation.text(form.get("report"), "report", max_length=200),
        "path": None if path is None else validation.text(
            path, "target path", max_length=MAX_PATH_LENGTH),
        "submission_id": validation.optional_text(
            form.get("submission_id"), "submission_id", max_length=MAX_SUBMISSION_ID_LENGTH),
    }


def _page_url(query, start):
    return "manage_queue?" + urlencode(dict(query, b_start=max(start, 0)))


_add_form = PageTemplateFile("www/add.zpt", globals(), __name__="manage_addAsyncReportQueueForm")


def manage_addAsyncReportQueueForm(self, REQUEST):
    """The form that adds an Async Report Queue, with its CSRF token."""
    return _add_form.__of__(self)(token=add_form_token(REQUEST))


def manage_addAsyncReportQueue(self, id, title="", REQUEST=None):
    """Add an Async Report Queue (with its results folder) to this container.

    Through the web it takes a POST from the add form, with its token;
    Python code (scripts, set-up) passes no REQUEST.
    """
    if REQUEST is not None:
        check_add_form(REQUEST)
    id = validation.text(id, "id", max_length=200)
    title = validation.text(title, "title")
    self._setObject(id, AsyncReportQueue(id, title))
    queue = self._getOb(id)
    queue.result_store().folder()
    if REQUEST is not None:
        query = urlencode({"manage_tabs_message": "Async Report Queue added."})
        REQUEST.RESPONSE.redirect(f"{self.absolute_url()}/manage_main?{query}")
    return queue


def register_queue_class(context):
    """Register the class with Zope's product machinery (called from initialize)."""
    context.registerClass(
        AsyncReportQueue,
        permission="Add Async Report Queues",
        constructors=(manage_addAsyncReportQueueForm, manage_addAsyncReportQueue),
        icon=None,
    )

