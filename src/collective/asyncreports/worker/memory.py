"""Memory upkeep: ghosting what a worker wrote, trimming the heap, measuring RSS."""

import ctypes
import threading

from persistent import Persistent


def forget(obj):
    """Turn a committed object, and the persistent objects it holds that were
    written with it (data chunks, blobs), back into ghosts.

    The worker never reads a finished job or its result again; left in the
    connection's cache, results would keep their PDFs in memory.
    """
    serial = obj._p_serial
    todo = [obj]
    while todo:
        current = todo.pop()
        if current._p_jar is None or current._p_changed is not False:
            continue  # not stored, a ghost already, or changed since
        todo.extend(value for value in getattr(current, "__dict__", {}).values()
                    if isinstance(value, Persistent) and value._p_serial == serial)
        current._p_deactivate()


def _malloc_trim():
    """glibc's malloc_trim, or None elsewhere."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _malloc_trim()


def give_back_memory():
    """Return freed heap pages to the OS.

    Jobs allocate in several threads, so glibc spreads them over arenas, and
    freed memory stays resident in holes between live blocks: without this a
    worker's RSS grows by half over its first thousands of jobs (``make bench``,
    scenario 8) though it holds no more objects.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def rss_megabytes():
    """Resident memory of this process in MB (Linux /proc; else peak RSS)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def over_memory(limit):
    """True when ``limit`` (MB, ``--max-memory``) is set and resident memory exceeds it."""
    return limit is not None and rss_megabytes() > limit


class EveryNJobs:
    """Counts jobs, shared by threads; ``add`` says when another ``every`` are done."""

    def __init__(self, every):
        self.every = every
        self.count = 0
        self.lock = threading.Lock()

    def add(self, jobs):
        """Count ``jobs`` more; True each time the count passes a multiple of ``every``."""
        with self.lock:
            before = self.count
            self.count += jobs
            return self.count // self.every != before // self.every
