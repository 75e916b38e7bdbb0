"""The ``asyncreports`` console script: worker, submit, jobs, show."""

import argparse
import json
import logging
import logging.handlers
import math
import sys
import time

import transaction
from AccessControl import Unauthorized
from AccessControl.SecurityManagement import newSecurityManager
from AccessControl.SecurityManagement import noSecurityManager
from Acquisition import aq_base
from Acquisition import aq_chain
from Testing.makerequest import makerequest
from zope.component.hooks import setSite
from zope.component.interfaces import ISite
from zope.globalrequest import setRequest

from collective.asyncreports import validation
from collective.asyncreports.errors import AsyncReportsError
from collective.asyncreports.errors import ConfigurationError
from collective.asyncreports.interfaces import IAsyncReportQueue
from collective.asyncreports.locations import queue_paths
from collective.asyncreports.public_url import known_public_url
from collective.asyncreports.public_url import unknown_url_warning
from collective.asyncreports.queue import ALL_STATES
from collective.asyncreports.submission import submit
from collective.asyncreports.users import find_user
from collective.asyncreports.worker.boot import boot
from collective.asyncreports.worker.boot import check_config_file
from collective.asyncreports.worker.boot import wait_for_zeo
from collective.asyncreports.worker.boot import zeo_addresses
from collective.asyncreports.worker.health import queue_problems


LOG_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"
# Each job thread holds a database connection: more is a typo, not a plan.
MAX_CONCURRENCY = 64
MAX_PRIORITY = 1_000_000


def _parser():
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

    show = commands.add_parser("show", parents=[config, queue], help="show one job")
    show.add_argument("job_id", type=_text(validation.MAX_JOB_ID_LENGTH))
    show.add_argument("--json", action="store_true")
    return parser


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line on stderr, exit 2 (``-h`` shows the usage)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


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


def _params(pairs):
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise AsyncReportsError(f"--param {pair!r}: expected NAME=VALUE")
        params[name.strip()] = value
    return params


def _iso(timestamp):
    if not timestamp:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def job_json(job, queue):
    """The public JSON shape of a job (CLI ``--json``)."""
    data = job.as_dict()
    for name in ("created", "started", "finished", "not_before"):
        data[name] = _iso(data.get(name))
    data["result_url"] = queue.public_url(job.result_path) if job.result_path else None
    data["error_url"] = queue.public_url(job.error_path) if job.error_path else None
    return data


def _find_queue(app, path):
    if path is None:
        paths = queue_paths(app._p_jar.root())
        if len(paths) != 1:
            found = ", ".join(paths) or "none"
            raise AsyncReportsError(f"choose a queue with --queue (queues: {found})")
        path = paths[0]
    try:
        queue = app.unrestrictedTraverse(path.lstrip("/"))
    except (AttributeError, KeyError, LookupError, TypeError) as exc:
        raise AsyncReportsError(f"no Async Report Queue at {path!r}") from exc
    # The queue itself, not something that acquires from it (/asyncreports/results).
    if not IAsyncReportQueue.providedBy(aq_base(queue)):
        raise AsyncReportsError(f"no Async Report Queue at {path!r}")
    # The site holding the queue (a Plone site) has local components: its
    # report types and settings are found only while it is the current site.
    setSite(_nearest_site(queue))
    return queue


def _nearest_site(obj):
    for item in aq_chain(obj):
        if ISite.providedBy(item):
            return item
    return None


def _print_job(job, out):
    out.write(f"{job.id}  {job.state:<9} {job.report:<20} {job.path}  "
              f"owner={job.owner_id} attempts={job.attempts}/{job.max_attempts}\n")


def command_worker(app, args, out):
    from collective.asyncreports.worker.loop import Worker

    for path in args.queue or ():
        _find_queue(app, path)  # a queue that is not there: exit 2, not a traceback
    setSite(None)

    worker = Worker(app._p_jar.db(), queues=args.queue, concurrency=args.concurrency,
                    poll_interval=args.poll_interval, max_jobs=args.max_jobs,
                    max_memory=args.max_memory, grace=args.grace, once=args.once)
    worker.install_signal_handlers()
    return worker.run()


