"""Scenario 10's plain loop: the small report rendered REPEATS times, no ZODB.

    python smallprobe.py REPEATS ROWS

Renders asyncbench.round2's two-page document and exports it to PDF as the
worker does, and prints the seconds it took. One alone is the rate a worker
is compared with; two at once vs one is the machine's ceiling for 2 workers.
"""

import sys
import time

from asyncbench.round2 import small_document

from collective.asyncreports.rendering import exports


DEFAULTS = {"author": "admin", "header_text": "Bench queue small1"}


def main(argv):
    repeats, rows = int(argv[0]), int(argv[1])
    exports.export(small_document(rows), "pdf", defaults=DEFAULTS)  # imports and fonts
    started = time.perf_counter()
    for _ in range(repeats):
        exports.export(small_document(rows), "pdf", defaults=DEFAULTS)
    print(f"{time.perf_counter() - started:.4f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
