"""``make pip-check``: install the built wheel the ordinary way, with pip, and run it.

In a temporary directory:

1. build the sdist and, from it, the wheel (``python -m build``, build dependencies pinned
   by constraints.txt), and check that the wheel carries every file of the package that git
   tracks (templates, ZCML, profiles, static files, locales, ...);
2. make a fresh venv and install the wheel's ``[plone]`` extra and the ``Plone``
   meta-package with ``-c constraints.txt``, from a wheelhouse kept between runs under
   ``~/.cache`` (``PIP_CHECK_CACHE`` overrides) and filled with ``pip wheel`` from pip's
   own indexes (its configuration, as for ``make install``) when a pin is missing from it;
   check ``pip check``, that Products.CMFPlone stays 6.1.5, that no test package came with
   it, and that the installed package has the same files;
3. make an instance with ``mkwsgiinstance`` and a ZEO server with ``runzeo``, on free ports
   on 127.0.0.1: the instance's ``zope.conf`` becomes a ZEO client with a persistent cache
   (a ``client`` name), its ``site.zcml`` includes the package after
   ``<five:loadProducts />``, its ``zope.ini`` logs through ``WatchedFileHandler`` (as the
   docs/admin/pip.rst says);
4. with ``zconsole run`` and a set-up script: a ZMI queue and a Plone site made with
   plone.distribution's Classic UI distribution, the add-on activated, a folder in it;
5. start ``runwsgi etc/zope.ini``, queue a Content inventory of the folder over the REST
   API (``POST @reports``), run ``asyncreports -C etc/zope.conf worker --once``, see the
   job done (``GET`` its URL), fetch the PDF over HTTP as the manager (anonymous does not
   get it) and check its text with pypdf; check that the instance's client cache file
   exists, that *My reports* renders, and that the access log is opened anew after it is
   moved away.

Everything it starts is stopped by PID and the temporary directory removed, whatever
happens. Exit code 0 and "pip-check: OK" when all is well. ``--keep`` keeps the directory
(under /dev/shm when it has room, or ``PIP_CHECK_TMPDIR``).

Time here (2 shared cores): about 85 s with the wheelhouse filled; the first run fills it
with ``pip wheel`` from the indexes, about two minutes more.
"""

import argparse
import base64
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from buildout_check import HOST
from buildout_check import Check
from buildout_check import Failure
from buildout_check import free_port
from buildout_check import http_get
from buildout_check import last_line
from buildout_check import run_check


ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "collective.asyncreports"
PLONE_RELEASE = "6.1.5"
# Test-only packages the [plone] extra must not bring into production (zope.testbrowser
# is not one of them: Zope itself requires it).
TEST_PACKAGES = ("plone.app.testing", "plone.testing", "pypdf", "playwright", "schemathesis")

SETUP_SCRIPT = '''\
"""Run by ``zconsole run``: ``app`` is the Zope root; the last argument the instance's URL."""
import sys

import transaction
from plone import api
from plone.distribution.api import site as site_api
from zope.component.hooks import setSite

from collective.asyncreports.zmi.queue import manage_addAsyncReportQueue


url = sys.argv[-1]
manage_addAsyncReportQueue(app, "asyncreports", "Async reports")
app.asyncreports.server_url = url
transaction.commit()
site = site_api.create(app, "classic", {
    "site_id": "Plone", "title": "Reports", "setup_content": False,
    "default_language": "en", "portal_timezone": "UTC"})
setSite(site)
api.addon.install("collective.asyncreports")
api.portal.set_registry_record("collective.asyncreports.server_url", url + "/Plone")
docs = api.content.create(site, "Folder", id="docs", title="Documents")
api.content.create(docs, "Document", id="minutes", title="Meeting minutes")
api.content.create(docs, "Document", id="budget", title="Budget 2026")
transaction.commit()
# The root user folder is a PAS once Plone is installed: it lists no user names.
admin = app.acl_users.getUserById("admin") is not None
queues = [path for path in ("asyncreports", "Plone/portal_asyncreports")
          if app.unrestrictedTraverse(path, None) is not None]
print(f"SETUP-DONE admin={admin} queues={','.join(queues)}")
'''

