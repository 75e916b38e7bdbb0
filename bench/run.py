"""``make bench``: a self-contained benchmark of collective.asyncreports.

Starts its own ZEO server on 127.0.0.1 (in a temp home), its own worker
processes and its own submitters, stops them all by PID, prints one table and
writes the same figures (and every raw number) to ``bench/results.json``.

    .venv/bin/python bench/run.py [--quick] [--only 1,3] [--keep] [--json PATH]

Exit status: 0 when the bench ran (also when targets are missed: the table
says which), 1 when the harness itself broke, 3 when jobs were lost or
duplicated.
"""

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import time
import traceback
from importlib.metadata import version
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import scenarios  # noqa: E402
import scenarios_round2  # noqa: E402


# Counts, and time caps that keep a slow build of the code within the time
# budget (a capped figure says so in the table and in the JSON).
FULL = {
    "raw_seconds": 5.0,
    "throughput_jobs": 5000,
    "throughput_timeout": 100,
    "idle_seconds": 20.0,
    "latency_jobs": 200,
    "size_big": 100_000,
    "size_ops": 200,
    "web_pairs": 300,
    "render_repeats": 3,
    "inventory_objects": 2000,
    "inventory_jobs": 100,
    "inventory_timeout": 90,
    "memory_jobs": 20_000,
    "memory_checkpoint": 1000,
    "memory_timeout": 210,
    "cancel_jobs": 40,
    # 0: zope.conf as dev.processes writes it; else the ZODB cache-size (objects)
    # of the workers, for diagnosis.
    "zodb_cache_size": 0,
    # "ofs": the results folder the product makes; "btree": a BTreeFolder2
    # made by the bench instead, for diagnosis.
    "results_folder": "ofs",
    # Issue 18 (scenarios_round2.py).
    "small_jobs": 300,
    "small_loop": 150,
    "small_timeout": 120,
    "big_result_mb": 50,
    "big_result_timeout": 120,
    "million_jobs": 1_000_000,
    "million_batch": 20_000,
    "million_ops": 100,
    "million_purge": 100_000,
    "million_claim_seconds": 5.0,
    "cli_repeats": 5,
    "plone_folders": 100,
    "plone_pages": 100,
    "plone_timeout": 300,
    "web_jobs": 2000,
    "web_clients": 8,
    "web_timeout": 120,
}

QUICK = dict(
    FULL,
    raw_seconds=3.0,
    throughput_jobs=300,
    throughput_timeout=8,
    idle_seconds=5.0,
    latency_jobs=40,
    size_big=10_000,
    size_ops=60,
    web_pairs=60,
    render_repeats=2,
    inventory_jobs=10,
    inventory_timeout=8,
    memory_jobs=1500,
    memory_checkpoint=200,
    memory_timeout=15,
    cancel_jobs=6,
    small_jobs=40,
    small_loop=30,
    small_timeout=20,
    big_result_mb=10,
    million_jobs=40_000,
    million_ops=30,
    million_purge=5_000,
    million_claim_seconds=2.0,
    cli_repeats=2,
    plone_folders=10,
    plone_pages=50,
    web_jobs=200,
)

# name, title, function, needs the raw baseline
SCENARIOS = [
    ("1", "raw commit baseline", "raw_baseline"),
    ("6", "rendering", "rendering"),
    ("3", "pickup latency and idle traffic", "latency"),
    ("2", "queue throughput", "throughput"),
    ("7", "inventory reports, 1 vs 2 workers", "inventory_scaling"),
    ("8", "worker memory", "memory"),
    ("4", "queue size", "queue_size"),
    ("5", "cost to the web request", "web_cost"),
    ("9", "cancel latency of running reports", "cancel_latency"),
    ("10", "real small reports, loop vs 1 vs 2 workers", "small_reports"),
    ("11", "a busy web site: 2 Zope instances, 8 clients, 2 workers", "busy_site"),
    ("13", "a big result stored", "big_result"),
    ("15", "CLI read-only commands", "cli"),
    ("14", "a million jobs", "million_jobs"),
    ("12", "a big Plone site", "big_plone_site"),
]
# Run only when named in --only (too slow for the full run's 20 minutes).
ONLY_WHEN_ASKED = {"12", "14"}

# What ``--storage zeo,postgresql`` runs on each storage (issue 17).
SIDE_BY_SIDE = {"1", "2", "3", "4"}
STORAGES = ("zeo", "postgresql")

COLUMNS = (("scenario", "scenario"), ("figure", "figure"), ("value", "value"),
           ("baseline", "baseline"), ("target", "ratio / target"), ("status", "pass/fail"))


def machine_info():
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {name: version(name) for name in
                     ("ZODB", "ZEO", "BTrees", "persistent", "Zope", "reportlab", "pypdf")},
        "loadavg_start": os.getloadavg(),
    }


