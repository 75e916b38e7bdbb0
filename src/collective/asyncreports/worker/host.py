"""What a worker can know about other workers on its own machine.

A worker that starts where another one died (``make stop`` cut short, a
SIGKILL, an OOM kill) need not wait for that one's leases to expire: its PID
is gone, so its jobs are taken back at once (``JobQueue.reap_worker``).

A PID means something only among processes of one boot and one PID
namespace: two machines may share a host name, and containers on one host
(``--network host``) share its name but not its PIDs. So a record is judged
only when its ``host_key`` (boot id and PID namespace) is this process's.
"""

import os
import socket


def host_key():
    """This process's boot id and PID namespace, or None where unknown (no /proc)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            boot_id = boot.read().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
    return f"{boot_id}:{namespace}"


def pid_alive(pid):
    """True if a process with this PID runs here (or may: no permission to ask)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True


def is_dead_here(record, key=None, hostname=None):
    """True if ``record``'s worker ran on this machine and its process is gone.

    Our own PID counts as alive: several workers may run in one process.
    """
    key = host_key() if key is None else key
    hostname = socket.gethostname() if hostname is None else hostname
    return (
        key is not None
        and record.host_key == key
        and record.hostname == hostname
        and record.stopped is None
        and isinstance(record.pid, int)
        and record.pid != os.getpid()
        and not pid_alive(record.pid)
    )

