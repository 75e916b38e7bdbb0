"""``make buildout-check``: build the repository's buildout.cfg from PyPI and run it.

In a temporary directory, with a copy of the project (buildout.cfg,
buildout-versions.cfg, setup.py, src/, tests/):

1. check that buildout-versions.cfg is what constraints.txt generates;
2. bootstrap zc.buildout (pinned like buildout.cfg) in a throwaway venv;
3. run the buildout on free ports, from PyPI only (no pip or buildout user
   configuration), with a shared egg and download cache under ~/.cache so a
   second run is fast;
4. start the ZEO server and the Zope instance in the foreground (as the
   systemd units of docs/admin/systemd.rst do), create an Async Report Queue and a folder
   with ``bin/instance run``, queue an object-inventory report with
   ``bin/asyncreports submit``, run ``bin/worker --once``;
5. check that the job is done and fetch its PDF over HTTP (basic auth; anonymous
   gets 401), check its text with pypdf;
6. run a subset of ``bin/test`` (it imports every test module), with one
   end-to-end test that starts its own ZEO server, Zope and worker.

Everything it starts is stopped by PID and the temporary directory removed,
whatever happens. Exit code 0 and "buildout-check: OK" when all is well.

Environment: BUILDOUT_CHECK_CACHE overrides the cache directory (an empty one
measures a cold build). ``--keep`` keeps the temporary directory.
"""

import argparse
import base64
import contextlib
import fcntl
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("setup.py", "pyproject.toml", "README.rst", "CHANGES.rst", "LICENSE",
                 "MANIFEST.in", "constraints.txt", "buildout.cfg", "buildout-versions.cfg")
PROJECT_TREES = ("src", "tests")
# The other stack's buildout and pins, beside buildout.cfg.
STACK_FILES = ("buildout-plone6.2.cfg", "buildout-versions-plone6.2.cfg",
               "constraints/plone6.2.txt")
# What the throwaway venv gets, at the versions buildout.cfg pins.
BOOTSTRAP = ("pip", "zc.buildout", "setuptools", "wheel", "packaging")
HOST = "127.0.0.1"
QUEUE = "/asyncreports"

SETUP_SCRIPT = '''\
"""Run by ``bin/instance run``: ``app`` is the Zope root; the last argument the URL."""
import sys

import transaction
from OFS.Folder import manage_addFolder

from collective.asyncreports.zmi.queue import manage_addAsyncReportQueue


manage_addAsyncReportQueue(app, "asyncreports", "Async reports")
app.asyncreports.server_url = sys.argv[-1]
manage_addFolder(app, "docs", "Documents")
manage_addFolder(app.docs, "minutes", "Meeting minutes")
manage_addFolder(app.docs, "budget", "Budget 2026")
transaction.commit()
print("SETUP-DONE users=" + ",".join(app.acl_users.getUserNames()))
'''


class Failure(Exception):
    """A check failed; the message says which and why."""


def cache_dir():
    if os.environ.get("BUILDOUT_CHECK_CACHE"):
        return Path(os.environ["BUILDOUT_CHECK_CACHE"]).expanduser().resolve()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "collective.asyncreports" / "buildout"


def free_port():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# stack: (constraints, buildout file, its generated versions file, the Python it runs on);
# zope6 builds the Zope 6.3 buildout (its instance is plain Zope; bin/test has the Plone eggs).
STACKS = {
    "plone6.1": ("constraints.txt", "buildout.cfg", "buildout-versions.cfg", "3.11"),
    "plone6.2": ("constraints/plone6.2.txt", "buildout-plone6.2.cfg",
                 "buildout-versions-plone6.2.cfg", "3.12"),
}
STACKS["zope6"] = STACKS["plone6.2"]


def generated_versions(constraints, source="constraints.txt", python="3.11"):
    """buildout-versions.cfg as buildout.cfg's awk line makes it from constraints.txt.

    (``--write-versions`` writes it, for another stack's constraints and Python too.)
    """
    regenerate = "see buildout.cfg" if source == "constraints.txt" else "see buildout_check.py"
    lines = [f"# GENERATED from {source} (its Python {python} pins): do not edit, "
             f"regenerate ({regenerate})", "[versions]"]
    exact = re.compile(r"python_version == ." + re.escape(python) + ".")
    for line in constraints.splitlines():
        if not re.match(r"[A-Za-z0-9]", line):
            continue
        if ";" in line and not exact.search(line):
            continue
        fields = re.split(r"[=;]+", line)
        lines.append(f"{fields[0]} = {fields[1].replace(' ', '') if len(fields) > 1 else ''}")
    return "\n".join(lines) + "\n"


