"""The ``asyncreports`` console script: worker, submit, jobs, show, health.

``main`` reads the command line once, sets up logging, boots Zope from
``-C zope.conf`` (or, for the commands that only read, opens its database
without starting Zope) and runs the command; ``run`` runs a command line on a root
that is already booted (zconsole, tests).
"""

import logging
import logging.handlers
import sys

import transaction
from AccessControl import Unauthorized
from Acquisition import aq_base
from Testing.makerequest import makerequest
from zope.component.hooks import setSite
from zope.globalrequest import setRequest

from collective.asyncreports.cli.arguments import parse_arguments
from collective.asyncreports.cli.commands import COMMANDS
from collective.asyncreports.errors import AsyncReportsError
from collective.asyncreports.errors import ConfigurationError
from collective.asyncreports.worker.boot import boot
from collective.asyncreports.worker.boot import check_config_file
from collective.asyncreports.worker.boot import open_root
from collective.asyncreports.worker.boot import wait_for_zeo
from collective.asyncreports.worker.boot import zeo_addresses
from collective.asyncreports.worker.exit_codes import EXIT_UNHEALTHY
from collective.asyncreports.worker.exit_codes import EXIT_USAGE


LOG_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"

# Commands that only read queues: they open the database without starting
# Zope (no ZCML), in a third of the time (worker.boot.open_root).
READ_ONLY_COMMANDS = frozenset({"jobs", "show", "health", "metrics"})


def main(argv=None):
    """Console script entry point."""
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    log_file = getattr(args, "log_file", None)
    try:
        # A WatchedFileHandler notices when logrotate has moved its file.
        handler = (logging.handlers.WatchedFileHandler(log_file) if log_file
                   else logging.StreamHandler(sys.stderr))
    except OSError as exc:
        return _error(f"cannot open the log file: {exc}")
    logging.basicConfig(level=getattr(args, "log_level", "INFO"), format=LOG_FORMAT,
                        handlers=[handler])
    if not getattr(args, "config", None):
        return _error("-C ZOPE_CONF is required")
    try:
        if args.command == "health":
            unreachable = _unreachable_zeo_servers(args.config)
            if unreachable:
                sys.stdout.write("".join(line + "\n" for line in unreachable))
                return EXIT_UNHEALTHY
        app = (open_root if args.command in READ_ONLY_COMMANDS else boot)(args.config)
    except ConfigurationError as exc:
        return _error(str(exc))
    return execute(app, args)


def run(app, argv, out=sys.stdout):
    """Run a command line on an already booted ``app`` (zconsole, tests)."""
    return execute(app, parse_arguments(argv), out)


def execute(app, args, out=sys.stdout):
    """Run the parsed command ``args`` on ``app``; return the exit code."""
    app = makerequest(aq_base(app))
    setRequest(app.REQUEST)
    try:
        return COMMANDS[args.command](app, args, out)
    except (AsyncReportsError, Unauthorized) as exc:
        transaction.abort()
        return _error(" ".join(str(exc).split()) or type(exc).__name__)
    finally:
        setSite(None)


def _error(message):
    """Say what is wrong in one line on stderr; return the usage exit code."""
    sys.stderr.write(f"asyncreports: error: {message}\n")
    return EXIT_USAGE


def _unreachable_zeo_servers(zope_conf):
    problems = []
    for host, port in zeo_addresses(check_config_file(zope_conf)):
        try:
            wait_for_zeo([(host, port)], interval=1.0, timeout=3.0)
        except ConfigurationError as exc:
            problems.append(str(exc))
    return problems
