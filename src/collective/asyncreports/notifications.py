"""Mail to a job's owner when the job finishes or fails, sent after the commit.

Subscribers of ``IJobFinished`` and ``IJobFailed`` (registered in
configure.zcml) run inside the worker's ending transaction (see events.py).
They only compose the message there and register an after-commit hook of that
transaction, so a mail goes out only when the job's end has committed: never
for a commit that failed or conflicted (a retried step composes it again).

The hook sends with ``smtplib`` to the SMTP server of the queue's MailHost
(host, port, login, its TLS rule), copied while the transaction is open: after
the commit no persistent object is read, and the connection has a timeout of
its own, so a mail server that hangs holds the job thread at most that long.
Nothing here ever fails a job: every problem is logged (WARNING, with the job
id) and the mail is dropped.

Who gets it: the ``email`` property of the owner (a Plone member, or any user
folder with properties), else the queue's fallback address (setting
``notify_address``), else nobody (logged at INFO). In what language: the
owner's, as their PDF (``rendering.site_header.report_language``).
"""

import email.utils
import smtplib
import ssl
from email.message import EmailMessage
from typing import NamedTuple

from transaction.interfaces import TransientError
from zope.i18nmessageid import Message
from zope.i18nmessageid import MessageFactory

from collective.asyncreports import logger
from collective.asyncreports.errors import UnknownReport
from collective.asyncreports.errors import UnknownUser
from collective.asyncreports.i18n import in_language
from collective.asyncreports.queue.settings import SETTINGS
from collective.asyncreports.rendering.site_header import report_language
from collective.asyncreports.reports.registry import get_report
from collective.asyncreports.results.errorlog import owner_text
from collective.asyncreports.users import load_user


_ = MessageFactory("collective.asyncreports")

# The texts of a notification, ready for translation (mapping: ${report},
# ${target}, ${job}, ${url}, ${error}).
FINISHED_SUBJECT = _("notification_finished_subject",
                     default="Your report is ready: ${report} of ${target}")
FINISHED_BODY = _("notification_finished_body", default=(
    "Your report ${report} of ${target} (job ${job}) is ready.\n\n"
    "Download it here:\n${url}\n"))
ATTACHED_NOTE = _("notification_attached", default="The result is attached to this mail.\n")
FAILED_SUBJECT = _("notification_failed_subject",
                   default="Your report failed: ${report} of ${target}")
FAILED_BODY = _("notification_failed_body", default=(
    "Your report ${report} of ${target} (job ${job}) failed:\n\n${error}\n\n"
    "The error log:\n${url}\n"))

# Seconds for each step of the SMTP conversation (connect, each command).
SMTP_TIMEOUT = 10
MEGABYTE = 1024 * 1024


class Server(NamedTuple):
    """Where a message is sent: a MailHost's SMTP settings, copied."""

    host: str
    port: int
    user: str
    password: str
    force_tls: bool


def job_finished(event):
    """IJobFinished subscriber: mail the owner a link (and maybe the result)."""
    _notify(event.queue, event.job, event.result, finished=True)


def job_failed(event):
    """IJobFailed subscriber: mail the owner the error and a link to its log."""
    _notify(event.queue, event.job, event.error_log, finished=False)


def _notify(queue, job, stored, finished):
    settings = SETTINGS.of(queue.job_queue())
    if not settings["notify_submitter"]:
        return
    try:
        prepared = compose(queue, job, stored, finished, settings)
    except TransientError:
        raise  # a conflict: the worker retries the whole step
    except Exception as exc:
        logger.warning("job %s: no notification: %s: %s", job.id, type(exc).__name__, exc)
        return
    if prepared is not None:
        message, server = prepared
        queue._p_jar.transaction_manager.get().addAfterCommitHook(
            send_after_commit, args=(message, server, job.id))


