"""A worker that samples its own stacks, for scenario 10's "where the time goes".

    python profiled_worker.py SAMPLES_PATH -C zope.conf worker ...

Runs the ordinary ``asyncreports`` command line. A thread looks at every
other thread's stack every 2 ms (``sys._current_frames``) and counts, per
function (file and name), the samples in which it is on the stack; on exit
(SIGTERM: the worker's own graceful stop) the counts go to SAMPLES_PATH as
JSON. Wall-clock samples: waiting for the ZEO server counts, as it should.
Jobs run in the worker's job threads, which cProfile would not see.
"""

import collections
import json
import sys
import threading
import time

from collective.asyncreports.cli import main as cli_main


INTERVAL = 0.002


class Sampler(threading.Thread):
    def __init__(self):
        super().__init__(name="sampler", daemon=True)
        self.counts = collections.Counter()
        self.busy = 0  # samples with a job thread inside the JobRunner
        self.stopping = threading.Event()

    def run(self):
        own = threading.get_ident()
        while not self.stopping.wait(INTERVAL):
            for ident, frame in sys._current_frames().items():
                if ident == own:
                    continue
                seen = set()
                while frame is not None:
                    code = frame.f_code
                    seen.add(f"{code.co_filename}:{code.co_name}")
                    frame = frame.f_back
                if any(name.endswith("worker/runner.py:run_batch") for name in seen):
                    self.busy += 1
                    self.counts.update(seen)


def main(argv):
    path, argv = argv[0], argv[1:]
    sampler = Sampler()
    sampler.start()
    started = time.monotonic()
    try:
        return cli_main(argv)
    finally:
        sampler.stopping.set()
        sampler.join()
        with open(path, "w") as out:
            json.dump({"interval_s": INTERVAL, "seconds": time.monotonic() - started,
                       "busy_samples": sampler.busy,
                       "counts": dict(sampler.counts.most_common(400))}, out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