ZEO_CONF = """\
<zeo>
  address {host}:{port}
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

# The database section mkwsgiinstance writes, and the ZEO client that replaces it.
FILESTORAGE = re.compile(r"<zodb_db main>.*?</zodb_db>", re.S)
ZEO_CLIENT = """\
%import ZEO
<zodb_db main>
  <zeoclient>
    server {host}:{port}
    storage 1
    name zeostorage
    # A persistent client cache (var/zeoclient-1.zec) that survives restarts.
    client zeoclient
    var $INSTANCE/var
    cache-size 64MB
    blob-dir $INSTANCE/var/blobcache
    shared-blob-dir off
  </zeoclient>
  mount-point /
</zodb_db>"""


def package_files():
    """The files of the package under src/ (relative to src/), as git tracks them."""
    try:
        listed = subprocess.run(["git", "ls-files", "src"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        listed = [str(p.relative_to(ROOT)) for p in (ROOT / "src").rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and ".egg-info" not in str(p)]
    return sorted(name.removeprefix("src/") for name in listed
                  if not name.endswith((".pyc", ".mo")))


def basic_auth(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def cache_dir():
    """Wheels of the pinned distributions, kept between runs (PIP_CHECK_CACHE overrides)."""
    if os.environ.get("PIP_CHECK_CACHE"):
        return Path(os.environ["PIP_CHECK_CACHE"]).expanduser().resolve()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "collective.asyncreports" / "pip-check"


def scratch_dir():
    """Where the temporary directory goes: PIP_CHECK_TMPDIR, else /dev/shm when it has room.

    The venv is ~30,000 files; on a disk mounted with ``discard`` removing them takes a
    minute and more, in memory no time.
    """
    if os.environ.get("PIP_CHECK_TMPDIR"):
        return os.environ["PIP_CHECK_TMPDIR"]
    shm = "/dev/shm"
    if os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 * 1024**3:
        return shm
    return None


def pip_env():
    """This environment with pip's own settings (as make install), outside any venv."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


