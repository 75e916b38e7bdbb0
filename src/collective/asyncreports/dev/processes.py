"""One home folder's configuration and processes, started and stopped by PID."""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path

from collective.asyncreports.dev import postgresql
from collective.asyncreports.worker.host import pid_alive


# The order in which processes stop (lower first); anything not listed is a
# worker (``worker``, ``worker2``...).
STOP_ORDER = {"zope": 1, "zeo": 2, "postgresql": 2}
# The storages a home can use: a ZEO server (FileStorage + blobs) or RelStorage
# on a PostgreSQL server of its own (dev.postgresql).
STORAGES = ("zeo", "postgresql")
# The signal that stops a process cleanly, sent to it alone: PostgreSQL's "fast"
# shutdown (SIGTERM is its "smart" one, which waits for every client to leave;
# and its own children must not be signalled, the server stops them).
STOP_SIGNALS = {"postgresql": signal.SIGINT}
# A stopping worker may take its grace (30 s by default), then up to 10 s for
# report code to notice it is interrupted, then up to 10 s for its last write.
WORKER_STOP_SECONDS = 90
LAUNCHER_STOP_SECONDS = WORKER_STOP_SECONDS + 2 * 30 + 10

# The files write_configuration writes into etc/, each from templates/NAME.in
# (zeo.conf only for ZEO); zope.conf's storage is templates/storage-STORAGE.conf.in.
CONFIGURATION_FILES = ("zeo.conf", "zope.conf", "zope.ini", "site.zcml")


def python_command(module, *args):
    """``python -m MODULE ARGS`` with this interpreter.

    With ``child_env``'s PYTHONPATH the child imports what this process
    imports: it works from a virtualenv and from buildout's ``bin/test``,
    whose eggs are on sys.path but whose scripts are not ours to find.
    """
    return [sys.executable, "-m", module, *map(str, args)]


def asyncreports_command(*args):
    """The ``asyncreports`` command line (``python -m``, see python_command)."""
    return python_command("collective.asyncreports.cli", *args)


def child_env(env=None):
    """os.environ plus ``env``, with this process's sys.path added to PYTHONPATH."""
    merged = dict(os.environ, **(env or {}))
    merged["PYTHONPATH"] = os.pathsep.join(
        [path for path in [merged.get("PYTHONPATH"), *sys.path] if path])
    return merged


def template(name):
    """The text of templates/NAME.in, a ``str.format`` template."""
    return (files(__package__) / "templates" / f"{name}.in").read_text(encoding="utf-8")


def is_worker(name):
    return STOP_ORDER.get(name, 0) == 0


