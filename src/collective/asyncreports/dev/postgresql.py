"""A private PostgreSQL cluster for one home folder: initdb, the server's command, createdb.

``make run STORAGE=postgresql`` and the tests with ``STORAGE=postgresql`` keep a
cluster in ``var/postgresql/data``, listening on one host and port (TCP only: no
Unix socket in a system folder), with trust authentication for the connections
``pg_hba.conf`` allows (127.0.0.1 and the hosts ``allow`` names). The server is
started and stopped by ``Instance`` like any other child, by PID.

PostgreSQL refuses to run as root: as root the cluster belongs to, and the server
runs as, Debian's ``postgres`` user (made by the ``postgresql`` package that
``make postgresql-deps`` installs), else ``nobody``.
"""

import glob
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path


DATABASE = "asyncreports"
# The cluster's superuser, named by initdb -U (not after the OS user).
USER = "asyncreports"
# OS users a server started by root may run as, the first that exists.
SERVER_USERS = ("postgres", "nobody")
# util-linux's setpriv (Debian: essential) starts the server as that user.
# Where Debian's postgresql-NN packages put the server's programs.
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"
INSTALL_HINT = ("install PostgreSQL's server (as root: `make postgresql-deps`, which installs "
                "Debian's postgresql package) or set PG_BINDIR to the folder of initdb")


class Unavailable(Exception):
    """PostgreSQL cannot be started here; the message says why."""


def bindir():
    """The folder of initdb and postgres: $PG_BINDIR, PATH, then the newest Debian one."""
    candidates = [os.environ.get("PG_BINDIR")]
    on_path = shutil.which("initdb")
    candidates.append(on_path and str(Path(on_path).parent))
    candidates += sorted(glob.glob(DEBIAN_BINDIRS),
                         key=lambda path: int(Path(path).parent.name)
                         if Path(path).parent.name.isdigit() else 0, reverse=True)
    for candidate in candidates:
        if candidate and all((Path(candidate) / name).is_file()
                             for name in ("initdb", "postgres", "pg_isready", "createdb")):
            return Path(candidate)
    raise Unavailable(f"PostgreSQL's server programs (initdb, postgres) were not found: "
                      f"{INSTALL_HINT}")


def server_user():
    """The pwd entry the server runs as when we are root; None otherwise."""
    if os.geteuid() != 0:
        return None
    for name in SERVER_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise Unavailable(f"running as root and none of the users {', '.join(SERVER_USERS)} "
                      "exists for PostgreSQL to run as")


def dsn(host, port):
    """The libpq connection string of the queue's database."""
    return f"dbname='{DATABASE}' user='{USER}' host='{host}' port='{port}'"


class Cluster:
    """``var/postgresql/data`` of one home: made once, then served on ``host:port``."""

    def __init__(self, var, host, port, durable=True, allow=()):
        """``durable=False`` (tests) turns fsync off: safe when processes die, not the
        machine. ``allow``: more client networks (CIDR) that may connect, e.g. a test LAN."""
        self.folder = Path(var) / "postgresql"
        self.data = self.folder / "data"
        self.host = host
        self.port = int(port)
        self.durable = durable
        self.allow = tuple(allow)
        self.bindir = bindir()
        self.user = server_user()

    def program(self, name):
        return str(self.bindir / name)

    def run_as_server_user(self):
        """Keyword arguments for subprocess: as the server's user when we are root."""
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def init(self):
        """Run initdb once (a kept var/ keeps its cluster) and allow the client networks."""
        if not (self.data / "PG_VERSION").exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            if self.user is not None:
                self._let_server_user_in()
            shutil.rmtree(self.data, ignore_errors=True)  # a half-made one
            result = subprocess.run(
                [self.program("initdb"), "-D", str(self.data), "-U", USER, "--auth=trust",
                 "-E", "UTF8", "--no-locale", "--no-sync"],
                capture_output=True, text=True, cwd=self.folder, **self.run_as_server_user())
            if result.returncode != 0:
                raise Unavailable(f"initdb failed ({result.returncode}): "
                                  f"{(result.stderr or result.stdout).strip()[-2000:]}")
        hba = self.data / "pg_hba.conf"
        lines = hba.read_text().splitlines()
        wanted = [f"host all all {network} trust" for network in self.allow]
        missing = [line for line in wanted if line not in lines]
        if missing:
            hba.write_text("\n".join(lines + missing) + "\n")

    def _let_server_user_in(self):
        """The server's user owns var/postgresql and may reach it (a temporary home is 0700)."""
        os.chown(self.folder, self.user.pw_uid, self.user.pw_gid)
        self.folder.chmod(0o700)
        for parent in self.folder.parents:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)  # search only: names stay unlisted

    def command(self):
        """The postgres server's command line: one TCP address, no Unix socket.

        As root it starts with ``setpriv`` to the server's user, which execs
        postgres (its PID is the server's), also behind a command prefix that
        needs root (``ip netns exec``)."""
        settings = {
            "listen_addresses": self.host,
            "port": self.port,
            "unix_socket_directories": "",
            # Each RelStorage connection of a process holds two: load and store.
            "max_connections": 200,
            "log_min_messages": "error",
        }
        if not self.durable:
            settings.update(fsync="off", full_page_writes="off")
        args = [self.program("postgres"), "-D", str(self.data)]
        if self.user is not None:
            args[:0] = ["setpriv", f"--reuid={self.user.pw_uid}", f"--regid={self.user.pw_gid}",
                        "--clear-groups", "--"]
        for name, value in settings.items():
            args += ["-c", f"{name}={value}"]
        return args

    def wait_until_ready(self, process, timeout=60):
        """Wait until the server accepts connections; fail early if ``process`` died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"PostgreSQL exited with {process.returncode}; see var/log/postgresql.out")
            ready = subprocess.run(
                [self.program("pg_isready"), "-q", "-h", self.host, "-p", str(self.port),
                 "-U", USER, "-d", "postgres"], capture_output=True)
            if ready.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL does not accept connections on {self.host}:{self.port} "
                           f"after {timeout}s")

    def create_database(self):
        """createdb the queue's database unless it exists (RelStorage makes its tables)."""
        result = subprocess.run(
            [self.program("createdb"), "-h", self.host, "-p", str(self.port), "-U", USER,
             "-E", "UTF8", DATABASE], capture_output=True, text=True)
        if result.returncode != 0 and "already exists" not in result.stderr:
            raise RuntimeError(f"createdb failed: {result.stderr.strip()}")