class PipCheck(Check):
    def __init__(self, keep=False):
        self.keep = keep
        self.begin = time.monotonic()
        self.tmp = Path(tempfile.mkdtemp(prefix="asyncreports-pip-check-", dir=scratch_dir()))
        self.logs = self.tmp / "check-logs"
        self.logs.mkdir()
        self.env = pip_env()
        self.processes = []
        self.zeo_port = free_port()
        self.http_port = free_port()
        self.password = secrets.token_urlsafe(12)
        self.venv = self.tmp / "venv"
        self.bin = self.venv / "bin"
        self.instance = self.tmp / "instance"
        self.zope_conf = self.instance / "etc" / "zope.conf"

    # -- the steps ------------------------------------------------------------------

    def build(self):
        dist = self.tmp / "dist"
        env = dict(self.env, PIP_CONSTRAINT=str(ROOT / "constraints.txt"))
        saved, self.env = self.env, env
        try:
            self.run("build", [sys.executable, "-m", "build", "--outdir", dist, ROOT],
                     timeout=300)
        finally:
            self.env = saved
        [self.wheel] = dist.glob("*.whl")
        names = set(zipfile.ZipFile(self.wheel).namelist())
        missing = [name for name in package_files() if name not in names]
        if missing:
            raise Failure(f"the wheel lacks {len(missing)} file(s) of the package: "
                          f"{', '.join(missing[:20])}")
        kinds = sorted({Path(name).suffix for name in names if not name.endswith(".py")})
        self.say(f"built {self.wheel.name} from the sdist: {len(names)} files, every one "
                 f"git tracks under src/ ({' '.join(kinds)})")

    def install(self):
        self.run("venv", [sys.executable, "-m", "venv", "--without-pip", self.venv],
                 timeout=120)
        pip = [sys.executable, "-m", "pip", "--python", self.bin / "python"]
        requirements = ["-c", ROOT / "constraints.txt",
                        f"{PACKAGE}[plone] @ {self.wheel.as_uri()}", "Plone"]
        wheelhouse = cache_dir() / "wheelhouse"
        wheelhouse.mkdir(parents=True, exist_ok=True)
        offline = [*pip, "install", "--no-compile", "--no-index", "--find-links", wheelhouse,
                   *requirements]
        try:
            self.run("pip-install", offline, timeout=600)
            source = f"from the wheelhouse {wheelhouse}"
        except Failure:
            # First run, or new pins: the wheelhouse gets them from pip's indexes.
            self.say(f"filling the wheelhouse {wheelhouse} from pip's indexes")
            self.run("pip-wheel", [sys.executable, "-m", "pip", "wheel", "--wheel-dir",
                                   wheelhouse, *requirements], timeout=1200)
            self.run("pip-install", offline, timeout=600)
            source = "from pip's indexes (through the wheelhouse)"
        self.run("pip-check", [*pip, "check"], timeout=120)
        versions = dict(line.split("==", 1) for line in self.run_output(
            "pip-freeze", [*pip, "freeze", "--all"], timeout=120).split() if "==" in line)
        lower = {name.lower().replace("_", "-").replace(".", "-"): version
                 for name, version in versions.items()}
        for name, expected in (("Products.CMFPlone", PLONE_RELEASE), ("Plone", PLONE_RELEASE)):
            found = lower.get(name.lower().replace(".", "-"))
            if found != expected:
                raise Failure(f"{name} is {found}, not {expected}")
        test_only = [name for name in TEST_PACKAGES
                     if name.lower().replace(".", "-") in lower]
        if test_only:
            raise Failure(f"the [plone] extra installed test packages: {test_only}")
        site_packages = Path(self.run_output("site-packages", [
            self.bin / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            timeout=60).strip())
        missing = [name for name in package_files() if not (site_packages / name).is_file()]
        if missing:
            raise Failure(f"the installed package lacks {', '.join(missing[:20])}")
        self.say(f"fresh venv {source}: {len(versions)} distributions, pip check clean, "
                 "Plone and "
                 f"Products.CMFPlone {PLONE_RELEASE}, no test packages, every package file "
                 "installed")

    def make_instance(self):
        self.run("mkwsgiinstance", [self.bin / "mkwsgiinstance", "-d", self.instance,
                                    "-u", f"admin:{self.password}"], timeout=120)
        conf = self.zope_conf.read_text()
        if not FILESTORAGE.search(conf):
            raise Failure("mkwsgiinstance's zope.conf has no <zodb_db main> section")
        conf = FILESTORAGE.sub(
            lambda _: ZEO_CLIENT.format(host=HOST, port=self.zeo_port), conf)
        self.zope_conf.write_text(conf)
        zcml = self.instance / "etc" / "site.zcml"
        text = zcml.read_text()
        if "<five:loadProducts />" not in text:
            raise Failure("mkwsgiinstance's site.zcml has no <five:loadProducts />")
        zcml.write_text(text.replace(
            "<five:loadProducts />",
            f'<five:loadProducts />\n  <include package="{PACKAGE}" />', 1))
        ini = self.instance / "etc" / "zope.ini"
        text = ini.read_text()
        for old, new in (("port = 8080", f"port = {self.http_port}"),
                         ("class = FileHandler", "class = logging.handlers.WatchedFileHandler")):
            if old not in text:
                raise Failure(f"mkwsgiinstance's zope.ini has no '{old}'")
            text = text.replace(old, new)
        ini.write_text(text)
        zeo = self.tmp / "zeo"
        (zeo / "log").mkdir(parents=True)
        (zeo / "zeo.conf").write_text(ZEO_CONF.format(host=HOST, port=self.zeo_port, var=zeo))
        self.say(f"mkwsgiinstance: {self.instance} (ZEO client with a persistent cache, "
                 f"the add-on in site.zcml, port {self.http_port}); zeo.conf on "
                 f"port {self.zeo_port}")

    def start_servers(self):
        zeo = self.start("runzeo", [self.bin / "runzeo", "-C", self.tmp / "zeo" / "zeo.conf"])
        self.wait_for_port(self.zeo_port, zeo, timeout=60)
        self.say(f"runzeo listens on {HOST}:{self.zeo_port}")
        script = self.tmp / "setup_site.py"
        script.write_text(SETUP_SCRIPT)
        output = self.run("zconsole-run", [self.bin / "zconsole", "run", self.zope_conf,
                                           script, self.url], timeout=600)
        done = re.findall(r"^SETUP-DONE admin=(\w+) queues=(\S*)$", output, re.M)
        if not done:
            raise Failure(f"zconsole run did not run the set-up script\n{output[-3000:]}")
        admin, queues = done[-1]
        if admin != "True":
            raise Failure("mkwsgiinstance's initial user admin is missing")
        if queues != "asyncreports,Plone/portal_asyncreports":
            raise Failure(f"queues after the set-up script: {queues}")
        self.say("zconsole run: ZMI queue /asyncreports, Plone site /Plone (Classic UI "
                 "distribution) with the add-on and its queue, folder /Plone/docs")
        instance = self.start("runwsgi", [self.bin / "runwsgi", self.instance / "etc/zope.ini"])
        self.wait_for_port(self.http_port, instance, timeout=180)
        caches = list((self.instance / "var").glob("zeoclient-*.zec"))
        if not caches:
            raise Failure("the instance has no persistent ZEO client cache in var/")
        self.say(f"runwsgi listens on {self.url}; client cache {caches[0].name}")

    def rest(self, method, url, body=None):
        """A plone.restapi call as the manager: (status, headers, JSON)."""
        request = urllib.request.Request(
            url, method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Accept": "application/json", "Content-Type": "application/json",
                     "Authorization": basic_auth("admin", self.password)})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.headers, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read().decode(errors="replace")

    def run_job(self):
        # Queued over HTTP (a Zope boot less than the command line), run by the worker
        # with the instance's own zope.conf.
        status, headers, job = self.rest("POST", f"{self.url}/Plone/docs/@reports",
                                         {"report": "content-inventory", "format": "pdf"})
        if status != 201:
            raise Failure(f"POST /Plone/docs/@reports: HTTP {status} {job}")
        job_url = headers["Location"]
        self.say(f"POST @reports: job {job['id']} queued ({job_url})")
        log = self.run("worker", [self.bin / "asyncreports", "-C", self.zope_conf, "worker",
                                  "--once"], timeout=300)
        self.say("asyncreports -C etc/zope.conf worker --once: "
                 + (last_line(log, " done in ") or "ran"))
        status, _, job = self.rest("GET", job_url)
        if status != 200 or job["state"] != "done":
            raise Failure(f"GET {job_url}: HTTP {status}\n{json.dumps(job, indent=2)}")
        return job

    def fetch_result(self, job):
        url = job["result"]["download"]
        if not url.startswith(f"{self.url}/Plone/reports/"):
            raise Failure(f"result URL {url} is not in the site's results folder")
        status, content_type, body = http_get(url)
        if status == 200 and body.startswith(b"%PDF"):
            raise Failure(f"anonymous GET {url} got the PDF")
        status, content_type, body = http_get(url, ("admin", self.password))
        if status != 200 or content_type != "application/pdf" or not body.startswith(b"%PDF"):
            raise Failure(f"GET {url} as admin: HTTP {status} {content_type}, "
                          f"{len(body)} bytes starting {body[:8]!r}")
        import pypdf

        text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(body)).pages)
        missing = [word for word in ("Content inventory", "Meeting minutes", "Budget 2026")
                   if word not in text]
        if missing:
            raise Failure(f"the PDF lacks {missing}; its text:\n{text}")
        self.say(f"GET {url}: anonymous refused; as admin a {len(body)}-byte PDF listing "
                 "the folder's pages")

    def check_pages_and_logs(self):
        access_log = self.instance / "var" / "log" / "Z4.log"
        moved = access_log.with_name("Z4.log.1")
        access_log.rename(moved)
        status, _, body = http_get(f"{self.url}/Plone/@@my-reports", ("admin", self.password))
        if status != 200 or b"Content inventory" not in body:
            raise Failure(f"@@my-reports as admin: HTTP {status}, its job not listed")
        for _ in range(50):
            if access_log.exists() and "my-reports" in access_log.read_text():
                break
            time.sleep(0.1)
        else:
            raise Failure("after the access log was moved away no new Z4.log was written")
        self.say("@@my-reports renders the job; the access log moved away is opened anew "
                 "(WatchedFileHandler, no copytruncate needed)")

    @property
    def url(self):
        return f"http://{HOST}:{self.http_port}"

    def cleanup(self):
        self.stop_all()
        if self.keep:
            self.say(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.say(f"removed {self.tmp}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)

    check = PipCheck(keep=args.keep)
    return run_check("pip-check", check, [
        check.build,
        check.install,
        check.make_instance,
        check.start_servers,
        lambda: check.fetch_result(check.run_job()),
        check.check_pages_and_logs,
    ])

if __name__ == "__main__":
    sys.exit(main())