class Instance:
    """One home folder: ``etc/`` (configuration) and ``var/`` (data, logs, pids)."""

    def __init__(self, home, zeo_port=8100, http_port=8080, extra_packages=(), env=None,
                 cache_size=10000, zeo_host="127.0.0.1", command_prefix=(), zeo_client=None,
                 storage="zeo", durable=True, db_clients=()):
        """``zeo_host`` and ``zeo_port``: the database server's address, ZEO's or
        PostgreSQL's (``storage``). ``durable=False``: a PostgreSQL without fsync
        (tests). ``db_clients``: more networks (CIDR) PostgreSQL lets in."""
        if storage not in STORAGES:
            raise ValueError(f"storage {storage!r} is not one of {', '.join(STORAGES)}")
        self.home = Path(home).resolve()
        self.storage = storage
        self.durable = durable
        self.db_clients = tuple(db_clients)
        # Where the database server listens and zope.conf's client connects.
        self.zeo_host = zeo_host
        # Put before every command start() runs, e.g. ("ip", "netns", "exec", "NS").
        self.command_prefix = tuple(command_prefix)
        self.cache_size = cache_size
        # A ZEO client name gives zope.conf a persistent cache (var/NAME-1.zec).
        self.zeo_client = zeo_client
        # Add-on packages whose configure.zcml the instance and workers load.
        self.extra_packages = tuple(extra_packages)
        self.env = child_env(env)
        self.etc = self.home / "etc"
        self.var = self.home / "var"
        self.zeo_port = int(zeo_port)
        self.http_port = int(http_port)
        self.processes = []

    @property
    def zope_conf(self):
        return self.etc / "zope.conf"

    @property
    def database_name(self):
        """The name of the database server's process: ``zeo`` or ``postgresql``."""
        return self.storage

    def describe_database(self):
        """One line for people: which server, where, and where its data is."""
        if self.storage == "postgresql":
            return (f"PostgreSQL: {self.zeo_host}:{self.zeo_port}, database "
                    f"{postgresql.DATABASE} (RelStorage, data in {self.var}/postgresql)")
        return f"ZEO server: {self.zeo_host}:{self.zeo_port} (data in {self.var})"

    def cluster(self):
        """The PostgreSQL cluster of this home (dev.postgresql); raises
        postgresql.Unavailable when PostgreSQL cannot run here."""
        return postgresql.Cluster(self.var, self.zeo_host, self.zeo_port,
                                  durable=self.durable, allow=self.db_clients)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.http_port}"

    def write_configuration(self):
        """(Re)write etc/ for the current ports; var/ and its data are kept."""
        for folder in (self.etc, self.var / "log", self.var / "blobs", self.var / "cache"):
            folder.mkdir(parents=True, exist_ok=True)
        values = {
            "home": self.home, "etc": self.etc, "var": self.var,
            "zeo_host": self.zeo_host, "zeo_port": self.zeo_port, "http_port": self.http_port,
            "cache_size": self.cache_size,
            "extra_includes": "".join(
                f'  <include package="{name}" />\n' for name in self.extra_packages),
            "imports": "%import relstorage\n" if self.storage == "postgresql" else "",
            "storage": self.storage_section(),
        }
        for name in CONFIGURATION_FILES:
            if name == "zeo.conf" and self.storage != "zeo":
                continue
            (self.etc / name).write_text(template(name).format(**values))

    def storage_section(self):
        """zope.conf's storage section for this home's database, indented for
        ``<zodb_db>`` (also what ``open_db`` opens)."""
        values = {
            "var": self.var, "db_host": self.zeo_host, "db_port": self.zeo_port,
            "client_line": (f"    client {self.zeo_client}\n    var {self.var}\n"
                            if self.zeo_client else ""),
            "dsn": postgresql.dsn(self.zeo_host, self.zeo_port),
        }
        return template(f"storage-{self.storage}.conf").format(**values)

    def open_db(self, **options):
        """A ZODB DB on this home's database, for a process of our own (tests,
        tools): the same storage section zope.conf has, without the ZEO client's
        persistent cache. ``options`` go to ZEO.DB (ZEO only)."""
        if self.storage == "zeo":
            import ZEO

            return ZEO.DB((self.zeo_host, self.zeo_port), **options)
        import ZODB.config

        return ZODB.config.databaseFromString(self.zodb_config())

    def zodb_config(self):
        """A ZODB ZConfig text (``<zodb>`` with the storage section) for ZODB.config."""
        imports = "%import relstorage\n" if self.storage == "postgresql" else ""
        return f"{imports}<zodb>\n{self.storage_section()}</zodb>\n"

    def admin_password(self):
        """The admin password, made on first use and kept in var/ (mode 600)."""
        return self._password("admin-password")

    def editor_password(self):
        """The Plone editor's password, made on first use and kept in var/ (mode 600)."""
        return self._password("editor-password")

    def _password(self, name):
        path = self.var / name
        if not path.exists():
            path.write_text(secrets.token_urlsafe(12))
            path.chmod(0o600)
        return path.read_text().strip()

    # -- processes ----------------------------------------------------------------

    def start(self, name, args, log_name=None, env=None, **popen):
        """Start a child process, its output going to var/log/NAME.out."""
        log = open(self.var / "log" / f"{log_name or name}.out", "ab")
        process = subprocess.Popen(
            [*self.command_prefix, *args], cwd=popen.pop("cwd", self.home), stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
            env=dict(self.env, **(env or {})), **popen)
        log.close()
        process.name = name
        self.processes.append(process)
        self._write_pids()
        return process

    def start_database(self):
        """Start this home's database server (ZEO or PostgreSQL) and wait until it serves."""
        if self.storage == "postgresql":
            return self.start_postgresql()
        return self.start_zeo()

    def start_zeo(self):
        process = self.start("zeo", python_command("ZEO.runzeo", "-C", self.etc / "zeo.conf"))
        wait_for_port(self.zeo_port, process, host=self.zeo_host)
        return process

    def start_postgresql(self):
        """initdb once, start the server, createdb once (RelStorage makes its tables
        on first use). Raises postgresql.Unavailable when it cannot run here."""
        cluster = self.cluster()
        cluster.init()
        process = self.start("postgresql", cluster.command(), cwd=cluster.folder)
        try:
            cluster.wait_until_ready(process)
            cluster.create_database()
        except BaseException:
            self.stop(process)
            raise
        return process

    def bootstrap(self, *extra):
        """Create the admin user and the /asyncreports queue when missing
        (``python -m collective.asyncreports.dev bootstrap``, see dev.bootstrap)."""
        subprocess.run(
            python_command("collective.asyncreports.dev", "bootstrap",
                           "--home", self.home, "--zeo-port", self.zeo_port,
                           "--http-port", self.http_port, *extra),
            check=True, cwd=self.home, env=self.env)

    def start_zope(self):
        process = self.start("zope", python_command("Zope2.Startup.serve", self.etc / "zope.ini"))
        wait_for_port(self.http_port, process, timeout=120)
        return process

    def start_worker(self, *args, name="worker", env=None):
        return self.start(name, asyncreports_command("-C", self.zope_conf, "worker", *args),
                          env=env)

    def run_command(self, *args, timeout=300, check=True):
        """Run ``asyncreports -C zope.conf ARGS`` to the end; return the CompletedProcess."""
        return subprocess.run(
            asyncreports_command("-C", self.zope_conf, *args),
            capture_output=True, text=True, timeout=timeout, check=check, cwd=self.home,
            env=self.env)

    def stop(self, process, timeout=30):
        """Stop one child by PID: SIGTERM (its STOP_SIGNALS one), then SIGKILL after
        ``timeout``."""
        if process.poll() is None:
            try:
                if process.name in STOP_SIGNALS:
                    os.kill(process.pid, STOP_SIGNALS[process.name])
                else:
                    os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process in self.processes:
            self.processes.remove(process)
            self._write_pids()

    def stop_all(self, worker_timeout=WORKER_STOP_SECONDS):
        """Stop every child in order, one signal each: workers first (they
        hand their jobs back, which needs the database), then Zope, then the
        database server."""
        for process in sorted(self.processes, key=lambda p: STOP_ORDER.get(p.name, 0)):
            self.stop(process, worker_timeout if is_worker(process.name) else 30)

    def _write_pids(self):
        # "PID NAME" lines, this (launching) process first: ``make stop``
        # signals it alone, and it stops the others in order.
        lines = [f"{os.getpid()} launcher"] + [f"{p.pid} {p.name}" for p in self.processes]
        (self.var / "run.pids").write_text("\n".join(lines) + "\n")


def child_pids(pid):
    """The PIDs of ``pid``'s children (Linux /proc)."""
    try:
        return [int(child) for child in
                Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def kill_server(process, timeout=30):
    """SIGKILL a database server with all its processes, as a crash of its machine
    would: its process group, and each child by PID (PostgreSQL's leave the group).
    True when they are all gone within ``timeout`` seconds: a new server will not
    start beside the old one's shared memory."""
    children = child_pids(process.pid)
    for kill, pid in [(os.killpg, process.pid)] + [(os.kill, child) for child in children]:
        try:
            kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()
    deadline = time.monotonic() + timeout
    while any(pid_alive(pid) for pid in children):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def wait_for_port(port, process=None, timeout=60, host="127.0.0.1"):
    """Wait until host:port accepts connections; fail early if ``process`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.name} exited with {process.returncode}; see var/log")
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout}s")


def free_port():
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
