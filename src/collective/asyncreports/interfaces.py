"""The contracts between the queue object, its result store and the worker.

Workers, the CLI and the UIs use a queue only through ``IAsyncReportQueue``;
the ZMI queue (``zmi/queue.py``) and the Plone queue (``plone/queue.py``)
implement it, and differ by their result store and their URL policy.
"""

from zope.interface import Attribute
from zope.interface import Interface


class IResultStore(Interface):
    """Where a queue keeps its jobs' results (PDF, CSV, XLSX) and error logs,
    private to their owner."""

    queue = Attribute("The queue object whose results this store holds.")

    def folder():
        """The container of the results, created when missing."""

    def store_result(job, data, filename, content_type, owner):
        """Store ``job``'s result, the bytes of a file named ``filename`` of
        MIME type ``content_type`` (a PDF, a CSV, a spreadsheet), owned by
        ``owner``; return its physical path.

        A result stored before for the same job and name is replaced.
        """

    def store_error_log(job, text, owner=None):
        """Store ``job``'s error log; return its physical path.

        The stored text is what its owner may read (server paths trimmed);
        the full text is kept for managers. ``owner`` None: managers only.
        """

    def delete(path):
        """Delete the result or error log at physical ``path``, if it still exists."""


class IAsyncReportQueue(Interface):
    """A queue object: a JobQueue, a result store and the URL reports link to."""

    def job_queue():
        """The persistent ``collective.asyncreports.queue.JobQueue``."""

    def result_store():
        """The ``IResultStore`` of this queue."""

    def configured_url():
        """The Server URL set for this queue ('' when none is set)."""

    def effective_server_url():
        """Base URL for links made by workers, without a trailing slash."""

    def public_url(physical_path):
        """URL of the object at ``physical_path`` as people outside see it."""

    def prepare_request(request):
        """Make a worker's synthetic request build URLs on ``effective_server_url()``."""

    def served_with():
        """The other JobQueues of this database: (claimed before this one, after)."""

    def purge(job_ids=None, older_than=None, states=None):
        """Remove finished jobs and their results; return the removed jobs."""


class IWakeSource(Interface):
    """How a worker with nothing to claim sleeps until a commit may have made a
    job due (``collective.asyncreports.wakeup``): one per storage kind."""

    def arm():
        """Begin a round: forget earlier wake-ups. Called before the worker
        looks at its queues, so that a commit made while it looks ends the
        ``wait`` that follows at once."""

    def wait(timeout):
        """Sleep until a commit since ``arm()`` may have made a job due, until
        ``interrupt()``, or ``timeout`` seconds (the poll interval: the
        fallback when no wake-up comes). True when woken by a commit."""

    def interrupt():
        """End a ``wait`` now, and every later one at once: the worker stops."""

    def close():
        """Let go of what the source holds (a LISTEN connection)."""
