"""The "Async Report Queue" ZMI object: a folder holding the job queue and results."""

import secrets
import time
import uuid
from urllib.parse import urlencode
from urllib.parse import urlsplit

from AccessControl import ClassSecurityInfo
from AccessControl import Unauthorized
from AccessControl import getSecurityManager
from AccessControl.class_init import InitializeClass
from OFS.Folder import Folder
from Products.BTreeFolder2.BTreeFolder2 import BTreeFolder2
from Products.PageTemplates.PageTemplateFile import PageTemplateFile
from zExceptions import Forbidden
from zExceptions import NotFound
from zope.interface import implementer
from ZPublisher import zpublish

from collective.asyncreports import public_url
from collective.asyncreports import validation
from collective.asyncreports.errors import AsyncReportsError
from collective.asyncreports.errors import InvalidJobRequest
from collective.asyncreports.errors import InvalidParameters
from collective.asyncreports.interfaces import IAsyncReportQueue
from collective.asyncreports.locations import queue_paths
from collective.asyncreports.permissions import ManageQueue
from collective.asyncreports.permissions import QueueReport
from collective.asyncreports.queue import ALL_STATES
from collective.asyncreports.queue import FINAL_STATES
from collective.asyncreports.queue import JobQueue
from collective.asyncreports.queue.position import standing
from collective.asyncreports.reports.registry import queueable_report_types
from collective.asyncreports.results import zmi as results
from collective.asyncreports.results.errorlog import full_text
from collective.asyncreports.results.errorlog import owner_text
from collective.asyncreports.results.listing import keep_listing_private
from collective.asyncreports.submission import submit
from collective.asyncreports.targets import MAX_PATH_LENGTH
from collective.asyncreports.targets import site_of
from collective.asyncreports.zmi import forms
from collective.asyncreports.zmi.csrf import add_form_token
from collective.asyncreports.zmi.csrf import check_add_form
from collective.asyncreports.zmi.csrf import check_csrf
from collective.asyncreports.zmi.csrf import csrf_token


RESULTS_ID = "results"
PAGE_SIZE = 20


def _template(name):
    return PageTemplateFile(f"www/{name}.zpt", globals(), __name__=name)


