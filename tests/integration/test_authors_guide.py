"""Run the test add-on's own tests (tests/addons/authorsguide/tests.py), written
as an add-on author would from the README, with the suite."""

import sys

from tests.processes import ADDONS


if str(ADDONS) not in sys.path:
    sys.path.append(str(ADDONS))

from authorsguide.tests import OrdersByRegionTests  # noqa: E402


__all__ = ["OrdersByRegionTests"]
