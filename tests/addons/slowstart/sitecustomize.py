"""Test add-on: a worker that pauses before its first read of the database.

On PYTHONPATH of a worker (tests/system/test_zeo_crashes.py), this opens a window
between boot and the worker's start-up reads, so a test can freeze and kill
the real ZEO server while those reads wait for it.
"""

import time

from collective.asyncreports import logger
from collective.asyncreports.worker import loop


_queue_paths = loop.Worker.queue_paths


def queue_paths_after_a_pause(self):
    logger.info("slowstart: reading the queues in 2 s")
    time.sleep(2)
    return _queue_paths(self)


loop.Worker.queue_paths = queue_paths_after_a_pause
