"""Put on PYTHONPATH to run a process that looks like it runs on another host.

ASYNCREPORTS_TEST_HOSTNAME replaces what socket.gethostname() returns, so a
worker on this machine plays one on another machine (whose PIDs it cannot see).
"""

import os
import socket


_hostname = os.environ.get("ASYNCREPORTS_TEST_HOSTNAME")
if _hostname:
    def _other_hostname():
        return _hostname

    socket.gethostname = _other_hostname
