"""Run an asyncreports command under zconsole.

``zconsole run etc/zope.conf THIS_FILE worker --once``: zconsole boots Zope
from zope.conf and executes this file with ``app`` bound.
"""

import logging
import sys

from collective.asyncreports.cli import LOG_FORMAT
from collective.asyncreports.cli import run


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    # argv is: zconsole run ZOPE_CONF THIS_FILE COMMAND [OPTIONS]
    sys.exit(run(globals()["app"], ["-C", sys.argv[2], *sys.argv[4:]]))
