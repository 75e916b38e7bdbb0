"""The queue's clock: every method that depends on it takes ``now``."""

import time


def now_or_time(now):
    """``now``, or the current epoch seconds if it is None (tests pass times)."""
    return time.time() if now is None else now
