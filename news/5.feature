``make bench``: the throughput and latency the queue must reach, measured with real workers
on ZEO (see "Performance" in the README).
