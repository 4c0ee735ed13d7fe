"""The Python engine against Spark ``local[2]`` on one machine, and the Python engine's
memory against distinct keys: what docs/spark.md says about when to switch.

Each run is ``gcdedup stats FILE --json`` (``--engine spark --spark-master local[2]``
for Spark) in a fresh process; ``--reps`` rounds, each round runs both engines one
after the other (a change in the machine's load hits both alike), medians reported
with the load average before and after. Memory is reported as the peak resident set
of the gcdedup process itself (the Python driver) and, apart, of the largest process
it started (Spark's JVM and Python workers; the Python engine's scan workers), and
their sum at its highest (sampled from /proc every half second). Both
engines' documents are compared field by field on every run. Results go to
``bench/results/spark.json`` and ``bench/results/spark.md``.

    python bench/generate.py --events 1000000 --out bench/data/stream-1m.jsonl
    python bench/run_spark.py bench/data/stream-1m.jsonl --reps 3
    python bench/run_spark.py bench/data/stream-1m.jsonl --curve 100000,300000,1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from results_file import save

HERE = Path(__file__).resolve().parent
PY = sys.executable

#: Runs gcdedup's CLI in this process; reports wall time, its own peak RSS and the
#: largest peak RSS among the processes it started and waited for.
WRAPPER = r"""
import contextlib, io, json, os, resource, runpy, sys, threading, time
sys.argv = ["gcdedup", *sys.argv[1:]]
peak = {"sum": 0, "one": 0}
stop = threading.Event()

def rss_of_descendants():
    parents, rss = {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        parents[int(name)] = int(fields["PPid"])
        rss[int(name)] = int(fields.get("VmRSS", "0 kB").split()[0])
    me, found = os.getpid(), []
    for pid in parents:
        p = pid
        while p in parents and p != me:
            p = parents[p]
        if p == me and pid != me:
            found.append(rss[pid])
    return found

def sample():
    while not stop.wait(0.5):
        found = rss_of_descendants()
        peak["sum"] = max(peak["sum"], sum(found))
        peak["one"] = max([peak["one"], *found])

threading.Thread(target=sample, daemon=True).start()
out = io.StringIO()
start = time.perf_counter()
code = 0
with contextlib.redirect_stdout(out):
    try:
        runpy.run_module("gcdedup", run_name="__main__")
    except SystemExit as exc:
        code = exc.code or 0
wall = time.perf_counter() - start
stop.set()
print(json.dumps({
    "wall": wall, "rc": code, "doc": out.getvalue(),
    "self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "children_kb": peak["one"], "children_sum_kb": peak["sum"],
}))
"""

ENGINES = {
    "python (all cores)": [],
    "spark local[2]": ["--engine", "spark", "--spark-master", "local[2]"],
}


def load() -> float:
    return os.getloadavg()[0]


def run_once(path: str, extra: list[str]) -> dict[str, Any]:
    before = load()
    done = subprocess.run(
        [PY, "-c", WRAPPER, "stats", path, "--json", *extra], capture_output=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    if result["rc"] != 0:
        raise SystemExit(f"stats {extra} failed: {done.stderr.decode()[-500:]}")
    result["doc"] = json.loads(result["doc"])
    result["load_before"], result["load_after"] = before, load()
    return result


def compare(path: str, reps: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in ENGINES}
    for _ in range(reps):
        for name, extra in ENGINES.items():
            runs[name].append(run_once(path, extra))
    docs = [run["doc"] for results in runs.values() for run in results]
    same = all(doc == docs[0] for doc in docs)
    out: dict[str, Any] = {"events": docs[0]["events"], "same_report": same, "engines": {}}
    for name, results in runs.items():
        out["engines"][name] = {
            "wall_s": [round(r["wall"], 2) for r in results],
            "median_s": round(statistics.median(r["wall"] for r in results), 2),
            "driver_mb": round(statistics.median(r["self_kb"] for r in results) / 1024),
            "largest_child_mb": round(statistics.median(r["children_kb"] for r in results) / 1024),
            "children_mb": round(statistics.median(r["children_sum_kb"] for r in results) / 1024),
            "load": [[round(r["load_before"], 1), round(r["load_after"], 1)] for r in results],
        }
    return out


def curve(path: str, sizes: list[int]) -> list[dict[str, Any]]:
    """The Python engine in one process (its whole map in one place) on the first N
    lines of ``path``: peak RSS against distinct keys."""
    points = []
    for size in sizes:
        head = Path(f"{path}.head-{size}")
        if not head.exists():
            with open(path, "rb") as src, open(head, "wb") as dst:
                for n, line in enumerate(src):
                    if n >= size:
                        break
                    dst.write(line)
        result = run_once(str(head), ["--jobs", "1"])
        doc = result["doc"]
        points.append(
            {
                "events": doc["events"],
                "distinct_keys": doc["unique"],
                "peak_mb": round(result["self_kb"] / 1024),
                "wall_s": round(result["wall"], 2),
            }
        )
    return points


def table(doc: dict[str, Any]) -> str:
    lines = [f"# Spark local[2] against the Python engine ({doc['machine']})", ""]
    for comparison in doc["comparisons"]:
        lines += [
            f"## {comparison['file']}: {comparison['events']:,} events, "
            f"same report on every run: {comparison['same_report']}",
            "",
            "| engine | median s | runs (s) | driver RSS MB | largest child MB | all children MB "
            "| load before, after |",
            "|---|---:|---|---:|---:|---:|---|",
        ]
        for name, e in comparison["engines"].items():
            lines.append(
                f"| {name} | {e['median_s']} | {', '.join(map(str, e['wall_s']))} | "
                f"{e['driver_mb']} | {e['largest_child_mb']} | {e['children_mb']} | {e['load']} |"
            )
        lines.append("")
    if doc.get("curve"):
        lines += [
            "## The Python engine's memory against distinct keys (one process)",
            "",
            "| events | distinct keys | peak RSS MB | s |",
            "|---:|---:|---:|---:|",
        ]
        for p in doc["curve"]:
            lines.append(
                f"| {p['events']:,} | {p['distinct_keys']:,} | {p['peak_mb']} | {p['wall_s']} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="JSON Lines streams from bench/generate.py")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--curve", help="comma-separated event counts (first N lines)")
    parser.add_argument("--curve-from", help="the stream the curve cuts (default: first path)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--name", default="spark")
    args = parser.parse_args(argv)
    doc: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, {platform.python_version()}, {platform.machine()}",
        "reps": args.reps,
        "comparisons": [],
    }
    for path in args.paths:
        result = compare(path, args.reps)
        doc["comparisons"].append({"file": Path(path).name, **result})
    if args.curve:
        source = args.curve_from or args.paths[0]
        doc["curve"] = curve(source, [int(n) for n in args.curve.split(",")])
    save(args.out, args.name, doc, table(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
