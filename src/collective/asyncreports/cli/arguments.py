"""The ``asyncreports`` command line: its commands, options and their bounds.

Every value is checked here, before Zope boots: a bad one exits with code
2 and one line on stderr (``asyncreports: error: ...``), never a traceback.
"""

import argparse
import math

from collective.asyncreports import validation
from collective.asyncreports.queue.states import ALL_STATES
from collective.asyncreports.worker.exit_codes import EXIT_USAGE


# Each job thread holds a database connection: more is a typo, not a plan.
MAX_CONCURRENCY = 64
MAX_PRIORITY = 1_000_000


def parse_arguments(argv):
    """``argv`` (without the program name) parsed; SystemExit(2) on a usage error."""
    return parser().parse_args(argv)


def parser():
    """The ``asyncreports`` argument parser: every command and its options."""
    # Options taken before and after the command (``bin/worker`` adds its
    # own -C and ``worker``): defaults suppressed, so one given before the
    # command is not reset by the command's parser.
    config = _Parser(add_help=False)
    config.add_argument(
        "-C", "--config", metavar="ZOPE_CONF", default=argparse.SUPPRESS, type=_path,
        help="the instance's zope.conf (a ZEO client configuration)")
    config.add_argument("--log-level", default=argparse.SUPPRESS,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="default: INFO")
    config.add_argument(
        "--log-file", metavar="PATH", default=argparse.SUPPRESS, type=_path,
        help="log to this file instead of stderr (opened anew after logrotate moves it)")
    queue = _Parser(add_help=False)
    queue.add_argument(
        "--queue", metavar="PATH", type=_path,
        help="physical path of the queue, e.g. /asyncreports (default: the only one)")

    parser = _Parser(
        prog="asyncreports", parents=[config],
        description="Run and inspect collective.asyncreports queues.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    worker = commands.add_parser(
        "worker", parents=[config], help="claim and run jobs")
    worker.add_argument("--once", action="store_true",
                        help="process what is due, then exit (for cron / systemd timers)")
    worker.add_argument("--max-jobs", type=_positive_int, metavar="N",
                        help="exit with code 3 after N jobs, so a supervisor recycles "
                             "the process")
    worker.add_argument("--max-memory", type=_positive_int, metavar="MB",
                        help="after a job, exit with code 3 when resident memory exceeds MB")
    worker.add_argument("--grace", type=_seconds, default=30.0, metavar="S",
                        help="on SIGTERM, how long running jobs may finish before they "
                             "are handed back (default 30)")
    worker.add_argument("--concurrency", type=_concurrency, default=1, metavar="N",
                        help="jobs run at once, each with its own connection "
                             f"(default 1, at most {MAX_CONCURRENCY})")
    worker.add_argument("--poll-interval", type=_seconds, default=5.0, metavar="S",
                        help="longest sleep between queue checks; commits wake it sooner")
    worker.add_argument("--queue", metavar="PATH", action="append", type=_path,
                        help="serve only this queue (repeatable; default: every queue)")

    submit_cmd = commands.add_parser(
        "submit", parents=[config, queue], help="queue a report; prints the job id")
    submit_cmd.add_argument("report", type=_text(), help="report name, e.g. object-inventory")
    submit_cmd.add_argument("--path", required=True, help="target object path")
    submit_cmd.add_argument("--param", action="append", default=[], metavar="K=V",
                            help="report parameter (repeatable)")
    submit_cmd.add_argument("--user", required=True, metavar="USERID", type=_text(),
                            help="the user the report runs as and belongs to")
    submit_cmd.add_argument("--priority", type=_priority, default=0,
                            help="higher runs first (default 0)")
    submit_cmd.add_argument("--format", type=_text(40), default=None,
                            help="result format the report offers: pdf, csv or xlsx "
                                 "(default: the report's first, pdf for the built-in ones)")

    jobs = commands.add_parser("jobs", parents=[config, queue], help="list jobs")
    jobs.add_argument("--state", choices=ALL_STATES)
    jobs.add_argument("--owner", metavar="USERID", type=_text())
    jobs.add_argument("--limit", type=_positive_int, default=100)
    jobs.add_argument("--json", action="store_true")

    health = commands.add_parser(
        "health", parents=[config],
        help="exit non-zero, one line per problem, when the ZEO server is down, no worker "
             "serves a queue, jobs wait too long or are held by a silent or dead worker")
    health.add_argument("--queue", metavar="PATH", action="append", type=_path,
                        help="check only this queue (repeatable; default: every queue)")
    health.add_argument("--max-wait", type=_seconds, default=300.0, metavar="S",
                        help="a due job waiting longer than S seconds is a problem (300)")
    health.add_argument("--window", type=_seconds, metavar="S",
                        help="a worker is alive if it heartbeat within S seconds, and a "
                             "queue served by --once runs if one ended within S seconds "
                             "(default: the queue's lease time)")

    metrics = commands.add_parser(
        "metrics", parents=[config],
        help="print the queues' metrics in the Prometheus text format (as the queue's "
             "metrics URL)")
    metrics.add_argument("--queue", metavar="PATH", action="append", type=_path,
                         help="only this queue (repeatable; default: every queue)")
    metrics.add_argument("--openmetrics", action="store_true",
                         help="the OpenMetrics text format instead of Prometheus' classic one")

    show = commands.add_parser("show", parents=[config, queue], help="show one job")
    show.add_argument("job_id", type=_text(validation.MAX_JOB_ID_LENGTH))
    show.add_argument("--json", action="store_true")
    keep = commands.add_parser(
        "keep", parents=[config, queue],
        help="mark a job kept (retention never purges it), or with --off take the mark off")
    keep.add_argument("job_id", type=_text(validation.MAX_JOB_ID_LENGTH))
    keep.add_argument("--off", action="store_true", help="no longer keep it")
    _schedule_commands(commands, config, queue)
    return parser


