"""Scale-out over a real network: a database server and two workers on their own "hosts".

On ZEO: a ZEO server and two workers on three hosts. With STORAGE=postgresql:
PostgreSQL on a database host, a web host whose ZODB client queues the jobs,
and two worker hosts, all RelStorage clients of that one database.

Each host is a Linux network namespace with a private address on one virtual
LAN (a bridge in a fourth namespace, so no firewall of this machine sees the
traffic), and a hostname of its own. The ZEO server listens only on its
private address; each worker has a home folder of its own (zope.conf, blob
cache, logs) whose ZEO client points at that address. The test process
reaches the server through a veth leg of its own into the LAN.

Needs root and iproute2's ``ip``; otherwise the test skips and says why.
Everything it creates (namespaces, veths, processes, folders) is removed at the
end, also when the test fails.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from collective.asyncreports.dev.processes import Instance
from tests.processes import ADDONS
from tests.processes import QUEUE
from tests.processes import STORAGE
from tests.processes import instance_options
from tests.processes import queue_in
from tests.processes import skip_unless_storage
from tests.processes import wait_for


JOBS = 500
# host name -> address .1, .2, ... on the LAN; the first is the database server's.
if STORAGE == "postgresql":
    HOSTS = ("db", "web", "w1", "w2")
    DB_PORT = 5432  # every namespace has all its ports free
else:
    HOSTS = ("zeo", "w1", "w2")
    DB_PORT = 8100
SERVER = HOSTS[0]
ZEO_PORT = DB_PORT
TEST_LEG = 254  # the test process's address on the LAN
NAME = re.compile(r"^asr(\d+)-(lan|zeo|db|web|w1|w2)$")
SUBMIT_MANY = ADDONS / "submit_many.py"


class NetworkUnavailable(Exception):
    """This machine cannot build the test network (not root, no ``ip``, no netns)."""


def ip(*args):
    """Run ``ip ARGS``; raise NetworkUnavailable with the command and its error."""
    command = ["ip", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise NetworkUnavailable(
            f"`{' '.join(command)}` failed with exit code {result.returncode}: "
            f"{(result.stderr or result.stdout).strip()}")
    return result.stdout


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


class Network:
    """The LAN and its hosts, named after this process: asr<PID>-lan, -zeo, -w1, -w2.

    Addresses are 10.213.N.0/24, N chosen so that no address of this machine's
    own namespace is in that subnet; the hosts have .1 to .3, the test leg .254.
    """

    def __init__(self):
        self.prefix = f"asr{os.getpid()}"
        self.leg = self.prefix  # the test process's veth, in this namespace
        self.namespaces = []
        self.subnet = None

    def namespace(self, host):
        return f"{self.prefix}-{host}"

    def address(self, host):
        number = TEST_LEG if host == "test" else HOSTS.index(host) + 1
        return f"{self.subnet}.{number}"

    def exec_prefix(self, host):
        """Run a command on ``host``: in its namespace, with its own hostname."""
        return ("ip", "netns", "exec", self.namespace(host), "unshare", "--uts",
                "sh", "-c", 'hostname "$0" && exec "$@"', f"{self.prefix}-{host}")

    def up(self):
        """Build the network; on any error take down what was built and re-raise."""
        if os.geteuid() != 0:
            raise NetworkUnavailable(f"needs root to create network namespaces "
                                     f"(running as uid {os.geteuid()})")
        for tool in ("ip", "unshare"):
            if shutil.which(tool) is None:
                raise NetworkUnavailable(f"`{tool}` is not on PATH (install iproute2 "
                                         "and util-linux)")
        self.remove_stale()
        self.subnet = self.free_subnet()
        try:
            self._build()
        except BaseException:
            self.down()
            raise

    def _build(self):
        lan = self.add_namespace("lan")
        ip("-n", lan, "link", "add", "br0", "type", "bridge")
        ip("-n", lan, "link", "set", "br0", "up")
        for host in HOSTS:
            namespace = self.add_namespace(host)
            ip("-n", lan, "link", "add", host, "type", "veth",
               "peer", "name", "eth0", "netns", namespace)
            ip("-n", lan, "link", "set", host, "master", "br0", "up")
            ip("-n", namespace, "addr", "add", f"{self.address(host)}/24", "dev", "eth0")
            ip("-n", namespace, "link", "set", "eth0", "up")
            ip("-n", namespace, "link", "set", "lo", "up")
        # The test process's own leg: one end here, the other on the bridge.
        ip("link", "add", self.leg, "type", "veth", "peer", "name", "test", "netns", lan)
        ip("-n", lan, "link", "set", "test", "master", "br0", "up")
        ip("addr", "add", f"{self.address('test')}/24", "dev", self.leg)
        ip("link", "set", self.leg, "up")

    def add_namespace(self, host):
        name = self.namespace(host)
        ip("netns", "add", name)
        self.namespaces.append(name)
        return name

    def down(self):
        """Delete the namespaces; that deletes their veths and so the test leg too."""
        errors = []
        for name in reversed(self.namespaces):
            try:
                ip("netns", "del", name)
            except NetworkUnavailable as exc:
                errors.append(str(exc))
        self.namespaces = []
        if re.search(rf"^\d+: {self.leg}[@:]", ip("-o", "link", "show"), re.M):
            # Only if the LAN namespace lingered (a process still in it).
            try:
                ip("link", "del", self.leg)
            except NetworkUnavailable as exc:
                errors.append(str(exc))
        if errors:
            raise RuntimeError("; ".join(errors))

    def remove_stale(self):
        """Delete namespaces left by an earlier test process that was killed."""
        for line in ip("netns", "list").splitlines():
            match = NAME.match(line.split()[0]) if line.strip() else None
            if match and not _alive(int(match.group(1))):
                ip("netns", "del", match.group(0))

    def free_subnet(self):
        used = ip("-4", "-o", "addr", "show")
        for offset in range(250):
            subnet = f"10.213.{(os.getpid() + offset) % 250 + 1}"
            if f" {subnet}." not in used:
                return subnet
        raise NetworkUnavailable("no free 10.213.N.0/24 subnet on this machine")


class ScaleOutTests(unittest.TestCase):
    lease_seconds = 30

    def setUp(self):
        skip_unless_storage()
        self.network = Network()
        try:
            self.network.up()
        except NetworkUnavailable as exc:
            self.skipTest(f"cannot build the test network: {exc}")
        self.addCleanup(self.network.down)
        self.home = Path(tempfile.mkdtemp(prefix="asyncreports-scaleout-"))
        self.addCleanup(shutil.rmtree, self.home, ignore_errors=True)
        server = self.network.address(SERVER)
        self.hosts = {
            host: Instance(self.home / host, DB_PORT, 8080, extra_packages=["faultreports"],
                           env={"PYTHONPATH": str(ADDONS)}, zeo_host=server,
                           command_prefix=self.network.exec_prefix(host),
                           **instance_options(db_clients=[f"{self.network.subnet}.0/24"]))
            for host in HOSTS
        }
        for instance in self.hosts.values():
            instance.write_configuration()
            self.addCleanup(instance.stop_all)
        self.hosts[SERVER].start_database()  # waits until the server answers on its address
        # From the test process, over the LAN: the admin user and the queue.
        self.hosts[SERVER].bootstrap("--password", "admin-password")
        # ZEO's server_sync: each transaction first asks the server, so it sees what
        # a worker committed just before it exited (RelStorage polls at every one).
        self.db = self.hosts[SERVER].open_db(
            **({"server_sync": True} if STORAGE == "zeo" else {}))
        self.addCleanup(self.db.close)
        with self.queue() as queue:
            jobs = queue.job_queue()
            jobs.lease_seconds = self.lease_seconds
            jobs.backoff_seconds = jobs.backoff_max = 0

    def queue(self):
        return queue_in(self.db)

    def wait_for(self, predicate, timeout, what):
        return wait_for(predicate, timeout, what)

    def submit_from_the_web_host(self):
        """The web host's ZODB client queues the jobs, one transaction each, as
        its requests would (tests/addons/submit_many.py, in its namespace)."""
        web = self.hosts["web"]
        config = web.etc / "zodb.conf"
        config.write_text(web.zodb_config())
        result = subprocess.run(
            [*self.network.exec_prefix("web"), sys.executable, str(SUBMIT_MANY), str(config),
             str(JOBS), "scaleout"], capture_output=True, text=True, timeout=300, env=web.env)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def log(self, host, name):
        path = self.hosts[host].var / "log" / f"{name}.out"
        return path.read_text() if path.exists() else ""

    def test_two_workers_on_two_hosts_share_500_jobs_each_done_once(self):
        network = self.network
        workers = {host: self.hosts[host].start_worker("--poll-interval", "0.5")
                   for host in ("w1", "w2")}
        worker_ids = {
            host: self.wait_for(
                lambda host=host: re.search(r"worker (\S+) serving /asyncreports",
                                            self.log(host, "worker")),
                60, f"the worker on {host} to serve the queue").group(1)
            for host in workers
        }
        for host, worker_id in worker_ids.items():
            # socket.gethostname() in the worker: it runs on its own "host".
            self.assertTrue(worker_id.startswith(f"{network.namespace(host)}:"), worker_id)
            address = network.address(SERVER)
            self.assertIn(f"server {address}:{DB_PORT}" if STORAGE == "zeo"
                          else f"host='{address}' port='{DB_PORT}'",
                          (self.hosts[host].etc / "zope.conf").read_text())

        # The server has a connection from each worker host's address (and ours).
        peers = subprocess.run(
            [*network.exec_prefix(SERVER), "ss", "-Htn", "state", "established",
             f"( sport = :{DB_PORT} )"], capture_output=True, text=True, check=True).stdout
        self.assertEqual(
            {line.split()[-1].rsplit(":", 1)[0] for line in peers.splitlines()},
            {network.address(host) for host in ("w1", "w2", "test")}, peers)

        if "web" in self.hosts:
            self.submit_from_the_web_host()
        else:
            with self.queue() as queue:  # one transaction: both workers wake to 500 jobs
                jobs = queue.job_queue()
                for number in range(JOBS):
                    jobs.enqueue("noop", "/", {}, owner_id="admin", queue_path=QUEUE,
                                 dedup_key=f"scaleout-{number}")

        def finished():
            with self.queue() as queue:
                stats = queue.job_queue().stats()
            return stats["done"] + stats["failed"] + stats["cancelled"] == JOBS and stats
        stats = self.wait_for(finished, 120, f"{JOBS} jobs to finish")
        for host, worker in workers.items():
            self.hosts[host].stop(worker)  # SIGTERM: it says it stopped, and exits 0
            self.assertEqual(worker.returncode, 0, self.log(host, "worker")[-2000:])

        self.assertEqual(
            (stats["done"], stats["failed"], stats["queued"], stats["running"], stats["total"]),
            (JOBS, 0, 0, 0, JOBS))
        ran_by, result_names = {}, set()
        with self.queue() as queue:
            jobs = queue.job_queue()
            done, total = jobs.list_jobs(state="done", size=JOBS + 1)
            self.assertEqual(total, JOBS)
            results = set(queue.results.objectIds())
            for job in done:
                events = [event["event"] for event in job.history]
                finished_by = [event["actor"] for event in job.history
                               if event["event"] == "finished"]
                self.assertEqual(len(finished_by), 1, job.as_dict())
                # Each attempt is a committed claim. Normally there is one; a
                # second only after the first was handed back without storing
                # anything (a step that met ConflictError 5 times in a row).
                self.assertEqual(events.count("claimed"), job.attempts, job.as_dict())
                self.assertEqual(job.attempts - 1, events.count("released"), job.as_dict())
                ran_by[job.id] = finished_by[0]
                result_names.add(job.result_path.rsplit("/", 1)[-1])
            records = {record.worker_id: (record.hostname, record.pid, record.jobs_done)
                       for record in jobs.workers()}
        self.assertEqual(len(results), JOBS)
        self.assertEqual(result_names, results)  # one result per job, none extra

        counts = {host: list(ran_by.values()).count(worker_id)
                  for host, worker_id in worker_ids.items()}
        self.assertEqual(sum(counts.values()), JOBS, counts)
        for host, worker_id in worker_ids.items():
            # Both share the work: a busy worker claiming in its finishing
            # commits must not starve the other one.
            self.assertGreater(counts[host], JOBS // 10, f"the worker on {host} starved: {counts}")
            # Its record in the queue (the Workers tab): its host, its PID, its count.
            self.assertEqual(records[worker_id],
                             (network.namespace(host), workers[host].pid, counts[host]))
            self.assertEqual(self.log(host, "worker").count(" done in "), counts[host])

