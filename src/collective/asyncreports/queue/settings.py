"""The queue's settings, declared once: name, default, bounds and help text.

The JobQueue's defaults, the ZMI Settings tab, the Plone registry schema (and
so its control panel) and their validation all come from ``SETTINGS``. Plain
Python, like the rest of ``queue/``: the UIs add their own widgets.
"""

from typing import NamedTuple


WEEK = 7 * 86400
# Longest retention: a hundred years, more than any archive needs.
MAX_DAYS = 36500


class Setting(NamedTuple):
    """One whole-number setting of a JobQueue (an attribute of the same name)."""

    name: str
    title: str
    default: int
    minimum: int
    maximum: int
    description: str = ""


class Settings(tuple):
    """The table of settings, with the rules that join two of them."""

    def defaults(self):
        """``{name: default}``: a new JobQueue's settings."""
        return {setting.name: setting.default for setting in self}

    def get(self, name):
        """The Setting called ``name``; KeyError for an unknown name."""
        for setting in self:
            if setting.name == name:
                return setting
        raise KeyError(name)

    def problems(self, values):
        """What is wrong with ``values`` (name -> int): a list of (title, message).

        Checks each value's bounds and the rules between settings; names
        missing from ``values`` are not checked.
        """
        problems = []
        for setting in self:
            value = values.get(setting.name)
            if value is None:
                continue
            if not setting.minimum <= value <= setting.maximum:
                problems.append((setting.title, f"must be between {setting.minimum} and "
                                                f"{setting.maximum} (got {value})"))
        low, high = values.get("backoff_seconds"), values.get("backoff_max")
        if None not in (low, high) and high < low:
            problems.append((self.get("backoff_max").title, "must not be below the backoff"))
        return problems


SETTINGS = Settings((
    Setting("lease_seconds", "Lease time (seconds)", 300, 10, WEEK,
            "How long a worker may go without a heartbeat before its job is "
            "handed to another worker."),
    Setting("max_attempts", "Maximum attempts", 3, 1, 100,
            "How often a job is tried before it fails for good."),
    Setting("backoff_seconds", "Backoff (seconds)", 30, 0, WEEK,
            "Wait before a job is tried again; it doubles with each attempt."),
    Setting("backoff_max", "Longest backoff (seconds)", 3600, 0, WEEK,
            "The doubling backoff never waits longer than this."),
    Setting("retention_days", "Retention (days)", 30, 0, MAX_DAYS,
            "Finished jobs older than this may be purged from the queue view."),
    Setting("time_limit", "Time limit (seconds)", 1800, 1, WEEK,
            "Longest a report may run before it is stopped and fails as timed out "
            "(a report type may set its own)."),
))
