"""Exceptions of collective.asyncreports, all under one base class.

Plain Python on purpose: the queue model raises them without importing Zope.
"""


class AsyncReportsError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidJobRequest(AsyncReportsError, ValueError):
    """A job cannot be queued as asked; the message says why, for a person."""


class TooManyJobs(InvalidJobRequest):
    """The user has as many jobs waiting as the queue's ``max_queued_per_user``."""


class UnknownReport(InvalidJobRequest):
    """No report type is registered under the given name."""


class InvalidPath(InvalidJobRequest):
    """The target path is malformed, missing, or outside the queue's site."""


class UnknownUser(InvalidJobRequest):
    """The user id names no user in the user folders above the queue."""


class InvalidParameters(InvalidJobRequest):
    """Report parameters failed the report's schema.

    ``errors`` is a list of ``(field name, message)`` pairs, one per problem.
    """

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__(
            "; ".join(f"{name}: {message}" for name, message in self.errors)
        )


class InvalidSchedule(InvalidJobRequest):
    """A schedule cannot be made or changed as asked.

    ``errors`` is a list of ``(field name, message)`` pairs, one per problem
    (``cron``, ``timezone``, ``missed``, and the job's own: ``report``,
    ``path``, ``format`` or a parameter's name).
    """

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("; ".join(f"{name}: {message}" for name, message in self.errors))


class ScheduleNotFound(AsyncReportsError, KeyError):
    """No schedule with this id is in the queue."""

    def __str__(self):
        return f"no schedule with id {self.args[0]!r}" if self.args else "no such schedule"


class JobNotFound(AsyncReportsError, KeyError):
    """No job with this id is in the queue."""

    def __str__(self):
        return f"no job with id {self.args[0]!r}" if self.args else "no such job"


class QueueNotFound(InvalidJobRequest, LookupError):
    """No queue where one was named, or no single queue to choose by default."""


class InvalidTransition(AsyncReportsError):
    """The job's state does not allow the operation (e.g. cancelling a done job)."""


class LeaseLost(AsyncReportsError):
    """The worker's lease token on a job is no longer valid: another took it over."""


class ConfigurationError(AsyncReportsError):
    """zope.conf or another piece of configuration is missing or unusable."""
