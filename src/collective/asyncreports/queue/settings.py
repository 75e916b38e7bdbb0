"""The queue's settings, declared once: name, default, bounds and help text.

The JobQueue's defaults, the ZMI Settings tab, the Plone registry schema (and
so its control panel) and their validation all come from ``SETTINGS``. Plain
Python, like the rest of ``queue/``: the UIs add their own widgets.
"""

from typing import NamedTuple


WEEK = 7 * 86400
# Longest retention: a hundred years, more than any archive needs.
MAX_DAYS = 36500


# Kinds of setting. INT: a whole number from minimum to maximum; BOOL: on or
# off; TEXT: at most ``maximum`` characters; ADDRESS: an email address (or
# empty) of at most ``maximum`` characters.
INT, BOOL, TEXT, ADDRESS = "int", "bool", "text", "address"


class Setting(NamedTuple):
    """One setting of a JobQueue (an attribute of the same name)."""

    name: str
    title: str
    default: object
    minimum: int
    maximum: int
    description: str = ""
    kind: str = INT
    # False: a Plone site has its own (its MailHost and from-address), so the
    # setting is left out of its registry and control panel.
    plone: bool = True


class Settings(tuple):
    """The table of settings, with the rules that join two of them."""

    def defaults(self):
        """``{name: default}``: a new JobQueue's settings."""
        return {setting.name: setting.default for setting in self}

    def of(self, jobs):
        """``{name: value}`` of a JobQueue; the default for a setting added
        after that JobQueue was stored."""
        return {setting.name: getattr(jobs, setting.name, setting.default) for setting in self}

    def in_plone(self):
        """The settings a Plone site keeps in its registry."""
        return [setting for setting in self if setting.plone]

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
            problem = _problem(setting, value)
            if problem:
                problems.append((setting.title, problem))
        low, high = values.get("backoff_seconds"), values.get("backoff_max")
        if None not in (low, high) and high < low:
            problems.append((self.get("backoff_max").title, "must not be below the backoff"))
        # A Plone site's mail comes from its own address ("mail_from" is not
        # in its values, so not checked there).
        if values.get("notify_submitter") and values.get("mail_from") == "":
            problems.append((self.get("mail_from").title, "is needed to send notifications"))
        return problems


def _problem(setting, value):
    """What is wrong with one value of ``setting``, or None."""
    if setting.kind == BOOL:
        return None if isinstance(value, bool) else f"must be on or off (got {value!r})"
    if setting.kind in (TEXT, ADDRESS):
        if not isinstance(value, str):
            return f"must be text (got {value!r})"
        if len(value) > setting.maximum:
            return f"must be at most {setting.maximum} characters (got {len(value)})"
        if setting.kind == ADDRESS and value and not is_address(value):
            return f"must be one email address like reports@example.org (got {value!r})"
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be a whole number (got {value!r})"
    if not setting.minimum <= value <= setting.maximum:
        return f"must be between {setting.minimum} and {setting.maximum} (got {value})"
    return None


def is_address(text):
    """True for one plain email address (``name@host.domain``): no display
    name, no list, nothing that could add a mail header."""
    local, at, domain = text.partition("@")
    return bool(
        at and local and "." in domain.strip(".") and "@" not in domain
        and not any(char.isspace() or char in ',;<>()[]"\\' or ord(char) < 32 for char in text))


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
            "Workers purge finished jobs (and their results) this many days after "
            "they finished, except jobs marked Keep; 0 keeps them forever."),
    Setting("time_limit", "Time limit (seconds)", 1800, 1, WEEK,
            "Longest a report may run before it is stopped and fails as timed out "
            "(a report type may set its own)."),
    Setting("max_queued_per_user", "Waiting jobs per user", 20, 0, 10000,
            "How many jobs one person may have waiting to run; a submission past "
            "it is refused. 0: no limit."),
    # Notifications (notifications.py). Off by default: mail goes to people
    # only once somebody has made sure the mail server takes it.
    Setting("notify_submitter", "Notify the submitter", False, 0, 1,
            "Send an email with a link to the person who queued a report when it "
            "finishes or fails.", kind=BOOL),
    Setting("mail_host", "Mail host", "MailHost", 0, 200,
            "Id or path of the MailHost that sends notifications (found from the "
            "queue upwards); its SMTP server, port and login are used.",
            kind=TEXT, plone=False),
    Setting("mail_from", "From address", "", 0, 254,
            "Sender of the notifications.", kind=ADDRESS, plone=False),
    Setting("notify_address", "Fallback address", "", 0, 254,
            "Where a notification goes when its owner has no email address "
            "(empty: no mail then).", kind=ADDRESS),
    Setting("attach_limit_mb", "Attach results up to (MB)", 0, 0, 25,
            "Attach the result to its mail when it is no larger than this; 0: never "
            "attach, only link.", kind=INT),
))