@implementer(IAsyncReportQueue)
class AsyncReportQueue(Folder):
    """A queue of report jobs, with a results folder for PDFs and error logs."""

    meta_type = "Async Report Queue"
    zmi_icon = "fas fa-file-pdf"
    server_url = ""

    security = ClassSecurityInfo()

    manage_options = (
        {"label": "Queue", "action": "manage_queue"},
        {"label": "Submit", "action": "manage_submitForm"},
        {"label": "Workers", "action": "manage_workers"},
        {"label": "Settings", "action": "manage_settingsForm"},
    ) + tuple(
        option
        for option in Folder.manage_options
        if option["label"] in ("Contents", "Security", "Ownership", "Undo")
    )

    def __init__(self, id, title=""):
        super().__init__(id)
        self.title = title
        self._jobs = JobQueue()
        self._csrf_secret = secrets.token_hex(32)

    # -- Python API (CLI, worker, Plone) ------------------------------------

    @security.private
    def job_queue(self):
        """The persistent JobQueue of this queue object."""
        return self._jobs

    @security.private
    def results_folder(self):
        """The folder that holds this queue's PDFs and error logs."""
        if RESULTS_ID not in self.objectIds():
            # A BTree folder: workers finishing at once add to different
            # buckets, where an OFS Folder's one _objects tuple would conflict.
            self._setObject(RESULTS_ID, BTreeFolder2(RESULTS_ID))
        folder = self._getOb(RESULTS_ID)
        keep_listing_private(folder, results.PRIVATE_ROLES_LISTING)
        return folder

    @security.private
    def store_pdf(self, job, data, filename, owner):
        """Store a job's PDF as a result; return its physical path."""
        return results.store_pdf(self, job, data, filename, owner)

    @security.private
    def store_error_log(self, job, text, owner=None):
        """Store a job's error log; return its physical path."""
        return results.store_error_log(self, job, text, owner)

    @security.private
    def effective_server_url(self):
        """Base URL for links made by workers, without a trailing slash."""
        return public_url.effective_public_url(self)

    @security.private
    def public_url(self, physical_path):
        """URL of the object at ``physical_path`` as people outside see it."""
        return self.effective_server_url() + physical_path

    @security.private
    def prepare_request(self, request):
        """Make a worker's synthetic request build URLs on effective_server_url()."""
        parts = urlsplit(self.effective_server_url())
        request.setServerURL(parts.scheme or "http", parts.hostname or "localhost", parts.port)

    # -- what the tabs show --------------------------------------------------

    @zpublish(False)
    @security.protected(QueueReport)
    def can_manage(self):
        """True when the current user may manage every job of this queue."""
        return bool(getSecurityManager().checkPermission(ManageQueue, self))

    @zpublish(False)
    @security.protected(QueueReport)
    def authenticator(self):
        """Hidden form field value that proves a POST came from our own form."""
        return csrf_token(self._csrf_secret, self.REQUEST)

    @zpublish(False)
    @security.protected(QueueReport)
    def listing(self, REQUEST):
        """One page of jobs for the Queue tab, as plain dicts.

        Managers see every job; other users see only their own.
        """
        state, start = _listing_query(REQUEST)
        owner = None if self.can_manage() else _current_user_id()
        jobs, total = self._jobs.list_jobs(
            state=state, owner=owner, start=start, size=PAGE_SIZE
        )
        manager = owner is None
        served_with = self.served_with()
        rows = [self._job_row(job, REQUEST, manager, served_with) for job in jobs]
        query = {"state": state} if state else {}
        return {
            "rows": rows,
            "total": total,
            "state": state or "",
            "states": ("",) + ALL_STATES,
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

    @security.private
    def served_with(self):
        """The other JobQueues of this database: (claimed before this one, after).

        Workers serve every registered queue, in path order (locations.py).
        """
        root = self._p_jar.root() if self._p_jar is not None else {}
        own = "/".join(self.getPhysicalPath())
        app = self.getPhysicalRoot()
        before, after = [], []
        for path in queue_paths(root):
            other = None if path == own else app.unrestrictedTraverse(path.lstrip("/"), None)
            if IAsyncReportQueue.providedBy(other):
                (before if path < own else after).append(other.job_queue())
        return before, after

    def _job_row(self, job, request, manager=False, served_with=((), ())):
        row = job.as_dict()
        row["standing"] = standing(job, self._jobs, *served_with)
        row["result_url"] = _url(request, job.result_path)
        row["error_url"] = _url(request, job.error_path)
        # Managers see everything; owners see no server paths (results/errorlog.py).
        row["full_error_url"] = (
            f"{self.absolute_url()}/manage_errorLog?{urlencode({'job_id': job.id})}"
            if manager and job.error_path else None)
        if not manager:
            row["error_message"] = owner_text(job.error_message)
        row["can_cancel"] = not job.is_final and not job.cancel_requested
        row["can_retry"] = job.state in ("failed", "cancelled")
        for name in ("created", "started", "finished"):
            row[name + "_display"] = _when(row[name])
        return row

    @zpublish(False)
    @security.protected(ManageQueue)
    def worker_rows(self):
        """Workers known to this queue, newest heartbeat first, for the Workers tab."""
        window = self._jobs.lease_seconds
        rows = []
        for record in self._jobs.workers():
            row = record.as_dict()
            row["alive"] = record.is_alive(time.time(), window)
            row["last_heartbeat_display"] = _when(record.last_heartbeat)
            rows.append(row)
        return sorted(rows, key=lambda row: row["last_heartbeat"] or 0, reverse=True)

    @zpublish(False)
    @security.protected(ManageQueue)
    def settings(self):
        """Current settings, for the Settings tab."""
        return {
            "numbers": [
                {
                    "name": name,
                    "title": title,
                    "minimum": minimum,
                    "maximum": maximum,
                    "value": getattr(self._jobs, name),
                }
                for name, title, minimum, maximum in forms.SETTINGS
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
            "form_error": errors.get("", ""),
            "submission_id": query["submission_id"] or uuid.uuid4().hex,
        }

    # -- tabs ----------------------------------------------------------------

    _queue_page = _template("queue")
    _submit_page = _template("submit")

    @zpublish(methods=("GET", "HEAD", "POST"))
    @security.protected(QueueReport)
    def manage_queue(self, REQUEST=None, **kw):
        """The Queue tab: jobs, filtered by state and paged."""
        if REQUEST is not None:
            _listing_query(REQUEST)  # bad filters are a 400, before any rendering
        return self._queue_page(**kw)

    @zpublish(methods=("GET", "HEAD", "POST"))
    @security.protected(QueueReport)
    def manage_submitForm(self, REQUEST=None, **kw):
        """The Submit tab: choose a report, fill in its parameters."""
        if REQUEST is not None:
            _submit_query(REQUEST)
        return self._submit_page(**kw)

    security.declareProtected(ManageQueue, "manage_workers")
    manage_workers = _template("workers")

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
        return self._queue_rows(macros=self._queue_page.macros)

    @zpublish(methods=("GET", "HEAD"))
    @security.protected(ManageQueue)
    def manage_errorLog(self, job_id=None, REQUEST=None):
        """The full error log of a job, server paths and all: for managers only.

        The stored error log its owner reads has them trimmed (results/errorlog.py).
        """
        text = full_error_log(self, validation.job_id(job_id))
        if REQUEST is not None:
            REQUEST.RESPONSE.setHeader("Content-Type", "text/plain; charset=utf-8")
            REQUEST.RESPONSE.setHeader("Cache-Control", "no-store")
        return text

    # -- state changes: POST only, with a CSRF token -------------------------

    @zpublish(methods="POST")
    @security.protected(QueueReport)
    def manage_submitReport(self, REQUEST):
        """Queue a report from the Submit tab."""
        check_csrf(self._csrf_secret, REQUEST)
        form = REQUEST.form
        try:
            query = _submit_query(REQUEST)
            job = submit(
                self,
                query["report"],
                form.get("path", ""),
                forms.raw_parameters(form),
                dedup_key=query["submission_id"],
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
        return self._redirect(REQUEST, "manage_queue", f"Queued job {job.id}.")

    @zpublish(methods="POST")
    @security.protected(QueueReport)
    def manage_cancelJobs(self, job_ids=(), REQUEST=None):
        """Cancel jobs: managers any job, other users only their own."""
        check_csrf(self._csrf_secret, REQUEST)
        manager, user_id = self.can_manage(), _current_user_id()
        job_ids = validation.job_ids(job_ids)
        for job_id in job_ids:
            if not manager and job_id in self._jobs and (
                self._jobs.get(job_id).owner_id != user_id
            ):
                raise Unauthorized(f"you may not cancel job {job_id}")
        return self._apply(REQUEST, job_ids, self._jobs.cancel, "Cancelled")

    @zpublish(methods="POST")
    @security.protected(ManageQueue)
    def manage_retryJobs(self, job_ids=(), REQUEST=None):
        """Put failed or cancelled jobs back in the queue."""
        check_csrf(self._csrf_secret, REQUEST)
        return self._apply(REQUEST, job_ids, self._jobs.retry, "Requeued")

    @zpublish(methods="POST")
    @security.protected(ManageQueue)
    def manage_purgeJobs(self, job_ids=(), older_than_days="", REQUEST=None):
        """Remove finished jobs (the chosen ones, or all older than N days) and their results."""
        check_csrf(self._csrf_secret, REQUEST)
        ids = validation.job_ids(job_ids)
        days = validation.days(older_than_days)
        if not ids and days is None:
            return self._redirect(REQUEST, "manage_queue", "Choose jobs or an age to purge.")
        try:
            purged = self.purge(
                job_ids=ids or None,
                older_than=None if ids else days * 86400,
            )
        except AsyncReportsError as exc:
            return self._redirect(REQUEST, "manage_queue", str(exc))
        return self._redirect(REQUEST, "manage_queue", f"Purged {len(purged)} job(s).")

    @zpublish(methods="POST")
    @security.protected(ManageQueue)
    def manage_editSettings(self, REQUEST):
        """Save the Settings tab."""
        check_csrf(self._csrf_secret, REQUEST)
        try:
            values = forms.parse_settings(REQUEST.form)
        except InvalidParameters as exc:
            return self._redirect(REQUEST, "manage_settingsForm", str(exc))
        self.server_url = values.pop("server_url")
        for name, value in values.items():
            setattr(self._jobs, name, value)
        return self._redirect(REQUEST, "manage_settingsForm", "Settings saved.")

    @security.protected(ManageQueue)
    def purge(self, job_ids=None, older_than=None, states=FINAL_STATES):
        """Remove finished jobs and their result and error-log objects.

        Returns the removed jobs. Raises InvalidTransition for running jobs,
        BadInput for a negative ``older_than`` (that would be every job).
        """
        _check_older_than(older_than)
        purged = self._jobs.purge(states=states, older_than=older_than, job_ids=job_ids)
        results = self.results_folder()
        for job in purged:
            for path in (job.result_path, job.error_path):
                name = path.rsplit("/", 1)[-1] if path else None
                if name and name in results.objectIds():
                    results._delObject(name)
        return purged

    def _apply(self, request, job_ids, operation, verb):
        done, problems = [], []
        for job_id in validation.job_ids(job_ids):
            try:
                operation(job_id, actor=_current_user_id())
            except AsyncReportsError as exc:
                problems.append(f"{job_id}: {exc}")
            else:
                done.append(job_id)
        message = f"{verb} {len(done)} job(s)." + "".join(f" {p}." for p in problems)
        return self._redirect(request, "manage_queue", message)

    def _redirect(self, request, view, message):
        if request is None:
            return message
        query = urlencode({"manage_tabs_message": message})
        request.RESPONSE.redirect(f"{self.absolute_url()}/{view}?{query}")
        return message


InitializeClass(AsyncReportQueue)


def _current_user_id():
    return getSecurityManager().getUser().getId()


def full_error_log(queue, job_id):
    """The full text of a job's error log; NotFound when there is none."""
    if not job_id or job_id not in queue.job_queue():
        raise NotFound(f"no job with id {job_id!r}")
    path = queue.job_queue().get(job_id).error_path
    stored = queue.getPhysicalRoot().unrestrictedTraverse(path.lstrip("/"), None) if path else None
    if stored is None:
        raise NotFound(f"job {job_id} has no error log")
    return full_text(stored)


def _listing_query(request):
    """The Queue tab's ``state`` and ``b_start``, checked: (state or None, start)."""
    form = request.form
    return validation.state(form.get("state")), validation.start(form.get("b_start"))


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


def _check_older_than(older_than):
    """The one rule for purging by age: no negative ages (see validation.days)."""
    if older_than is not None and older_than < 0:
        raise validation.BadInput(
            f"older than: must not be negative (got {older_than}): that would be every job")


def _when(timestamp):
    if not timestamp:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def _page_url(query, start):
    return "manage_queue?" + urlencode(dict(query, b_start=max(start, 0)))


def _url(request, path):
    return request.physicalPathToURL(path) if path else None


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
        if REQUEST.get("REQUEST_METHOD") != "POST":
            # A link or an image must not add objects: the add form posts.
            raise Forbidden("adding an Async Report Queue needs a POST from its add form")
        check_add_form(REQUEST)
    id = validation.text(id, "id", max_length=200)
    title = validation.text(title, "title")
    self._setObject(id, AsyncReportQueue(id, title))
    queue = self._getOb(id)
    queue.results_folder()
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

