"""Put on PYTHONPATH to run a process whose wall clock is ahead (clock-skew tests).

ASYNCREPORTS_TEST_CLOCK_AHEAD seconds are added to time.time(); monotonic
clocks are left alone, as on a real machine whose clock is set wrong.
"""

import os
import time


_ahead = float(os.environ.get("ASYNCREPORTS_TEST_CLOCK_AHEAD", "0"))
if _ahead:
    _real_time = time.time

    def _time_ahead():
        return _real_time() + _ahead

    time.time = _time_ahead
