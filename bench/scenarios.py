"""The eight bench scenarios. Each returns a dict of raw figures plus table rows."""

import cProfile
import io
import json
import os
import pstats
import random
import select
import signal
import statistics
import subprocess
import sys
import time

import pypdf
from BTrees.IOBTree import IOBTree
from harness import BENCH_DIR
from harness import INVENTORY
from harness import OWNER
from harness import OWNER_FOLDER
from harness import PASSWORD
from harness import TRIVIAL
from harness import commit_time
from harness import cpu_seconds
from harness import rss_kib
from harness import tcp_counters

from collective.asyncreports.wakeup import notices
from collective.asyncreports.wakeup import postgresql


STATUS_KEYS = ("loads", "stores", "commits", "aborts", "conflicts", "conflicts_resolved")


def row(scenario, figure, value, baseline="", target="", status="info"):
    return {"scenario": scenario, "figure": figure, "value": value, "baseline": baseline,
            "target": target, "status": status}


def verdict(ok):
    return "pass" if ok else "FAIL"


def status_delta(before, after):
    return {key: (after.get(key) or 0) - (before.get(key) or 0) for key in STATUS_KEYS}


def quantile(values, fraction):
    """Nearest-rank quantile (p50, p99) of a list of numbers."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


class CpuMeter:
    """CPU used by given processes and by the whole machine between two points."""

    def __init__(self, pids):
        self.pids = dict(pids)
        self.start = self._snapshot()

    def _snapshot(self):
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        idle = fields[3] + fields[4]
        return {"machine_busy": (sum(fields) - idle) / os.sysconf("SC_CLK_TCK"),
                "machine_total": sum(fields) / os.sysconf("SC_CLK_TCK"),
                "time": time.monotonic(),
                **{name: cpu_seconds(pid) for name, pid in self.pids.items()}}

    def stop(self):
        end = self._snapshot()
        wall = end["time"] - self.start["time"]
        ours = {name: end[name] - self.start[name] for name in self.pids
                if end[name] and self.start[name] is not None}
        busy = end["machine_busy"] - self.start["machine_busy"]
        cores = os.cpu_count() or 1
        return {
            "wall_s": wall,
            "cpu_s": ours,
            "machine_busy_cores": busy / wall if wall else 0.0,
            "other_processes_busy_cores": max(0.0, busy - sum(ours.values())) / wall
            if wall else 0.0,
            "cores": cores,
        }


# -- 1. raw commits ------------------------------------------------------------------


def _raw_clients(bench, labels, seconds):
    script = str(BENCH_DIR / "rawcommit.py")
    processes = []
    bench.client.begin()  # the clients' own trees, made here so they never conflict
    root = bench.client.connection.root()
    for label in labels:
        root[f"asyncbench.raw.{label}"] = IOBTree()
    bench.client.commit()
    try:
        for label in labels:
            processes.append(subprocess.Popen(
                [sys.executable, script, str(bench.zeo_port), label, str(seconds),
                 bench.storage, str(bench.home)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                env=bench.instance.env))
        for process in processes:
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError("raw commit client did not start")
        for process in processes:
            process.stdin.write("go\n")
            process.stdin.flush()
        results = [json.loads(process.stdout.readline()) for process in processes]
        for process in processes:
            process.wait(30)
        return results
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def raw_baseline(bench, cfg):
    solo = _raw_clients(bench, ["solo"], cfg["raw_seconds"])[0]
    pair = _raw_clients(bench, ["a", "b"], cfg["raw_seconds"])
    together = sum(result["commits_per_s"] for result in pair)
    return {
        "commits_per_s": solo["commits_per_s"],
        "solo": solo,
        "two_clients": pair,
        "two_clients_commits_per_s": together,
        "rows": [
            row("1 raw", "commits/s, 1 client", f"{solo['commits_per_s']:.0f}/s",
                target="reference for 2"),
            row("1 raw", "commits/s, 2 clients together", f"{together:.0f}/s",
                f"{solo['commits_per_s']:.0f}/s", f"x{together / solo['commits_per_s']:.2f}"),
        ],
    }


# -- 2. queue throughput ---------------------------------------------------------------


def _worker_gaps(times, processes_jobs=None):
    """Split a worker's time per job: inside a job (started..finished) and between jobs.

    ``times`` maps job id to (started, finished, state) of jobs of ONE worker run
    with one worker; the gap runs from a job's finish (before its commit) to the
    next job's claim.
    """
    ordered = sorted(t for t in times.values() if t[0] is not None and t[1] is not None)
    inside = [finished - started for started, finished, _ in ordered]
    gaps = [ordered[i + 1][0] - ordered[i][1] for i in range(len(ordered) - 1)]
    return {
        "median_claim_to_finish_ms": statistics.median(inside) * 1000 if inside else None,
        "median_finish_to_next_claim_ms": statistics.median(gaps) * 1000 if gaps else None,
    }


def run_jobs(bench, tag, workers, count, report=TRIVIAL, path="/docs", params=None,
             timeout=600, worker_args=()):
    """Start workers idle, queue ``count`` jobs in one commit, wait, stop, verify."""
    queue = bench.add_queue(tag)
    processes, boot = bench.start_workers(queue, workers, tag, *worker_args)
    try:
        time.sleep(0.5)
        pids = {f"worker{number}": p.pid for number, p in enumerate(processes, 1)}
        pids["zeo"] = bench.zeo_pid
        pids["bench"] = os.getpid()
        before = bench.client.server_status()
        log_offset = bench.zeo_log_offset()
        meter = CpuMeter(pids)
        ids, submitted = bench.enqueue(queue, count, report, path, params, batch=count)
        after_enqueue = bench.client.server_status()
        stats, timed_out = bench.wait_until_finished(queue, count, timeout, processes)
        cpu = meter.stop()
        after = bench.client.server_status()
        exited_early = {p.name: p.returncode for p in processes if p.poll() is not None}
    finally:
        bench.stop_workers(processes)
    checked = bench.verify(queue, ids, complete=not timed_out)
    elapsed = (checked["last"] or time.time()) - submitted
    work = status_delta(after_enqueue, after)
    per_job = {key: value / count for key, value in work.items()}
    result = {
        "workers": workers,
        "jobs": count,
        "timed_out": timed_out,
        "worker_boot_s": boot,
        "seconds": elapsed,
        "jobs_per_s": checked["done"] / elapsed if elapsed > 0 else 0.0,
        "server_ops_per_job": per_job,
        "enqueue_server_ops": status_delta(before, after_enqueue),
        "cpu": cpu,
        "cpu_ms_per_job": {name: seconds * 1000 / count for name, seconds in cpu["cpu_s"].items()},
        "check": checked,
        "workers_exited_early": exited_early,
        "worker_exit_codes": {p.name: p.returncode for p in processes},
        "worker_logs": bench.worker_log_counts([p.name for p in processes]),
        "conflicts_by_class": bench.conflicts_since(log_offset),
        "data_fs_bytes": bench.data_fs_bytes(),
    }
    if workers == 1:
        result["timing"] = _worker_gaps(bench.started_times(queue, ids))
    return result


def _capped(result):
    check = result["check"]
    if not result["timed_out"]:
        return ""
    return f" (TIME CAP: {check['done']} of {check['jobs']} done)"


def _clean_row(scenario, label, result):
    check = result["check"]
    clean = check["lost"] == 0 and check["duplicates"] == 0 and check["running"] == 0
    retried = check["reclaimed"]
    return row(scenario, f"lost / duplicated / running, {label}",
               f"{check['lost']} / {check['duplicates']} / {check['running']}",
               f"{check['results']} results, {retried} jobs claimed twice+", "0 / 0 / 0",
               verdict(clean))


def _conflicts_text(result):
    classes = result.get("conflicts_by_class") or {}
    top = sorted(classes.items(), key=lambda item: -item[1])[:3]
    return ", ".join(f"{name.rsplit('.', 1)[-1]} {count}" for name, count in top) or "none"


def throughput(bench, cfg, raw):
    count = cfg["throughput_jobs"]
    runs = {n: run_jobs(bench, f"thru{n}", n, count, timeout=cfg["throughput_timeout"])
            for n in (1, 2)}
    raw_rate = raw["commits_per_s"] if raw else None
    rows = []
    for n, result in runs.items():
        rate = result["jobs_per_s"]
        ratio = rate / raw_rate if raw_rate else None
        label = f"jobs/s, {n} worker{'s' if n > 1 else ''}, {count} trivial jobs"
        baseline = f"raw {raw_rate:.0f} commits/s" if raw_rate else "raw n/a"
        if n == 2:
            rows.append(row("2 throughput", label + _capped(result), f"{rate:.1f}/s", baseline,
                            f"x{ratio:.3f} (>= 0.80)" if ratio else "n/a",
                            verdict(ratio is not None and ratio >= 0.8)))
        else:
            rows.append(row("2 throughput", label + _capped(result), f"{rate:.1f}/s", baseline,
                            f"x{ratio:.3f}" if ratio else "", "info"))
        check = result["check"]
        if "jobs_per_s_first_fifth" in check:
            rows.append(row("2 throughput", f"  {n}w: jobs/s first fifth -> last fifth of jobs",
                            f"{check['jobs_per_s_first_fifth']:.1f} -> "
                            f"{check['jobs_per_s_last_fifth']:.1f}",
                            f"results folder pickle {check['folder_pickle_bytes'] / 1024:.0f} KiB"))
        ops = result["server_ops_per_job"]
        cpu = result["cpu_ms_per_job"]
        worker_cpu = sum(v for k, v in cpu.items() if k.startswith("worker"))
        if bench.storage == "zeo":
            rows.append(row("2 throughput", f"  {n}w: per job: commits / objects stored / loads",
                            f"{ops['commits']:.2f} / {ops['stores']:.1f} / {ops['loads']:.1f}",
                            f"CPU ms/job: workers {worker_cpu:.1f}, ZEO {cpu.get('zeo', 0):.1f}"))
        else:  # PostgreSQL counts no loads for us, and its backends are other processes
            rows.append(row("2 throughput", f"  {n}w: CPU ms/job, workers", f"{worker_cpu:.1f}"))
        logs = result["worker_logs"]
        rows.append(row("2 throughput", f"  {n}w: unresolved conflicts (by class)",
                        f"{ops['conflicts'] * count:.0f}", _conflicts_text(result),
                        f"{logs['queue_unavailable_waits']} loop waits, "
                        f"{logs['transient_retries']} job step retries"))
        rows.append(_clean_row("2 throughput", f"{n} worker(s)", result))
    return {"runs": {str(n): r for n, r in runs.items()}, "rows": rows,
            "lost": sum(r["check"]["lost"] for r in runs.values()),
            "duplicates": sum(r["check"]["duplicates"] for r in runs.values())}


# -- 3. pickup latency and idle traffic ---------------------------------------------------

# Pickup p50 and p99 (ms) and idle requests per second, per storage: ZEO's
# from issue 18 (an invalidation reaches a client in about 1 ms), PostgreSQL's
# from issue 17 (LISTEN/NOTIFY).
LATENCY_TARGETS = {"zeo": (10, 50, 0), "postgresql": (50, 250, 1)}
WAKE_BASELINE_COMMITS = 50


def _notified(listener, timeout):
    """True when ``listener`` (a LISTENing psycopg2 connection) got a NOTIFY within ``timeout``."""
    if select.select([listener], [], [], timeout)[0]:
        listener.poll()
    if listener.notifies:
        listener.notifies.clear()
        return True
    return False


def wake_baseline(bench, count=WAKE_BASELINE_COMMITS):
    """How soon another process can know of a commit, the floor of any pickup:
    ZEO's invalidation reaching a second client, PostgreSQL's NOTIFY reaching a
    listener. Milliseconds from the commit's TID, as the pickups are timed;
    enqueues into a queue of their own that no worker serves.
    """
    queue = bench.add_queue("wakebase")
    client = bench.client
    if bench.storage == "zeo":
        other = bench.new_client()
        close = other.close

        def seen(tid):
            if other.db.lastTransaction() >= tid:
                return True
            time.sleep(0.0002)
            return False
    else:
        listener = postgresql.listen(notices.dsn_of(client.db.storage))
        close = listener.close

        def seen(tid):
            return _notified(listener, 0.0005)
    delays = []
    try:
        for _ in range(count):
            time.sleep(random.uniform(0.02, 0.05))
            client.begin()
            job = client.jobs(queue).enqueue(TRIVIAL, "/docs", {}, OWNER,
                                             owner_folder=OWNER_FOLDER, queue_path=queue)
            client.commit()
            deadline = time.monotonic() + 5
            while not seen(job._p_serial) and time.monotonic() < deadline:
                pass
            delays.append((time.time() - commit_time(job)) * 1000)
    finally:
        close()
    return delays


def latency(bench, cfg):
    queue = bench.add_queue("latency")
    processes, boot = bench.start_workers(queue, 1, "latency")
    worker = processes[0]
    try:
        time.sleep(1.5)
        idle_seconds = cfg["idle_seconds"]
        tcp_before = tcp_counters(bench.zeo_port).get(worker.pid)
        status_before = bench.client.server_status()
        cpu_before = cpu_seconds(worker.pid)
        time.sleep(idle_seconds)
        tcp_after = tcp_counters(bench.zeo_port).get(worker.pid)
        status_after = bench.client.server_status()
        cpu_after = cpu_seconds(worker.pid)
        if tcp_before is None or tcp_after is None:
            raise RuntimeError("could not find the worker's database connections with ss")
        idle = {key: tcp_after[key] - tcp_before[key] for key in tcp_before}
        idle_server = status_delta(status_before, status_after)
        requests_per_s = idle["data_segs_out"] / idle_seconds

        count = cfg["latency_jobs"]
        busy_before = tcp_counters(bench.zeo_port).get(worker.pid)
        submits = {}
        client = bench.client
        rng = random.Random(42)
        for _ in range(count):
            time.sleep(rng.uniform(0.05, 0.15))
            client.begin()
            job = client.jobs(queue).enqueue(TRIVIAL, "/docs", {}, OWNER,
                                             owner_folder=OWNER_FOLDER, queue_path=queue)
            client.commit()
            submits[job.id] = commit_time(job)
        stats, timed_out = bench.wait_until_finished(queue, count, 60, processes)
        busy_after = tcp_counters(bench.zeo_port).get(worker.pid)
    finally:
        bench.stop_workers(processes)
    wake = wake_baseline(bench)
    wake_p50 = quantile(wake, 0.5)
    per_job_segs = ((busy_after["data_segs_out"] - busy_before["data_segs_out"]) / count
                    if busy_before and busy_after else None)
    times = bench.started_times(queue, list(submits))
    delays = [(times[job_id][0] - committed) * 1000 for job_id, committed in submits.items()
              if times[job_id][0] is not None]
    done = [(times[job_id][1] - committed) * 1000 for job_id, committed in submits.items()
            if times[job_id][1] is not None]
    check = bench.verify(queue, list(submits))
    p50, p99 = quantile(delays, 0.5), quantile(delays, 0.99)
    p50_target, p99_target, idle_target = LATENCY_TARGETS[bench.storage]
    how = "invalidation to a 2nd client" if bench.storage == "zeo" else "NOTIFY to a listener"
    server = "ZEO" if bench.storage == "zeo" else "PostgreSQL"
    rows = [
        row("3 latency", f"submit commit -> job started, p50 ({count} jobs)", f"{p50:.1f} ms",
            f"{how}: p50 {wake_p50:.1f} ms", f"x{p50 / wake_p50:.1f}; <= {p50_target} ms",
            verdict(p50 <= p50_target)),
        row("3 latency", "submit commit -> job started, p99", f"{p99:.1f} ms",
            f"p99 {quantile(wake, 0.99):.1f} ms", f"<= {p99_target} ms",
            verdict(p99 <= p99_target)),
        row("3 latency", f"idle worker requests to {server} ({idle_seconds:.0f}s, TCP data segs)",
            f"{requests_per_s:.2f}/s",
            f"{per_job_segs:.1f} segs per job when busy" if per_job_segs else "",
            f"<= {idle_target}/s", verdict(requests_per_s <= idle_target)),
    ]
    return {
        "jobs": count, "p50_ms": p50, "p99_ms": p99, "max_ms": max(delays),
        "min_ms": min(delays), "mean_ms": statistics.mean(delays), "delays_ms": delays,
        "wake_baseline_ms": wake, "wake_baseline_p50_ms": wake_p50,
        "p50_submit_to_finished_ms": quantile(done, 0.5), "timed_out": timed_out,
        "idle_seconds": idle_seconds, "idle_tcp": idle, "idle_requests_per_s": requests_per_s,
        "idle_server_ops_all_clients": idle_server,
        "worker_data_segs_out_per_job": per_job_segs,
        "idle_worker_cpu_s": (cpu_after or 0) - (cpu_before or 0),
        "worker_boot_s": boot, "check": check, "rows": rows,
        "lost": check["lost"], "duplicates": check["duplicates"],
    }


# -- 4. queue size -------------------------------------------------------------------------


def build_queue(bench, path, queued, finished, batch=5000):
    """Fill a queue: ``finished`` jobs run to done (claim+finish), then ``queued`` jobs."""
    client = bench.client
    started = time.monotonic()
    remaining = finished
    while remaining > 0:
        size = min(batch, remaining)
        bench.enqueue(path, size, batch=size)
        client.begin()
        jobs = client.jobs(path)
        for job in jobs.claim("bench-builder", limit=size):
            jobs.finish(job.id, job.lease_token, f"{path}/results/none")
        client.commit()
        client.connection.cacheMinimize()
        remaining -= size
    for start in range(0, queued, batch):
        size = min(batch, queued - start)
        bench.enqueue(path, size, batch=size)
        client.connection.cacheMinimize()
    return time.monotonic() - started


def _timed(client, step):
    before = time.perf_counter()
    client.begin()
    try:
        result = step()
        client.commit()
    except BaseException:
        client.abort()
        raise
    return (time.perf_counter() - before) * 1000, result


def queue_size(bench, cfg):
    small, big = "/size_small", "/size_big"
    bench.add_queue(small[1:])
    bench.add_queue(big[1:])
    build_small = build_queue(bench, small, 100, 0)
    build_big = build_queue(bench, big, cfg["size_big"], cfg["size_big"])
    count, warmup = cfg["size_ops"], 20
    ops = ("enqueue", "claim", "finish", "list_jobs")
    times = {(op, path): [] for op in ops for path in (small, big)}
    server = {(op, path): {"loads": 0, "stores": 0} for op in ops for path in (small, big)}

    def enqueue(client, path):
        return lambda: client.jobs(path).enqueue(
            TRIVIAL, "/docs", {}, OWNER, owner_folder=OWNER_FOLDER, queue_path=path)

    def claim(client, path, worker):
        return lambda: [(job.id, job.lease_token)
                        for job in client.jobs(path).claim(worker, limit=1)]

    def finish(client, path, job_id, token):
        return lambda: client.jobs(path).finish(job_id, token, f"{path}/results/none")

    def listing(client, path):
        def step():
            jobs, total = client.jobs(path).list_jobs(size=20)
            return [(job.id, job.state, job.report, job.created) for job in jobs], total
        return step

    def measured(client, op, path, step, number):
        """Time one op; count the server loads and stores it caused (bench is alone)."""
        before = client.server_status()
        spent, result = _timed(client, step)
        after = client.server_status()
        if number >= warmup:
            times[(op, path)].append(spent)
            for key in ("loads", "stores"):
                server[(op, path)][key] += after.get(key, 0) - before.get(key, 0)
        return result

    # Each phase uses a fresh ZEO client (empty caches, cache-size like
    # zope.conf), so a claim loads the job as a worker would, in both queues.
    for phase in ("enqueue", "claim", "list_jobs"):
        client = bench.new_client(cache_size=10000)
        try:
            for number in range(warmup + count):
                order = [small, big] if number % 2 else [big, small]
                for path in order:
                    if phase == "enqueue":
                        measured(client, "enqueue", path, enqueue(client, path), number)
                    elif phase == "claim":
                        claimed = measured(client, "claim", path,
                                           claim(client, path, f"bench-{number % 10}"), number)
                        if not claimed:
                            raise RuntimeError(f"nothing to claim in {path}")
                        measured(client, "finish", path,
                                 finish(client, path, *claimed[0]), number)
                    else:
                        measured(client, "list_jobs", path, listing(client, path), number)
        finally:
            client.close()
    medians = {f"{op}_{'big' if path == big else 'small'}_ms": statistics.median(values)
               for (op, path), values in times.items()}
    per_op = {f"{op}_{'big' if path == big else 'small'}":
              {key: value / count for key, value in counts.items()}
              for (op, path), counts in server.items()}
    rows = []
    ratios = {}
    for op in ops:
        small_ms, big_ms = medians[f"{op}_small_ms"], medians[f"{op}_big_ms"]
        ratio = big_ms / small_ms
        ratios[op] = ratio
        gated = op != "finish"
        big_loads, small_loads = per_op[op + "_big"]["loads"], per_op[op + "_small"]["loads"]
        loads = f"loads/op {big_loads:.2f} vs {small_loads:.2f}"
        rows.append(row(
            "4 queue size", f"{op} median ms/op (commit incl.), big queue",
            f"{big_ms:.2f} ms", f"{small_ms:.2f} ms (100 queued); {loads}",
            f"x{ratio:.2f}" + (" (<= 1.30)" if gated else " (info)"),
            verdict(ratio <= 1.3) if gated else "info"))
    return {"big_queued": cfg["size_big"], "big_finished": cfg["size_big"],
            "build_small_s": build_small, "build_big_s": build_big, "ops": count,
            "medians": medians, "ratios": ratios, "server_per_op": per_op, "rows": rows,
            "data_fs_bytes": bench.data_fs_bytes()}


# -- 5. cost to the web request --------------------------------------------------------------


def web_cost(bench, cfg, queue="/size_big"):
    queued = bench.stats(queue)["queued"]
    process = subprocess.Popen(
        [sys.executable, str(BENCH_DIR / "webcost.py"), str(bench.instance.zope_conf),
         PASSWORD, queue, str(cfg["web_pairs"]), "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=bench.instance.env,
        cwd=bench.home)
    try:
        out, err = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"webcost.py failed ({process.returncode}):\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    added = result["added_median_ms"]
    result["queued"] = queued
    result["rows"] = [
        row("5 web request", f"enqueue adds to a request, median ({queued} queued)",
            f"{added:+.2f} ms", f"{result['median_without_ms']:.2f} ms without",
            "<= 2 ms", verdict(added <= 2)),
        row("5 web request", "  time inside submit() alone, median",
            f"{result['median_submit_call_ms']:.2f} ms",
            target=f"paired diff {result['median_paired_difference_ms']:+.2f} ms"),
    ]
    return result


# -- 6. rendering ------------------------------------------------------------------------------


def _inventory_rows(count):
    return [(f"folder/item-{number:05d}.txt", "File", f"Item number {number} of the inventory",
             "2026-11-27T05:40:12+00:00", str(number * 37 % 100000)) for number in range(count)]


def _render(rows):
    from collective.asyncreports.rendering import Document
    from collective.asyncreports.reports.inventory import HEADER

    document = Document("Object inventory")
    document.paragraph(f"Target: /folder. Depth: 1. Objects listed: {len(rows)}.")
    document.table(HEADER, rows)
    return document.to_pdf()


def rendering(bench, cfg):
    rows = _inventory_rows(1000)
    _render(rows[:50])  # imports and font set-up
    times = []
    pdf = b""
    for _ in range(cfg["render_repeats"]):
        before = time.perf_counter()
        pdf = _render(rows)
        times.append(time.perf_counter() - before)
    seconds = statistics.median(times)
    rate = len(rows) / seconds
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    first_ok = rows[0][0] in text and rows[0][2] in text
    last_ok = rows[-1][0] in text and rows[-1][2] in text
    profile = cProfile.Profile()
    profile.enable()
    _render(rows)
    profile.disable()
    stream = io.StringIO()
    pstats.Stats(profile, stream=stream).sort_stats("tottime").print_stats(8)
    return {
        "rows_rendered": len(rows), "seconds": seconds, "rows_per_s": rate,
        "pages": len(reader.pages), "pdf_bytes": len(pdf), "first_row_found": first_ok,
        "last_row_found": last_ok, "profile_top_tottime": stream.getvalue()[-3000:],
        "rows": [
            row("6 rendering", "1,000-row inventory table to PDF", f"{rate:.0f} rows/s",
                f"{seconds * 1000:.0f} ms, {len(reader.pages)} pages", ">= 3000 rows/s",
                verdict(rate >= 3000)),
            row("6 rendering", "pypdf finds first and last row",
                f"{'yes' if first_ok else 'NO'} / {'yes' if last_ok else 'NO'}",
                target="both", status=verdict(first_ok and last_ok)),
        ],
    }


# -- 7. real reports scale with workers --------------------------------------------------------


def cpu_ceiling(repeats):
    """Two CPU-bound processes at once vs one alone: the machine's own speed-up."""
    command = [sys.executable, str(BENCH_DIR / "cpuprobe.py"), str(repeats)]

    def run(count):
        processes = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True,
                                      cwd=BENCH_DIR) for _ in range(count)]
        try:
            return [float(p.communicate(timeout=300)[0]) for p in processes]
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()

    alone = run(1)[0]
    together = max(run(2))
    return {"alone_s": alone, "together_s": together, "speedup": 2 * alone / together}


