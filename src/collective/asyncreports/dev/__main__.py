"""``python -m collective.asyncreports.dev run|stop|bootstrap``.

``run`` starts a ZEO server (or, with ``--storage postgresql``, a PostgreSQL
server for RelStorage), Zope and a worker under ``--home`` and stops them
all on Ctrl-C or SIGTERM (``make run``); ``stop`` stops a backgrounded ``run``
(``make stop``); ``bootstrap`` creates the admin user, the queue and, with
``--plone``, the Plone site (what ``run`` starts as a child process).
"""

import argparse
import sys

from collective.asyncreports.dev.bootstrap import bootstrap
from collective.asyncreports.dev.processes import STORAGES
from collective.asyncreports.dev.processes import Instance
from collective.asyncreports.dev.run import run
from collective.asyncreports.dev.run import stop_background_run


def main(argv=None):
    """``python -m collective.asyncreports.dev run|stop|bootstrap``."""
    parser = argparse.ArgumentParser(prog="python -m collective.asyncreports.dev",
                                     description=__doc__)
    parser.add_argument("command", choices=["run", "stop", "bootstrap"])
    parser.add_argument("--home", default=".")
    parser.add_argument("--zeo-port", type=int, default=8100,
                        help="the database server's port: ZEO's or PostgreSQL's")
    parser.add_argument("--storage", choices=STORAGES, default="zeo",
                        help="zeo (default) or postgresql: RelStorage on PostgreSQL (run)")
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--password", help="admin password (bootstrap)")
    parser.add_argument("--plone", action="store_true",
                        help="also create the Plone site /Plone (bootstrap)")
    parser.add_argument("--no-plone", action="store_true",
                        help="make no Plone site, even with Plone installed (run)")
    parser.add_argument("--grace", type=float,
                        help="the worker's --grace: seconds running jobs may finish (run)")
    args = parser.parse_args(argv)
    instance = Instance(args.home, args.zeo_port, args.http_port, storage=args.storage)
    if args.command == "run":
        return run(instance, grace=args.grace, plone=False if args.no_plone else None)
    if args.command == "stop":
        return stop_background_run(instance)
    return bootstrap(instance, args.password or instance.admin_password(), plone=args.plone)


if __name__ == "__main__":
    sys.exit(main())
