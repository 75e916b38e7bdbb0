"""A complete local system for ``make run`` and the end-to-end tests.

ZEO server (FileStorage + blobs), a Zope WSGI instance as ZEO client and one
worker, all on 127.0.0.1, with configuration written under one home folder.
Every process started here is stopped here, by PID.
"""

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from collective.asyncreports.worker.host import pid_alive


QUEUE_ID = "asyncreports"
ADMIN = "admin"
PLONE_ID = "Plone"
EDITOR = "editor"
# Plone's default theme is a profile of its own: without it the site is unstyled.
PLONE_PROFILES = (
    "plone.app.contenttypes:default",
    "plonetheme.barceloneta:default",
    "collective.asyncreports:default",
)


def python_command(module, *args):
    """``python -m MODULE ARGS`` with this interpreter.

    With ``child_env``'s PYTHONPATH the child imports what this process
    imports: it works from a virtualenv and from buildout's ``bin/test``,
    whose eggs are on sys.path but whose scripts are not ours to find.
    """
    return [sys.executable, "-m", module, *map(str, args)]


def asyncreports_command(*args):
    """The ``asyncreports`` command line (``python -m``, see python_command)."""
    return python_command("collective.asyncreports.worker.cli", *args)


def child_env(env=None):
    """os.environ plus ``env``, with this process's sys.path added to PYTHONPATH."""
    merged = dict(os.environ, **(env or {}))
    merged["PYTHONPATH"] = os.pathsep.join(
        [path for path in [merged.get("PYTHONPATH"), *sys.path] if path])
    return merged


ZEO_CONF = """\
<zeo>
  address {zeo_host}:{zeo_port}
</zeo>
<filestorage 1>
  path {var}/Data.fs
  blob-dir {var}/blobs
</filestorage>
<eventlog>
  <logfile>
    path {var}/log/zeo.log
  </logfile>
</eventlog>
"""

ZOPE_CONF = """\
%define INSTANCE {home}
instancehome $INSTANCE
clienthome {var}
debug-mode off
<environment>
  CHAMELEON_CACHE {var}/cache
</environment>
<zodb_db main>
  <zeoclient>
    server {zeo_host}:{zeo_port}
    storage 1
    name zeostorage
{client_line}    blob-dir {var}/blobcache
    shared-blob-dir off
    cache-size 64MB
  </zeoclient>
  mount-point /
  # Objects each connection keeps in memory: this bounds a worker's memory.
  cache-size {cache_size}
</zodb_db>
"""

ZOPE_INI = """\
[app:zope]
use = egg:Zope#main
zope_conf = {etc}/zope.conf

[server:main]
use = egg:waitress#main
host = 127.0.0.1
port = {http_port}
threads = 4

[pipeline:main]
pipeline =
    egg:Zope#httpexceptions
    zope

[loggers]
keys = root

[handlers]
keys = eventlog

[formatters]
keys = generic

[logger_root]
level = INFO
handlers = eventlog

[handler_eventlog]
class = FileHandler
args = (r'{var}/log/instance.log', 'a')
level = INFO
formatter = generic

[formatter_generic]
format = %(asctime)s %(levelname)s [%(name)s] %(message)s
"""

SITE_ZCML = """\
<configure
    xmlns="http://namespaces.zope.org/zope"
    xmlns:five="http://namespaces.zope.org/five">
  <include package="Zope2.App" />
  <five:loadProducts file="meta.zcml" />
  <five:loadProducts />
  <include package="collective.asyncreports" />
{extra_includes}  <five:loadProductsOverrides />
</configure>
"""


# The order in which processes stop (lower first); anything not listed is a
# worker (``worker``, ``worker2``...).
STOP_ORDER = {"zope": 1, "zeo": 2}
# A stopping worker may take its grace (30 s by default), then up to 10 s for
# report code to notice it is interrupted, then up to 10 s for its last write.
WORKER_STOP_SECONDS = 90
LAUNCHER_STOP_SECONDS = WORKER_STOP_SECONDS + 2 * 30 + 10


def _is_worker(name):
    return STOP_ORDER.get(name, 0) == 0