def inventory_scaling(bench, cfg):
    folder = bench.add_inventory_folder("inventory", cfg["inventory_objects"])
    count = cfg["inventory_jobs"]
    params = {"depth": 1, "max_items": 5000}
    ceiling = cpu_ceiling(cfg["render_repeats"] * 3)
    runs = {n: run_jobs(bench, f"inv{n}", n, count, INVENTORY, folder, params,
                        timeout=cfg["inventory_timeout"]) for n in (1, 2)}
    one, two = runs[1]["jobs_per_s"], runs[2]["jobs_per_s"]
    speedup = two / one if one else 0.0
    rows = [
        row("7 inventory", f"{count} reports over {cfg['inventory_objects']} objects, 2 workers"
            + _capped(runs[2]), f"{two:.2f} reports/s",
            f"{one:.2f}/s with 1 worker" + _capped(runs[1]),
            f"x{speedup:.2f} faster (>= 1.70)", verdict(speedup >= 1.7)),
        row("7 inventory", "  machine ceiling: 2 CPU-bound processes vs 1 (no ZODB)",
            f"x{ceiling['speedup']:.2f}", f"{ceiling['alone_s']:.2f} s alone",
            f"{ceiling['together_s']:.2f} s two at once"),
    ]
    for n, result in runs.items():
        cpu = result["cpu_ms_per_job"]
        worker_cpu = sum(v for k, v in cpu.items() if k.startswith("worker"))
        logs = result["worker_logs"]
        rows.append(row("7 inventory", f"  {n}w: conflicts (by class) / step retries / released",
                        f"{result['server_ops_per_job']['conflicts'] * count:.0f} / "
                        f"{logs['transient_retries']} / {logs['released']}",
                        _conflicts_text(result),
                        f"CPU ms/report: workers {worker_cpu:.0f}, ZEO {cpu.get('zeo', 0):.0f}"))
    rows.append(row("7 inventory", "  CPU busy in other processes (1w run / 2w run)",
                    f"{runs[1]['cpu']['other_processes_busy_cores']:.2f} / "
                    f"{runs[2]['cpu']['other_processes_busy_cores']:.2f} cores",
                    f"of {runs[2]['cpu']['cores']} cores"))
    for n, result in runs.items():
        rows.append(_clean_row("7 inventory", f"{n} worker(s)", result))
    return {"runs": {str(n): r for n, r in runs.items()}, "speedup": speedup,
            "cpu_ceiling": ceiling, "rows": rows,
            "lost": sum(r["check"]["lost"] for r in runs.values()),
            "duplicates": sum(r["check"]["duplicates"] for r in runs.values())}