def compose(queue, job, stored, finished, settings):
    """(message, Server) for ``job``'s owner, or None when there is nobody to
    mail or no mail server; reads the database, sends nothing."""
    recipient = owner_address(queue, job) or settings["notify_address"]
    if not recipient:
        logger.info("job %s: no notification: owner %s has no email address and "
                    "the queue has no fallback address", job.id, job.owner_id)
        return None
    mail_host, sender = queue.mail_sender()
    if mail_host is None or not sender:
        logger.warning("job %s: no notification: the queue has no %s", job.id,
                       "MailHost" if mail_host is None else "from address")
        return None
    server = Server(str(mail_host.smtp_host), int(mail_host.smtp_port),
                    getattr(mail_host, "smtp_uid", "") or "",
                    getattr(mail_host, "smtp_pwd", "") or "",
                    bool(getattr(mail_host, "force_tls", False)))
    language = report_language(queue, _owner(queue, job))  # the language of its PDF
    mapping = {
        "report": _report_title(job, language),
        "target": job.path,
        "job": job.id,
        "url": queue.public_url(job.result_path if finished else job.error_path),
        "error": owner_text(job.error_message or ""),
    }
    message = EmailMessage()
    # One line, whatever a title or path holds: no header can be added through it.
    message["Subject"] = " ".join(
        _text(FINISHED_SUBJECT if finished else FAILED_SUBJECT, mapping, language).split())
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = email.utils.formatdate(localtime=True)
    message["Message-ID"] = email.utils.make_msgid(job.id)
    body = _text(FINISHED_BODY if finished else FAILED_BODY, mapping, language)
    limit = settings["attach_limit_mb"] * MEGABYTE
    attachment = file_parts(stored) if finished and stored is not None else None
    if attachment is not None and 0 < attachment.size <= limit:
        message.set_content(body + "\n" + _text(ATTACHED_NOTE, mapping, language))
        maintype, _slash, subtype = attachment.content_type.partition("/")
        message.add_attachment(attachment.read(), maintype=maintype,
                               subtype=subtype or "octet-stream",
                               filename=attachment.filename)
    else:
        message.set_content(body)
    return message, server


def owner_address(queue, job):
    """The ``email`` property of ``job``'s owner, or '' (no such property, a
    user folder without properties, or the owner is gone)."""
    user = _owner(queue, job)
    if user is None:
        return ""
    get_property = getattr(user, "getProperty", None)
    address = get_property("email", "") if get_property is not None else ""
    return address.strip() if isinstance(address, str) else ""


def _owner(queue, job):
    """The job's owner, or None when they are gone."""
    try:
        return load_user(queue.getPhysicalRoot(), job.owner_folder, job.owner_id)
    except UnknownUser:
        return None


class FileParts(NamedTuple):
    filename: str
    content_type: str
    size: int
    read: object  # () -> bytes


def file_parts(stored):
    """Name, MIME type, size and reader of a stored result: an OFS File, or a
    Plone File (its ``file`` a NamedBlobFile)."""
    named = getattr(stored, "file", None)
    if named is not None and hasattr(named, "getSize"):
        return FileParts(named.filename or stored.getId(), named.contentType,
                         named.getSize(), lambda: named.data)
    return FileParts(stored.getId(), stored.content_type, stored.get_size(),
                     lambda: bytes(stored.data))


def send_after_commit(committed, message, server, job_id):
    """After-commit hook: send ``message`` if the commit succeeded.

    Never raises (a hook's exception would be logged by the transaction and
    the worker would not know the job ended); a problem is a WARNING.
    """
    if not committed:
        logger.info("job %s: notification dropped: its commit failed", job_id)
        return
    try:
        send(message, server)
    except Exception as exc:
        logger.warning("job %s: notification to %s not sent: %s: %s", job_id,
                       message["To"], type(exc).__name__, exc)
    else:
        logger.info("job %s: notification sent to %s", job_id, message["To"])


def send(message, server, timeout=SMTP_TIMEOUT):
    """Send ``message`` through ``server`` (STARTTLS when offered; required
    when the MailHost forces TLS)."""
    with smtplib.SMTP(server.host, server.port, timeout=timeout) as smtp:
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        elif server.force_tls:
            raise smtplib.SMTPNotSupportedError(f"{server.host} offers no STARTTLS")
        if server.user:
            smtp.login(server.user, server.password)
        smtp.send_message(message)


def _text(message, mapping, language=None):
    # A Message's own mapping wins over translate()'s: give it one.
    return in_language(Message(message, mapping=mapping), language)


def _report_title(job, language=None):
    try:
        return str(in_language(get_report(job.report).title, language)) or job.report
    except UnknownReport:
        return job.report