def versions_sections(text):
    """name (lower case) -> version from the [versions] sections of a buildout file."""
    pins, inside = {}, False
    for line in text.splitlines():
        if line.startswith("["):
            inside = line.strip() == "[versions]"
        elif inside and "=" in line and not line.lstrip().startswith("#"):
            name, _, version = line.partition("=")
            pins[name.strip().lower()] = version.strip()
    return pins


def clean_env():
    """This environment without pip or buildout settings that point beyond PyPI."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


class Check:
    def __init__(self, keep=False, stack="plone6.1"):
        self.keep = keep
        self.constraints, self.config, self.versions, self.python = STACKS[stack]
        self.begin = time.monotonic()
        self.tmp = Path(tempfile.mkdtemp(prefix="asyncreports-buildout-check-"))
        self.logs = self.tmp / "check-logs"
        self.logs.mkdir()
        self.cache = cache_dir()
        self.env = clean_env()
        self.processes = []
        self.zeo_port = free_port()
        self.http_port = free_port()
        self.password = secrets.token_urlsafe(12)

    # -- output and processes -------------------------------------------------------

    def say(self, message):
        print(f"[{time.monotonic() - self.begin:6.1f}s] {message}", flush=True)

    def call(self, name, args, timeout, stdout):
        """Run ARGS in a session of its own to the end; stderr to check-logs/NAME.log.

        On a timeout or an interruption the whole session is killed, by its PID.
        """
        with open(self.logs / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                [str(a) for a in args], cwd=self.tmp, env=self.env,
                stdout=log if stdout is None else stdout, stderr=log,
                stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                output, _ = process.communicate(timeout=timeout)
            except BaseException as exc:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                if isinstance(exc, subprocess.TimeoutExpired):
                    raise Failure(f"{name}: still running after {timeout}s\n"
                                  f"{tail(self.logs / f'{name}.log')}") from exc
                raise
        if process.returncode != 0:
            shown = output.decode(errors="replace") if output else ""
            raise Failure(f"{name}: exit code {process.returncode}\n{shown}"
                          f"{tail(self.logs / f'{name}.log')}")
        return output

    def run(self, name, args, timeout):
        """Run to the end, all output in check-logs/NAME.log; return that text."""
        self.call(name, args, timeout, stdout=None)
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def run_output(self, name, args, timeout):
        """Run to the end; return stdout (stderr goes to check-logs/NAME.log)."""
        return self.call(name, args, timeout, stdout=subprocess.PIPE).decode()

    def start(self, name, args):
        """Start a foreground server in its own session, output in check-logs/NAME.log."""
        with open(self.logs / f"{name}.log", "wb") as log:
            process = subprocess.Popen(
                [str(a) for a in args], cwd=self.tmp, env=self.env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        process.name = name
        self.processes.append(process)
        self.say(f"started {name} (pid {process.pid})")
        return process

    def wait_for_port(self, port, process, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise Failure(f"{process.name} exited with {process.returncode}\n"
                              f"{tail(self.logs / f'{process.name}.log')}")
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise Failure(f"{process.name}: nothing listens on {HOST}:{port} after {timeout}s\n"
                      f"{tail(self.logs / f'{process.name}.log')}")

    def stop_all(self):
        """Stop every started process by PID, newest first: SIGTERM, then SIGKILL."""
        for process in reversed(self.processes):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(30)
                except ProcessLookupError:
                    pass
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                self.say(f"stopped {process.name} (pid {process.pid}, "
                         f"exit code {process.returncode})")
        self.processes = []

    def cleanup(self):
        self.stop_all()
        if self.keep:
            self.say(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- the steps ------------------------------------------------------------------

    def expected_versions(self):
        return generated_versions((ROOT / self.constraints).read_text(), self.constraints,
                                  self.python)

    def check_versions_file(self):
        if sys.version_info[:2] != tuple(map(int, self.python.split("."))):
            raise Failure(f"{self.config} is for Python {self.python}, this is {sys.version}")
        if (ROOT / self.versions).read_text() != self.expected_versions():
            raise Failure(f"{self.versions} is not what {self.constraints} generates: "
                          f"regenerate it with tests/buildout_check.py --write-versions")
        self.say(f"{self.versions} matches {self.constraints}")

    def copy_project(self):
        for name in PROJECT_FILES + STACK_FILES:
            (self.tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, self.tmp / name)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
        for name in PROJECT_TREES:
            shutil.copytree(ROOT / name, self.tmp / name, ignore=ignore)
        self.say(f"copied the project to {self.tmp}")

    def bootstrap(self):
        pins = versions_sections((ROOT / "buildout-versions.cfg").read_text())
        pins.update(versions_sections((ROOT / "buildout.cfg").read_text()))
        if self.config != "buildout.cfg":  # extends buildout.cfg, then its versions file
            pins.update(versions_sections((ROOT / self.versions).read_text()))
            pins.update(versions_sections((ROOT / self.config).read_text()))
        missing = [name for name in BOOTSTRAP if name.lower() not in pins]
        if missing:
            raise Failure(f"no version pin for {', '.join(missing)}")
        requirements = [f"{name}=={pins[name.lower()]}" for name in BOOTSTRAP]
        venv = self.tmp / "venv"
        # Without ensurepip's pip (seconds saved): this pip installs the pinned one.
        self.run("venv", [sys.executable, "-m", "venv", "--without-pip", venv], timeout=120)
        self.run("bootstrap", [sys.executable, "-m", "pip", "--python", venv / "bin" / "python",
                               "install", "-q", *requirements], timeout=600)
        self.say(f"throwaway venv with {' '.join(requirements)}")

    def buildout(self):
        eggs = self.cache / "eggs"
        downloads = self.cache / "downloads"
        for folder in (eggs, downloads):
            folder.mkdir(parents=True, exist_ok=True)
        cold = not any(eggs.glob("*/*.egg"))
        self.say(f"running the buildout, ports zeo={self.zeo_port} http={self.http_port}, "
                 f"cache {self.cache}"
                 + (" (empty: downloads ~240 distributions, several minutes)" if cold else ""))
        # One buildout at a time writes the shared egg cache.
        with open(self.cache / "lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.say("waiting for another buildout-check using the cache")
                fcntl.flock(lock, fcntl.LOCK_EX)
            self.run("buildout", [
                self.tmp / "venv" / "bin" / "buildout", "-U", "-c", self.config,
                f"buildout:eggs-directory={eggs}", f"buildout:download-cache={downloads}",
                f"ports:zeo={self.zeo_port}", f"ports:http={self.http_port}",
                f"instance:user=admin:{self.password}",
            ], timeout=1800)
        scripts = ["zeoserver", "instance", "asyncreports", "worker", "test"]
        missing = [name for name in scripts if not (self.tmp / "bin" / name).exists()]
        if missing:
            raise Failure(f"the buildout made no bin/{', bin/'.join(missing)}")
        self.say("buildout done: bin/" + ", bin/".join(scripts))

    def start_servers(self):
        zeo = self.start("zeoserver", [self.tmp / "parts/zeoserver/bin/runzeo"])
        self.wait_for_port(self.zeo_port, zeo, timeout=60)
        self.say(f"ZEO server listens on {HOST}:{self.zeo_port}")
        script = self.tmp / "setup_site.py"
        script.write_text(SETUP_SCRIPT)
        output = self.run("instance-run", [self.tmp / "bin/instance", "run", script,
                                           self.url], timeout=300)
        if "SETUP-DONE" not in output:
            raise Failure(f"bin/instance run did not run the setup script\n{output[-2000:]}")
        users = output.split("SETUP-DONE users=")[1].split()[0].split(",")
        if "admin" not in users:
            raise Failure(f"the instance's initial user admin is missing (users: {users})")
        self.say(f"bin/instance run: queue {QUEUE}, folder /docs, manager admin")
        instance = self.start("instance", [self.tmp / "bin/instance", "console"])
        self.wait_for_port(self.http_port, instance, timeout=120)
        self.say(f"Zope instance listens on {self.url}")

    @property
    def url(self):
        return f"http://{HOST}:{self.http_port}"

    def asyncreports(self, name, *args):
        return self.run_output(name, [self.tmp / "bin/asyncreports", "-C",
                                      self.tmp / "parts/instance/etc/zope.conf", *args],
                               timeout=180)

    def run_job(self):
        job_id = self.asyncreports(
            "submit", "submit", "object-inventory", "--queue", QUEUE, "--path", "/docs",
            "--param", "depth=2", "--user", "admin").strip().splitlines()[-1]
        self.say(f"bin/asyncreports submit: job {job_id} queued")
        log = self.run("worker", [self.tmp / "bin/worker", "--once"], timeout=300)
        self.say("bin/worker --once: " + (last_line(log, " done in ") or "ran"))
        job = json.loads(self.asyncreports("show", "show", job_id, "--json"))
        if job["state"] != "done":
            raise Failure(f"job {job_id} is {job['state']}, not done: "
                          f"{job.get('error_message')}\n{json.dumps(job, indent=2)}")
        if not job.get("result_url"):
            raise Failure(f"job {job_id} is done but has no result")
        self.say(f"job {job_id} done: {job['result_path']}")
        return job

    def fetch_result(self, job):
        url = job["result_url"]
        if not url.startswith(self.url + "/"):
            raise Failure(f"result URL {url} is not on the instance {self.url}")
        anonymous = http_get(url)
        if anonymous[0] != 401:
            raise Failure(f"anonymous GET {url}: HTTP {anonymous[0]}, expected 401")
        status, content_type, body = http_get(url, ("admin", self.password))
        if status != 200 or content_type != "application/pdf" or not body.startswith(b"%PDF"):
            raise Failure(f"GET {url} as admin: HTTP {status} {content_type}, "
                          f"{len(body)} bytes starting {body[:8]!r}")
        try:
            import pypdf
        except ImportError as exc:
            raise Failure("pypdf is not installed: run `make install`") from exc
        text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(body)).pages)
        expected = ["Object inventory", "Target: /docs", "minutes", "Meeting minutes",
                    "Budget 2026"]
        missing = [word for word in expected if word not in text]
        if missing:
            raise Failure(f"the PDF lacks {missing}; its text:\n{text}")
        self.say(f"GET {url}: 401 anonymous; as admin a {len(body)}-byte PDF "
                 f"listing /docs/minutes and /docs/budget")

    def run_tests(self):
        # test_errors is quick; the end-to-end test starts its own ZEO server,
        # Zope and worker from the buildout's eggs (dev.processes.python_command).
        selected = ["-t", "test_errors", "-t", "test_reporters_job_runs_in_a_worker"]
        log = self.run("bin-test", [self.tmp / "bin/test", *selected], timeout=600)
        ran = re.findall(r"Ran (\d+) tests with 0 failures, 0 errors", log)
        if len(ran) != 2 or "import problems" in log or "Total:" not in log:
            raise Failure(f"bin/test {' '.join(selected)}:\n{log[-3000:]}")
        self.say(f"bin/test {' '.join(selected)}: {sum(map(int, ran))} tests passed, "
                 "every test module imports")


def http_get(url, credentials=None):
    request = urllib.request.Request(url)
    if credentials:
        token = base64.b64encode(":".join(credentials).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers.get_content_type(), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get_content_type(), exc.read()


def tail(path, lines=40):
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in text[-lines:])


def last_line(text, marker):
    found = [line for line in text.splitlines() if marker in line]
    return found[-1].split("] ", 1)[-1] if found else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--stack", choices=sorted(STACKS), default="plone6.1",
                        help="which stack's buildout (make buildout-check STACK=...)")
    parser.add_argument("--write-versions", action="store_true",
                        help="only write the stack's buildout versions file from its constraints")
    args = parser.parse_args(argv)
    if args.write_versions:
        check = Check(stack=args.stack)
        (ROOT / check.versions).write_text(check.expected_versions())
        shutil.rmtree(check.tmp)
        print(f"wrote {check.versions}")
        return 0

    check = Check(keep=args.keep, stack=args.stack)
    return run_check("buildout-check", check, [
        check.check_versions_file,
        check.copy_project,
        check.bootstrap,
        check.buildout,
        check.start_servers,
        lambda: check.fetch_result(check.run_job()),
        check.run_tests,
    ])


def run_check(name, check, steps):
    """Run a check's steps in order; whatever happens, clean up (stop its servers by PID)
    and print one closing line. SIGTERM counts as an interruption."""

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        for step in steps:
            step()
    except Failure as exc:
        check.say(f"FAILED: {exc}")
        check.cleanup()
        print(f"{name}: FAILED", flush=True)
        return 1
    except KeyboardInterrupt:
        check.cleanup()
        print(f"{name}: interrupted", flush=True)
        return 130
    except BaseException:
        check.cleanup()
        print(f"{name}: FAILED (unexpected error)", flush=True)
        raise
    check.cleanup()
    print(f"{name}: OK in {time.monotonic() - check.begin:.0f}s", flush=True)
    return 0

if __name__ == "__main__":
    sys.exit(main())