def command_submit(app, args, out):
    queue = _find_queue(app, args.queue)
    user = find_user(queue, args.user)
    newSecurityManager(None, user)
    try:
        job = submit(queue, args.report, args.path, _params(args.param),
                     priority=args.priority)
        transaction.commit()
    finally:
        noSecurityManager()
    out.write(job.id + "\n")
    return 0


def command_jobs(app, args, out):
    queue = _find_queue(app, args.queue)
    jobs, total = queue.job_queue().list_jobs(
        state=args.state, owner=args.owner, size=args.limit)
    if args.json:
        json.dump([job_json(job, queue) for job in jobs], out, indent=2)
        out.write("\n")
    else:
        for job in jobs:
            _print_job(job, out)
        out.write(f"{len(jobs)} of {total} job(s)\n")
    return 0


def command_show(app, args, out):
    queue = _find_queue(app, args.queue)
    job = queue.job_queue().get(args.job_id)
    data = job_json(job, queue)
    if args.json:
        json.dump(data, out, indent=2)
        out.write("\n")
    else:
        for name, value in data.items():
            if name != "history":
                out.write(f"{name:>16}: {value}\n")
        for event in job.history:
            out.write(f"{_iso(event['time'])}  {event['event']:<10} "
                      f"{event.get('actor') or '-'}  {event.get('detail') or ''}\n")
    return 0


def command_health(app, args, out):
    paths = args.queue or queue_paths(app._p_jar.root())
    problems = [] if paths else ["no queues: add an Async Report Queue"]
    warnings = []
    now = time.time()
    for path in paths:
        queue = _find_queue(app, path)
        problems += queue_problems(path, queue.job_queue(), now, args.max_wait, args.window)
        if known_public_url(queue) is None:
            # Wrong links are no outage: said, but health still passes.
            warnings.append(f"warning: queue {path}: {unknown_url_warning()}")
    for problem in problems:
        out.write(problem + "\n")
    if not problems:
        out.write(f"ok: {len(paths)} queue(s) served\n")
    for warning in warnings:
        out.write(warning + "\n")
    return 1 if problems else 0


COMMANDS = {
    "worker": command_worker,
    "submit": command_submit,
    "jobs": command_jobs,
    "show": command_show,
    "health": command_health,
}


def run(app, argv, out=sys.stdout):
    """Run a command on an already booted ``app`` (used by zconsole too)."""
    args = _parser().parse_args(argv)
    app = makerequest(aq_base(app))
    setRequest(app.REQUEST)
    try:
        return COMMANDS[args.command](app, args, out)
    except (AsyncReportsError, Unauthorized) as exc:
        transaction.abort()
        sys.stderr.write(f"asyncreports: error: {_one_line(exc)}\n")
        return 2
    finally:
        setSite(None)


def _one_line(exc):
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv=None):
    """Console script entry point."""
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    log_file = getattr(args, "log_file", None)
    try:
        # A WatchedFileHandler notices when logrotate has moved its file.
        handler = (logging.handlers.WatchedFileHandler(log_file) if log_file
                   else logging.StreamHandler(sys.stderr))
    except OSError as exc:
        sys.stderr.write(f"asyncreports: error: cannot open the log file: {exc}\n")
        return 2
    logging.basicConfig(level=getattr(args, "log_level", "INFO"), format=LOG_FORMAT,
                        handlers=[handler])
    if not getattr(args, "config", None):
        sys.stderr.write("asyncreports: error: -C ZOPE_CONF is required\n")
        return 2
    try:
        if args.command == "health":
            unreachable = _unreachable_zeo_servers(args.config)
            if unreachable:
                sys.stdout.write("".join(line + "\n" for line in unreachable))
                return 1
        app = boot(args.config)
    except ConfigurationError as exc:
        sys.stderr.write(f"asyncreports: error: {exc}\n")
        return 2
    return run(app, argv)


def _unreachable_zeo_servers(zope_conf):
    problems = []
    for host, port in zeo_addresses(check_config_file(zope_conf)):
        try:
            wait_for_zeo([(host, port)], interval=1.0, timeout=3.0)
        except ConfigurationError as exc:
            problems.append(str(exc))
    return problems


if __name__ == "__main__":
    sys.exit(main())