# -- 8. memory ---------------------------------------------------------------------------------


def _traced_worker(bench, queue, mode, prefix):
    """Start one worker that reports on its memory (bench/traced_worker.py)."""
    process = bench.instance.start("memory-w1", [
        sys.executable, str(BENCH_DIR / "traced_worker.py"), mode, prefix,
        "-C", str(bench.instance.zope_conf), "worker", "--queue", queue])
    started = time.monotonic()
    bench.wait_for_workers(queue, [process])
    return [process], time.monotonic() - started


def _snapshot(process, path, timeout=120):
    """Ask the traced worker for a tracemalloc snapshot; wait until it is written."""
    os.kill(process.pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline or process.poll() is not None:
            return None
        time.sleep(0.1)
    return path


def _census_growth(first, second, top=15):
    """What grew between two census snapshots of the worker."""
    with open(first) as one, open(second) as two:
        before, after = json.load(one), json.load(two)
    types = {name: after["types"].get(name, 0) - before["types"].get(name, 0)
             for name in set(before["types"]) | set(after["types"])}
    mappings = {name: after["rss_kib_by_mapping"].get(name, 0)
                - before["rss_kib_by_mapping"].get(name, 0)
                for name in set(before["rss_kib_by_mapping"]) | set(after["rss_kib_by_mapping"])}
    return {
        "gc_objects_diff": after["gc_objects"] - before["gc_objects"],
        "allocated_blocks_diff": after["allocated_blocks"] - before["allocated_blocks"],
        "types_diff": dict(sorted(types.items(), key=lambda item: -abs(item[1]))[:top]),
        "rss_kib_by_mapping_diff": mappings,
        "connections_before": before["connections"],
        "connections_after": after["connections"],
    }


def _growth(first, second, top=12):
    """The allocation sites that grew most between two snapshots."""
    import tracemalloc

    before = tracemalloc.Snapshot.load(first)
    after = tracemalloc.Snapshot.load(second)
    stats = after.compare_to(before, "traceback")
    lines = []
    for stat in stats[:top]:
        # tracemalloc orders frames oldest first: keep the most recent ones.
        frames = [f"{frame.filename.rsplit('site-packages/', 1)[-1].rsplit('/src/', 1)[-1]}"
                  f":{frame.lineno}" for frame in reversed(stat.traceback[-6:])]
        lines.append({"size_diff_kib": round(stat.size_diff / 1024, 1),
                      "count_diff": stat.count_diff, "where": frames})
    total = sum(stat.size_diff for stat in stats)
    return {"total_diff_kib": round(total / 1024, 1), "top": lines}


def memory(bench, cfg, trace=False):
    count, checkpoint = cfg["memory_jobs"], cfg["memory_checkpoint"]
    queue = bench.add_queue("memory")
    ids, _ = bench.enqueue(queue, count)
    prefix = str(bench.home / "memory-trace")
    if trace:
        processes, boot = _traced_worker(bench, queue, trace, prefix)
    else:
        processes, boot = bench.start_workers(queue, 1, "memory")
    worker = processes[0]
    samples = []
    snapshots = []

    def sample(stats):
        done = stats["done"] + stats["failed"]
        samples.append((time.monotonic(), done, rss_kib(worker.pid)))
        if trace and not snapshots and done >= checkpoint:
            snapshots.append(_snapshot(worker, prefix + ".0"))

    try:
        started = time.monotonic()
        stats, timed_out = bench.wait_until_finished(
            queue, count, cfg["memory_timeout"], processes, sample=sample, interval=0.5)
        sample(stats)
        elapsed = time.monotonic() - started
        if trace and snapshots and snapshots[0]:
            snapshots.append(_snapshot(worker, prefix + ".1"))
    finally:
        bench.stop_workers(processes)
    check = bench.verify(queue, ids, complete=not timed_out)
    at_checkpoint = next((rss for _, done, rss in samples if done >= checkpoint and rss), None)
    end = next((rss for _, _, rss in reversed(samples) if rss), None)
    done = samples[-1][1]
    ratio = end / at_checkpoint if at_checkpoint and end else None
    marks = {}
    for fraction in (0.1, 0.25, 0.5, 0.75, 1.0):
        hit = next(((d, rss) for _, d, rss in samples if d >= fraction * count and rss), None)
        if hit:
            marks[str(fraction)] = {"done": hit[0], "rss_kib": hit[1]}
    label = f"{done} of {count} jobs" + (" (TIME CAP)" if timed_out else "")
    if ratio is None:
        status = "FAIL"
    elif ratio > 1.15:
        status = "FAIL"
    else:
        status = "incomplete" if timed_out else "pass"
    after = [(d, rss) for _, d, rss in samples if d >= checkpoint and rss]
    slope = ((after[-1][1] - after[0][1]) / (after[-1][0] - after[0][0]) * 1000
             if len(after) > 1 and after[-1][0] > after[0][0] else None)
    start_rss = next((rss for _, _, rss in samples if rss), None)
    rows = [row("8 memory", f"worker RSS at end, {label}",
                f"{(end or 0) / 1024:.1f} MiB",
                f"{(at_checkpoint or 0) / 1024:.1f} MiB after {checkpoint}",
                f"x{ratio:.2f} (<= 1.15)" if ratio else "n/a", status),
            row("8 memory", "  RSS at start / growth after the checkpoint",
                f"{(start_rss or 0) / 1024:.1f} MiB",
                f"+{slope / 1024:.1f} MiB per 1000 jobs" if slope is not None else "",
                f"{done / elapsed:.1f} jobs/s")]
    check["elapsed"] = elapsed
    growth = None
    if trace == "census" and len(snapshots) == 2 and all(snapshots):
        growth = _census_growth(*snapshots)
        rows.append(row("8 memory", "  census: RSS growth by mapping (KiB)",
                        json.dumps(growth["rss_kib_by_mapping_diff"]),
                        f"gc objects {growth['gc_objects_diff']:+d}, blocks "
                        f"{growth['allocated_blocks_diff']:+d}", "census (diagnosis)"))
    elif trace and len(snapshots) == 2 and all(snapshots):
        growth = _growth(*snapshots)
        for item in growth["top"][:5]:
            rows.append(row("8 memory", "  traced growth: " + item["where"][0][-60:],
                            f"{item['size_diff_kib']:+.0f} KiB", f"{item['count_diff']:+d} blocks",
                            "tracemalloc (diagnosis)"))
    rows.append(_clean_row("8 memory", "1 worker", {"check": check}))
    return {"jobs": count, "done": done, "timed_out": timed_out, "seconds": elapsed,
            "jobs_per_s": done / elapsed, "rss_checkpoint_kib": at_checkpoint,
            "rss_end_kib": end, "rss_start_kib": start_rss, "ratio": ratio,
            "growth_kib_per_1000_jobs": slope, "traced": trace, "traced_growth": growth,
            "marks": marks, "worker_boot_s": boot,
            "samples": [(round(t - samples[0][0], 2), d, r) for t, d, r in samples[::4]],
            "check": check, "rows": rows, "lost": check["lost"],
            "duplicates": check["duplicates"], "data_fs_bytes": bench.data_fs_bytes()}


# -- 9. cancel latency ---------------------------------------------------------------------


CANCELLABLE = "bench-cancellable"


def _watch(client, queue, job_id, ended, timeout):
    """Poll a job every 10 ms until its report runs; ``ended``: until it ended,
    then return its ``finished``."""
    deadline = time.monotonic() + timeout

    def read(c):
        job = c.jobs(queue).get(job_id)
        if job.is_final and not ended:
            raise RuntimeError(f"job {job_id} is {job.state} before it ran: "
                               f"{job.error_message}")
        return (job.finished if job.is_final else None) if ended else job.started_running

    while not (seen := client.read(read)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id}: not {'ended' if ended else 'running'} "
                               f"after {timeout}s")
        time.sleep(0.01)
    return seen


