"""Put on PYTHONPATH to run a process whose wall clock runs fast (schedule tests).

From ASYNCREPORTS_TEST_CLOCK_ORIGIN (epoch seconds) on, time.time() runs
ASYNCREPORTS_TEST_CLOCK_SPEED times as fast: every process started with the
same two values reads the same clock (``fast_time`` computes it for the test
itself). Monotonic clocks and sleeps are left alone: asyncio and ZEO keep
their real timeouts, so only what is measured in epoch seconds (schedule
ticks, leases, heartbeat times) runs fast.
"""

import os
import time


def fast_time(real, origin, speed):
    """The fast clock's epoch seconds at the real epoch seconds ``real``."""
    return origin + (real - origin) * speed


_speed = float(os.environ.get("ASYNCREPORTS_TEST_CLOCK_SPEED", "1"))
if _speed != 1:
    _origin = float(os.environ["ASYNCREPORTS_TEST_CLOCK_ORIGIN"])
    _real_time = time.time

    def _fast():
        return fast_time(_real_time(), _origin, _speed)

    time.time = _fast