class Instance:
    """One home folder: ``etc/`` (configuration) and ``var/`` (data, logs, pids)."""

    def __init__(self, home, zeo_port=8100, http_port=8080, extra_packages=(), env=None,
                 cache_size=10000, zeo_host="127.0.0.1", command_prefix=(), zeo_client=None):
        self.home = Path(home).resolve()
        # Where zeo.conf's server listens and zope.conf's ZEO client connects.
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
            "client_line": (f"    client {self.zeo_client}\n    var {self.var}\n"
                            if self.zeo_client else ""),
            "extra_includes": "".join(
                f'  <include package="{name}" />\n' for name in self.extra_packages),
        }
        for name, template in (("zeo.conf", ZEO_CONF), ("zope.conf", ZOPE_CONF),
                               ("zope.ini", ZOPE_INI), ("site.zcml", SITE_ZCML)):
            (self.etc / name).write_text(template.format(**values))

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

    def start(self, name, args, log_name=None, env=None):
        """Start a child process, its output going to var/log/NAME.out."""
        log = open(self.var / "log" / f"{log_name or name}.out", "ab")
        process = subprocess.Popen(
            [*self.command_prefix, *args], cwd=self.home, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=dict(self.env, **(env or {})))
        log.close()
        process.name = name
        self.processes.append(process)
        self._write_pids()
        return process

    def start_zeo(self):
        process = self.start("zeo", python_command("ZEO.runzeo", "-C", self.etc / "zeo.conf"))
        wait_for_port(self.zeo_port, process, host=self.zeo_host)
        return process

    def bootstrap(self, *extra):
        """Create the admin user and the /asyncreports queue when missing."""
        subprocess.run(
            python_command("collective.asyncreports.devinstance", "bootstrap",
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
        """Stop one child by PID: SIGTERM, then SIGKILL after ``timeout``."""
        if process.poll() is None:
            try:
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
        hand their jobs back, which needs the ZEO server), then Zope, then ZEO."""
        for process in sorted(self.processes, key=lambda p: STOP_ORDER.get(p.name, 0)):
            self.stop(process, worker_timeout if _is_worker(process.name) else 30)

    def _write_pids(self):
        # "PID NAME" lines, this (launching) process first: ``make stop``
        # signals it alone, and it stops the others in order.
        lines = [f"{os.getpid()} launcher"] + [f"{p.pid} {p.name}" for p in self.processes]
        (self.var / "run.pids").write_text("\n".join(lines) + "\n")


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


def bootstrap(instance, password, plone=False):
    """In a booted Zope: admin user and queue, created once (runs in a child process)."""
    import transaction

    from collective.asyncreports.worker.boot import boot
    from collective.asyncreports.zmi.queue import manage_addAsyncReportQueue

    app = boot(instance.zope_conf)
    users = app.acl_users
    if users.getUserById(ADMIN) is None:
        users._doAddUser(ADMIN, password, ["Manager"], [])
    if QUEUE_ID not in app.objectIds():
        manage_addAsyncReportQueue(app, QUEUE_ID, "Async reports")
    app._getOb(QUEUE_ID).server_url = instance.url
    transaction.commit()
    if plone:
        bootstrap_plone(app, instance, users.getUserById(ADMIN).__of__(users))
    app._p_jar.close()


def plone_installed():
    """True when the [plone] extra is installed."""
    import importlib.util

    return importlib.util.find_spec("Products.CMFPlone") is not None


def bootstrap_plone(app, instance, admin):
    """Create /Plone with the theme, the add-on, a demo folder and an Editor, once."""
    import transaction
    from AccessControl.SecurityManagement import newSecurityManager
    from AccessControl.SecurityManagement import noSecurityManager
    from Testing.makerequest import makerequest
    from zope.component.hooks import setSite
    from zope.globalrequest import setRequest

    app = makerequest(app)
    setRequest(app.REQUEST)
    newSecurityManager(app.REQUEST, admin)
    try:
        if PLONE_ID not in app.objectIds():
            from Products.CMFPlone.factory import addPloneSite

            print("creating the Plone site /Plone (takes a while the first time)", flush=True)
            site = addPloneSite(
                app, PLONE_ID, title="Async reports demo", setup_content=False,
                extension_ids=PLONE_PROFILES)
            setSite(site)
            _plone_demo_content(site, instance.editor_password())
            transaction.commit()
        site = app._getOb(PLONE_ID)
        setSite(site)
        # A site made by an older bootstrap (var/ is kept) may lack a profile.
        setup = site.portal_setup
        for profile in PLONE_PROFILES:
            if setup.getLastVersionForProfile(profile) == "unknown":
                print(f"installing {profile} in /{PLONE_ID}", flush=True)
                setup.runAllImportStepsFromProfile(f"profile-{profile}")
        from plone import api

        api.portal.set_registry_record(
            "collective.asyncreports.server_url", f"{instance.url}/{PLONE_ID}")
        # plone.app.theming leaves requests to 127.0.0.1 unthemed by default;
        # the site is served there, so theme every host name.
        api.portal.set_registry_record(
            "plone.app.theming.interfaces.IThemeSettings.hostnameBlacklist", [])
        transaction.commit()
    finally:
        setSite(None)
        noSecurityManager()


def _plone_demo_content(site, editor_password):
    from plone import api

    site.acl_users.userFolderAddUser(EDITOR, editor_password, ["Member", "Editor"], [])
    api.user.get(EDITOR).setMemberProperties(
        {"email": "editor@example.org", "fullname": "Demo Editor"})
    demo = api.content.create(site, "Folder", id="demo", title="Demo folder")
    for number, title in enumerate(("Welcome", "Annual plan", "Meeting notes"), 1):
        page = api.content.create(demo, "Document", id=f"page-{number}", title=title)
        api.content.transition(page, "publish")
    news = api.content.create(demo, "Folder", id="news", title="News")
    api.content.create(news, "News Item", id="launch", title="The reports service is live")
    api.content.transition(demo, "publish")


def stop_background_run(instance):
    """``make stop``: signal the launcher recorded in var/run.pids, once.

    The launcher stops its children in order (see ``Instance.stop_all``); a
    second signal to a worker would make it stop at once, before it handed
    its jobs back. Children left by a launcher that died are stopped here,
    in the same order.
    """
    pids_file = instance.var / "run.pids"
    if not pids_file.exists():
        print("nothing to stop (no var/run.pids)")
        return 0
    entries = _read_pids(pids_file)
    launcher = entries[0][0] if entries and entries[0][1] == "launcher" else None
    if launcher is not None and pid_alive(launcher):
        os.kill(launcher, signal.SIGTERM)
        print(f"stopping (workers, then Zope, then ZEO; up to {LAUNCHER_STOP_SECONDS}s)",
              flush=True)
        _wait_for_exit(launcher, LAUNCHER_STOP_SECONDS)
    children = sorted((entry for entry in entries if entry[1] != "launcher"),
                      key=lambda entry: STOP_ORDER.get(entry[1], 0))
    for pid, name in children:
        if pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            _wait_for_exit(pid, WORKER_STOP_SECONDS if _is_worker(name) else 30)
    pids_file.unlink(missing_ok=True)
    print("stopped")
    return 0


def _read_pids(path):
    """[(pid, name)] from var/run.pids ("PID NAME" lines; an old file has PIDs
    alone, the launcher first)."""
    entries = []
    for number, line in enumerate(path.read_text().splitlines()):
        pid, _, name = line.strip().partition(" ")
        if pid.isdigit():
            entries.append((int(pid), name or ("launcher" if number == 0 else "worker")))
    return entries


def _wait_for_exit(pid, timeout):
    """Wait for ``pid`` to exit; SIGKILL it after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.2)
    if pid_alive(pid):
        print(f"process {pid} did not stop in {timeout}s: killing it", flush=True)
        os.kill(pid, signal.SIGKILL)



