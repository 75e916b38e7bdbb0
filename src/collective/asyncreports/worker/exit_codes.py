"""Exit codes of ``asyncreports`` commands, for supervisors and scripts."""

# Stopped as asked, ``worker --once`` finished, or a command succeeded.
EXIT_OK = 0
# ``health`` found a problem (one line each on stdout).
EXIT_UNHEALTHY = 1
# A worker stopped at once by a second SIGTERM/SIGINT.
EXIT_STOPPED_AT_ONCE = 1
# Bad configuration or usage (argparse exits with 2 too).
EXIT_USAGE = 2
# Please restart me: --max-jobs or --max-memory reached, or a thread stuck
# in report code was abandoned.
EXIT_RECYCLE = 3
