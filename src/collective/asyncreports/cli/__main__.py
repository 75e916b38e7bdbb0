"""``python -m collective.asyncreports.cli``: the ``asyncreports`` command."""

import sys

from collective.asyncreports.cli import main


sys.exit(main())