def run(instance, grace=None, plone=None):
    """``make run``: start everything, print where it is, stop it all on Ctrl-C.

    ``grace`` is the worker's ``--grace``; ``plone=False`` makes no Plone site
    even when Plone is installed.
    """
    instance.write_configuration()
    password = instance.admin_password()
    plone = plone_installed() if plone is None else plone

    def handle(signum, frame):
        # From now on further signals only say what happens: stopping in
        # order must not be cut short (see Instance.stop_all).
        signal.signal(signal.SIGTERM, stopping)
        signal.signal(signal.SIGINT, stopping)
        raise KeyboardInterrupt

    def stopping(signum, frame):
        print("stopping in order: workers, then Zope, then ZEO; please wait", flush=True)

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    worker_timeout = WORKER_STOP_SECONDS
    try:
        instance.start_zeo()
        instance.bootstrap("--password", password, *(["--plone"] if plone else []))
        instance.start_zope()
        instance.start_worker(*(["--grace", grace] if grace is not None else []))
        worker_timeout = (grace or 30) + WORKER_STOP_SECONDS - 30
        plone_lines = ""
        if plone:
            plone_lines = (
                f"  Plone:      {instance.url}/{PLONE_ID} (Site Setup > Async reports)\n"
                f"  Editor:     {EDITOR} / {instance.editor_password()}\n"
            )
        print(f"""
collective.asyncreports is running (Ctrl-C or `make stop` stops it all)
  ZMI:        {instance.url}/manage_main
  Queue:      {instance.url}/{QUEUE_ID}/manage_queue
  Login:      {ADMIN} / {password}
{plone_lines}  ZEO server: 127.0.0.1:{instance.zeo_port} (data in {instance.var})
  Logs:       {instance.var}/log/
""", flush=True)
        while all(p.poll() is None for p in instance.processes):
            time.sleep(0.5)
        dead = [p.name for p in instance.processes if p.poll() is not None]
        print(f"{', '.join(dead)} exited; stopping everything (see var/log)", flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, stopping)
        signal.signal(signal.SIGINT, stopping)
        instance.stop_all(worker_timeout)
        (instance.var / "run.pids").unlink(missing_ok=True)
        print("stopped", flush=True)


def main(argv=None):
    """``python -m collective.asyncreports.devinstance run|stop|bootstrap``."""
    parser = argparse.ArgumentParser(prog="devinstance", description=__doc__)
    parser.add_argument("command", choices=["run", "stop", "bootstrap"])
    parser.add_argument("--home", default=".")
    parser.add_argument("--zeo-port", type=int, default=8100)
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--password", help="admin password (bootstrap)")
    parser.add_argument("--plone", action="store_true",
                        help="also create the Plone site /Plone (bootstrap)")
    parser.add_argument("--no-plone", action="store_true",
                        help="make no Plone site, even with Plone installed (run)")
    parser.add_argument("--grace", type=float,
                        help="the worker's --grace: seconds running jobs may finish (run)")
    args = parser.parse_args(argv)
    instance = Instance(args.home, args.zeo_port, args.http_port)
    if args.command == "run":
        return run(instance, grace=args.grace, plone=False if args.no_plone else None)
    if args.command == "stop":
        return stop_background_run(instance)
    return bootstrap(instance, args.password or instance.admin_password(), plone=args.plone)


if __name__ == "__main__":
    sys.exit(main())
