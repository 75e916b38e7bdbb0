"""A worker that reports on its own memory, for ``run.py --trace-memory`` (diagnosis).

    python traced_worker.py MODE SNAPSHOT_PREFIX -C zope.conf worker ...

Runs the ordinary ``asyncreports`` command line. Each SIGUSR1 writes a snapshot
to SNAPSHOT_PREFIX.N (N = 0, 1, ...), which the bench compares:

- ``census``: live objects by type (gc), allocated blocks, the ZODB connection
  caches, and resident memory by kind of mapping (/proc/self/smaps). Cheap.
- ``tracemalloc``: a tracemalloc snapshot (allocation sites). Slows the
  worker down a lot; its timings mean nothing.
"""

import collections
import gc
import json
import os
import signal
import sys


def _smaps():
    kinds = collections.Counter()
    name = "?"
    try:
        with open("/proc/self/smaps") as smaps:
            for line in smaps:
                fields = line.split()
                if "-" in fields[0] and len(fields) >= 5:
                    path = fields[5] if len(fields) > 5 else ""
                    name = path if path.startswith("[") else ("file" if path else "anonymous")
                elif fields[0] == "Rss:":
                    kinds[name] += int(fields[1])
    except OSError:
        pass
    return dict(kinds)


def census():
    gc.collect()
    types = collections.Counter(type(obj).__qualname__ for obj in gc.get_objects())
    connections = []
    for obj in gc.get_objects():
        if type(obj).__name__ == "Connection" and type(obj).__module__ == "ZODB.Connection":
            cache = obj._cache
            connections.append({"objects": len(cache),
                                "non_ghosts": cache.cache_non_ghost_count,
                                "cache_size": obj._cache.cache_size})
    return {"types": dict(types.most_common(60)), "gc_objects": sum(types.values()),
            "allocated_blocks": sys.getallocatedblocks(), "connections": connections,
            "rss_kib_by_mapping": _smaps()}


def main(argv):
    mode, prefix, argv = argv[0], argv[1], argv[2:]
    if mode == "tracemalloc":
        import tracemalloc

        tracemalloc.start(8)
    taken = []

    def dump(signum, frame):
        path = f"{prefix}.{len(taken)}"
        if mode == "tracemalloc":
            import tracemalloc

            tracemalloc.take_snapshot().dump(path + ".tmp")
        else:
            with open(path + ".tmp", "w") as out:
                json.dump(census(), out)
        os.replace(path + ".tmp", path)
        taken.append(path)

    signal.signal(signal.SIGUSR1, dump)
    from collective.asyncreports.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
