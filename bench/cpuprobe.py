"""CPU probe for scenario 7: how much faster can two processes go on this machine?

    python cpuprobe.py REPEATS

Renders the 1,000-row inventory table REPEATS times (the same CPU-bound work
as a report, with no ZODB) and prints the seconds it took. The bench runs one
alone, then two at once: 2 x alone / together is the machine's own ceiling for
"2 workers vs 1" at that moment.
"""

import sys
import time

from scenarios import _inventory_rows
from scenarios import _render


def main(argv):
    repeats = int(argv[0])
    rows = _inventory_rows(1000)
    _render(rows[:20])
    started = time.perf_counter()
    for _ in range(repeats):
        _render(rows)
    print(f"{time.perf_counter() - started:.4f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
