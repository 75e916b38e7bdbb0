"""The faults of the chaos soak, drawn from one seeded random.Random.

Every 2 to 6 seconds one fault, chosen among those possible right now (a
fault on the ZEO server needs it up and running; one on a worker needs a
worker that is serving). Undoing a fault (SIGCONT, starting ZEO again) is
scheduled, not waited for, so faults overlap as they would in life.
"""

import time


KINDS = ("worker-sigkill", "worker-sigstop", "worker-sigterm", "zeo-sigkill", "zeo-sigstop")
INTERVAL = (2.0, 6.0)
ZEO_DOWN = (0.0, 10.0)  # seconds a killed ZEO server stays down
ZEO_PAUSE = (2.0, 8.0)  # seconds a stopped ZEO server stays stopped
WORKER_PAUSE_PAST_LEASE = (3.0, 8.0)  # a stopped worker stays stopped lease + this


class Faults:
    def __init__(self, rng, cluster, lease_seconds, say):
        self.rng = rng
        self.cluster = cluster
        self.lease_seconds = lease_seconds
        self.say = say
        self.started = time.monotonic()
        self.next_at = self.started + rng.uniform(*INTERVAL)
        self.pending = []  # (monotonic time, description, action)
        self.injected = []  # (seconds into the soak, kind, detail)
        self.counts = dict.fromkeys(KINDS, 0)

    def elapsed(self):
        return time.monotonic() - self.started

    def tick(self):
        """Run what is due: pending undos first, then maybe a new fault."""
        self.run_pending(due_only=True)
        if time.monotonic() >= self.next_at:
            self.inject()
            self.next_at = time.monotonic() + self.rng.uniform(*INTERVAL)

    def run_pending(self, due_only=False):
        now = time.monotonic()
        for entry in sorted(self.pending, key=lambda entry: entry[0]):
            if due_only and entry[0] > now:
                break
            self.pending.remove(entry)
            entry[2]()

    def possible(self):
        cluster = self.cluster
        kinds = []
        if cluster.usable_workers():
            kinds += ["worker-sigkill", "worker-sigterm"]
            if not any(worker.paused for worker in cluster.workers):
                kinds.append("worker-sigstop")
        if cluster.zeo_up() and not cluster.zeo_paused:
            kinds += ["zeo-sigkill", "zeo-sigstop"]
        return kinds

    def inject(self):
        # Draw among all kinds, then again among the possible ones if need be,
        # so one seed gives the same draws as long as everything is possible.
        kind = self.rng.choice(KINDS)
        possible = self.possible()
        if kind not in possible:
            if not possible:
                return
            kind = self.rng.choice(possible)
        detail = getattr(self, "_" + kind.replace("-", "_"))()
        self.counts[kind] += 1
        self.injected.append((self.elapsed(), kind, detail))
        self.say(f"fault {len(self.injected)}: {kind} {detail}")

    def later(self, seconds, description, action):
        self.pending.append((time.monotonic() + seconds, description, action))

    # -- the faults ---------------------------------------------------------------------

    def _pick_worker(self):
        workers = self.cluster.usable_workers()
        return workers[self.rng.randrange(len(workers))]

    def _worker_sigkill(self):
        worker = self._pick_worker()
        self.cluster.kill_worker(worker)
        return f"{worker.name} (pid {worker.pid})"

    def _worker_sigterm(self):
        worker = self._pick_worker()
        self.cluster.terminate_worker(worker)
        return f"{worker.name} (pid {worker.pid})"

    def _worker_sigstop(self):
        worker = self._pick_worker()
        seconds = self.lease_seconds + self.rng.uniform(*WORKER_PAUSE_PAST_LEASE)
        self.cluster.pause_worker(worker)

        def resume():
            self.cluster.resume_worker(worker)
            self.say(f"SIGCONT {worker.name}")
        self.later(seconds, f"SIGCONT {worker.name}", resume)
        return f"{worker.name} (pid {worker.pid}) for {seconds:.1f}s"

    def _zeo_sigkill(self):
        seconds = self.rng.uniform(*ZEO_DOWN)
        self.cluster.kill_zeo()

        def start():
            try:
                self.cluster.start_zeo()
            except RuntimeError as exc:  # e.g. the old one's port not free yet
                self.cluster.zeo_start_failures.append(str(exc))
                self.say(f"FAILURE: ZEO server did not start again ({exc}); retrying in 1s")
                self.later(1.0, "start ZEO", start)
                return
            self.say("ZEO server started again")
        self.later(seconds, "start ZEO", start)
        return f"down for {seconds:.1f}s"

    def _zeo_sigstop(self):
        seconds = self.rng.uniform(*ZEO_PAUSE)
        self.cluster.pause_zeo()

        def resume():
            self.cluster.resume_zeo()
            self.say("SIGCONT ZEO server")
        self.later(seconds, "SIGCONT ZEO", resume)
        return f"for {seconds:.1f}s"