def code_version():
    """The commit measured, and which tracked files differ from it (read-only git)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "HEAD"),
            "subject": git("log", "-1", "--format=%s"),
            "modified": git("status", "--porcelain", "--untracked-files=no").splitlines()}


def table(rows):
    widths = {key: max([len(title)] + [len(str(r[key])) for r in rows])
              for key, title in COLUMNS}
    widths["figure"] = min(widths["figure"], 62)
    line = " | ".join(title.ljust(widths[key]) for key, title in COLUMNS)
    out = [line, "-+-".join("-" * widths[key] for key, _ in COLUMNS)]
    for r in rows:
        out.append(" | ".join(str(r[key]).ljust(widths[key]) for key, _ in COLUMNS))
    return "\n".join(out)


def log(message):
    print(message, file=sys.stderr, flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, under 2 minutes")
    parser.add_argument("--only", help="comma-separated scenario numbers, e.g. 1,2")
    parser.add_argument("--keep", action="store_true", help="keep the temp home (logs, Data.fs)")
    parser.add_argument("--trace-memory", choices=["census", "tracemalloc"],
                        help="diagnosis: scenario 8's worker reports what grew between "
                             "the checkpoint and the end (tracemalloc makes it slow)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a count or time cap, e.g. memory_jobs=3000")
    parser.add_argument("--storage", default="zeo",
                        help="comma-separated storages, each with a database server of its own: "
                             "zeo, postgresql (RelStorage); scenarios 1-4 run on every one, "
                             "side by side, the others on the first")
    parser.add_argument("--json", default=str(Path(__file__).resolve().parent / "results.json"))
    args = parser.parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL)
    for pair in args.set:
        key, _, value = pair.partition("=")
        if key not in cfg:
            parser.error(f"--set {pair}: unknown key (known: {', '.join(sorted(cfg))})")
        cfg[key] = type(cfg[key])(value)
    wanted = (set(args.only.split(",")) if args.only
              else {n for n, _, _ in SCENARIOS} - ONLY_WHEN_ASKED)
    if "5" in wanted:
        wanted.add("4")  # the web request runs against the big queue of 4
    if "2" in wanted or "11" in wanted:
        wanted.add("1")  # throughput is compared with the raw commit rate

    started = time.monotonic()
    report = {
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "config": cfg,
        "machine": machine_info(),
        "code": code_version(),
        "scenarios": {},
        "errors": {},
    }
    rows = []
    status = 0

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)  # also when started with SIGINT ignored
    storages = args.storage.split(",")
    unknown = set(storages) - set(STORAGES)
    if unknown:
        parser.error(f"--storage: unknown {', '.join(sorted(unknown))} (known: zeo, postgresql)")
    for storage in storages:
        # Other storages than the first run only the scenarios compared side by
        # side; their figures are keyed NUMBER@STORAGE in the JSON.
        on = wanted if storage == storages[0] else wanted & SIDE_BY_SIDE

        def key(number, storage=storage):
            return number if storage == storages[0] else f"{number}@{storage}"

        bench = harness.Bench(keep=args.keep, log=log, zodb_cache_size=cfg["zodb_cache_size"],
                              results_folder=cfg["results_folder"], storage=storage)
        try:
            log(f"bench ({report['mode']}): starting {storage} and bootstrapping")
            bench.start()
            for number, title, function in SCENARIOS:
                if number not in on:
                    continue
                log(f"[{time.monotonic() - started:6.1f}s] scenario {number}: {title}")
                step_started = time.monotonic()
                try:
                    call = getattr(scenarios, function, None) or getattr(scenarios_round2, function)
                    if function == "memory":
                        result = call(bench, cfg, trace=args.trace_memory)
                    elif function in ("throughput", "busy_site"):
                        raw = report["scenarios"].get(key("1"))
                        result = call(bench, cfg, raw)
                    else:
                        result = call(bench, cfg)
                except Exception:
                    status = 1
                    report["errors"][key(number)] = traceback.format_exc()
                    log(traceback.format_exc())
                    rows.append(scenarios.row(key(number), title, "harness error",
                                              status="ERROR"))
                    continue
                result["scenario_seconds"] = time.monotonic() - step_started
                report["scenarios"][key(number)] = result
                if len(storages) > 1:
                    for r in result["rows"]:
                        r["scenario"] += f" [{storage}]"
                rows.extend(result["rows"])
                for r in result["rows"]:
                    log(f"    {r['figure']}: {r['value']}  {r['target']}  {r['status']}")
                if result.get("lost") or result.get("duplicates"):
                    status = max(status, 3)
        except KeyboardInterrupt:
            log("interrupted: stopping everything")
            status = 1
            report["errors"]["interrupted"] = True
            break
        except Exception:
            status = 1
            report["errors"]["harness"] = traceback.format_exc()
            log(traceback.format_exc())
        finally:
            bench.close()
            if args.keep:
                log(f"kept {bench.home}")
    report["seconds"] = time.monotonic() - started
    report["machine"]["loadavg_end"] = os.getloadavg()
    report["table"] = rows
    report["exit_status"] = status
    Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(table(rows))
    missed = [r for r in rows if r["status"] in ("FAIL", "ERROR")]
    print(f"\n{len(missed)} of {sum(1 for r in rows if r['status'] != 'info')} checks missed; "
          f"{report['seconds']:.0f}s; raw numbers in {args.json}")
    return status


if __name__ == "__main__":
    sys.exit(main())