def cancel_latency(bench, cfg):
    """Cancels of running reports: committed request -> job cancelled.

    One worker; one job at a time of a report that loops until it is
    stopped, half of them calling ``progress()`` at every turn, half never
    (interrupted by the worker's heartbeat thread). Each is cancelled a
    random 0.1-0.4 s into its report; the time runs from the cancel's commit
    (its TID) to the job's ``finished`` (the worker's clock, same machine).
    """
    queue = bench.add_queue("cancel")
    processes, boot = bench.start_workers(queue, 1, "cancel")
    client = bench.client
    rng = random.Random(9)
    latencies = {True: [], False: []}
    ids = []
    try:
        for number in range(cfg["cancel_jobs"]):
            calls_progress = number % 2 == 0
            (job_id,), _ = bench.enqueue(queue, 1, CANCELLABLE, params={"progress": calls_progress})
            ids.append(job_id)
            _watch(client, queue, job_id, ended=False, timeout=30)
            time.sleep(rng.uniform(0.1, 0.4))
            client.begin()
            job = client.jobs(queue).cancel(job_id, actor="bench")
            client.commit()
            requested = commit_time(job)
            finished = _watch(client, queue, job_id, ended=True, timeout=10)
            latencies[calls_progress].append((finished - requested) * 1000)
        (after,), _ = bench.enqueue(queue, 1)
        bench.wait_until_finished(queue, len(ids) + 1, 30, processes)
        states = bench.started_times(queue, [*ids, after])
        results = client.read(lambda c: len(c.queue(queue).result_store().folder().objectIds()))
    finally:
        bench.stop_workers(processes)
    cancelled = sum(1 for job_id in ids if states[job_id][2] == "cancelled")
    everything = latencies[True] + latencies[False]
    p50, p99 = quantile(everything, 0.5), quantile(everything, 0.99)
    rows = [
        row("9 cancel", f"cancel commit -> cancelled, p50 ({len(ids)} running reports)",
            f"{p50:.0f} ms", f"with progress() {quantile(latencies[True], 0.5):.0f} ms, "
            f"busy loop {quantile(latencies[False], 0.5):.0f} ms", "", "info"),
        row("9 cancel", "cancel commit -> cancelled, p99 / max", f"{p99:.0f} / "
            f"{max(everything):.0f} ms", "", "<= 2000 ms", verdict(max(everything) <= 2000)),
        row("9 cancel", "cancelled / results stored / next job", f"{cancelled} / {results - 1} / "
            f"{states[after][2]}", "", f"{len(ids)} / 0 / done",
            verdict(cancelled == len(ids) and results == 1 and states[after][2] == "done")),
    ]
    return {"jobs": len(ids), "p50_ms": p50, "p99_ms": p99, "max_ms": max(everything),
            "with_progress_ms": latencies[True], "busy_loop_ms": latencies[False],
            "worker_boot_s": boot, "cancelled": cancelled, "results": results, "rows": rows,
            "lost": 0 if states[after][2] == "done" else 1, "duplicates": max(0, results - 1)}