def _schedule_commands(commands, config, queue):
    """``schedule add|list|pause|resume|remove|run-now``: recurring reports."""
    schedule = commands.add_parser(
        "schedule", parents=[config], help="repeat a report on a cron expression")
    actions = schedule.add_subparsers(dest="schedule_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", parents=[config, queue],
                             help="make a schedule; prints its id")
    add.add_argument("report", type=_text(), help="report name, e.g. object-inventory")
    add.add_argument("--path", required=True, type=_text(), help="target object path")
    add.add_argument("--user", required=True, metavar="USERID", type=_text(),
                     help="the owner: the report runs as this user and belongs to them")
    add.add_argument("--cron", required=True, metavar="EXPR", type=_text(200),
                     help="five-field cron expression, e.g. '30 2 * * *' (02:30 daily)")
    add.add_argument("--timezone", default="UTC", metavar="TZ", type=_text(64),
                     help="IANA time zone the expression is read in (default UTC)")
    add.add_argument("--param", action="append", default=[], metavar="K=V",
                     help="report parameter (repeatable)")
    add.add_argument("--format", type=_text(40), default=None,
                     help="result format the report offers (default: its first)")
    add.add_argument("--missed", choices=["run-once", "skip"], default="run-once",
                     help="ticks missed while no worker ran: one job for them all "
                          "(run-once, the default) or none (skip)")
    listing = actions.add_parser("list", parents=[config, queue], help="list schedules")
    listing.add_argument("--json", action="store_true")
    for name, help in (("pause", "stop firing"), ("resume", "fire again from the next tick"),
                       ("remove", "delete a schedule (its jobs stay)"),
                       ("run-now", "queue its job now, as its owner; prints the job id")):
        action = actions.add_parser(name, parents=[config, queue], help=help)
        action.add_argument("schedule_id", metavar="ID", type=_text(40))


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line on stderr, exit 2 (``-h`` shows the usage)."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _number(kind, minimum, maximum):
    """An argparse type: a finite number of ``kind`` from minimum to maximum."""
    def convert(text):
        try:
            value = kind(validation.text(text, "value", max_length=40))
        except validation.BadInput as exc:
            raise argparse.ArgumentTypeError(str(exc).partition(": ")[2]) from None
        except ValueError:
            word = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"must be {word} (got {text[:40]!r})") from None
        if not math.isfinite(value) or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"must be from {_plain(minimum)} to {_plain(maximum)} (got {text[:40]})")
        return value
    convert.__name__ = kind.__name__
    return convert


def _plain(number):
    return f"{number:.0f}" if number == int(number) else f"{number:g}"


def _text(max_length=validation.MAX_TEXT_LENGTH):
    """An argparse type: one piece of valid text (validation.text_problem)."""
    def convert(text):
        problem = validation.text_problem(text, max_length)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return text
    convert.__name__ = "text"
    return convert


# Bounds of the command line's numbers: beyond them a value is a typo.
DAY = 86_400.0
_positive_int = _number(int, 1, 10**9)
_seconds = _number(float, 0.001, 365 * DAY)
_concurrency = _number(int, 1, MAX_CONCURRENCY)
_priority = _number(int, -MAX_PRIORITY, MAX_PRIORITY)
_path = _text()
