"""``make chaos``: the chaos soak (see tests/chaos/soak.py).

python tests/chaos.py [--seconds 600] [--seed N] [--jobs N] [--keep]
"""

import sys
from pathlib import Path


# The checkout's root, so ``tests.chaos`` and ``tests.processes`` import.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.chaos.soak import main  # noqa: E402


if __name__ == "__main__":
    sys.exit(main())
