"""Time ``gcdedup stats`` against the usual alternatives on one generated stream.

Contenders, each run as its own process, ``--reps`` rounds, median reported. Each
round runs every contender once, one after another, so a change in the machine's
load (a shared machine) hits all contenders alike; the load average before and
after is recorded.

* ``gcdedup stats FILE --json`` (all cores for a large JSON Lines file);
* the tutorial's per-event key logic in plain Python: ``json.loads``, then
  ``json.dumps(detail, sort_keys=True)`` and SHA-256 per event, keys in a set (no store);
* DuckDB: ``count(distinct md5(detail))`` over ``read_json``;
* ``jq -c .detail FILE | sort | uniq -c``.

Peak memory is the largest resident set among a run's processes (``ru_maxrss`` of
the children, measured in a fresh wrapper process per run). Results go to
``bench/results/stats.json`` and ``bench/results/stats.md``.

    python bench/generate.py --events 1000000 --out bench/data/stream.jsonl
    python bench/run_stats.py bench/data/stream.jsonl --reps 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from results_file import save

HERE = Path(__file__).resolve().parent
PY = sys.executable
GCDEDUP = shutil.which("gcdedup", path=str(Path(PY).parent)) or "gcdedup"

TUTORIAL_LOGIC = r"""
import hashlib, json, sys
keys = set()
events = 0
with open(sys.argv[1], encoding="utf-8") as fh:
    for line in fh:
        if not line.strip():
            continue
        detail = json.loads(line)["detail"]
        canonical = json.dumps(detail, sort_keys=True)
        keys.add(hashlib.sha256(canonical.encode("utf-8")).hexdigest())
        events += 1
print(events, len(keys))
"""

DUCKDB_QUERY = r"""
import sys, duckdb
sql = ("SELECT count(*), count(DISTINCT md5(CAST(detail AS VARCHAR))) "
       "FROM read_json(?, format='newline_delimited', columns={'detail': 'JSON'})")
print(*duckdb.execute(sql, [sys.argv[1]]).fetchone())
"""

#: Runs a command and reports its wall time and the peak RSS of its process tree.
WRAPPER = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"wall": wall, "peak_kb": peak, "rc": proc.returncode,
                  "out": proc.stdout.decode()[-300:], "err": proc.stderr.decode()[-300:]}))
"""


def contenders(path: str) -> dict[str, list[str]]:
    return {
        "gcdedup stats": [GCDEDUP, "stats", path, "--json"],
        "gcdedup stats (1 process)": [GCDEDUP, "stats", path, "--json", "--jobs", "1"],
        "tutorial logic (json+sha256)": [PY, "-c", TUTORIAL_LOGIC, path],
        "duckdb count(distinct md5(detail))": [PY, "-c", DUCKDB_QUERY, path],
        "jq | sort | uniq -c": [
            "bash",
            "-c",
            'jq -c .detail "$1" | LC_ALL=C sort | uniq -c | wc -l',
            "bash",
            path,
        ],
    }


def run_once(command: list[str]) -> dict[str, object]:
    out = subprocess.run([PY, "-c", WRAPPER, *command], capture_output=True, check=True)
    result: dict[str, object] = json.loads(out.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"{command[0]} failed: {result['err']}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="a JSON Lines stream from bench/generate.py")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", action="append", help="run only contenders containing this")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    truth_path = Path(args.path + ".truth.json")
    truth = json.loads(truth_path.read_text()) if truth_path.exists() else {}
    if "events" in truth:
        events = int(truth["events"])
    else:
        with open(args.path, "rb") as fh:
            events = sum(1 for _ in fh)
    size = os.path.getsize(args.path)
    selected = {
        name: command
        for name, command in contenders(args.path).items()
        if (not args.only or any(o in name for o in args.only))
        and not (command[0] in ("jq", "bash") and not shutil.which("jq"))
    }
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, object]]] = {name: [] for name in selected}
    for rep in range(args.reps):
        for name, command in selected.items():
            runs[name].append(run_once(command))
            print(f"{name} #{rep + 1}: {runs[name][-1]['wall']:.2f}s", file=sys.stderr)
    load_after = os.getloadavg()
    results = []
    for name, name_runs in runs.items():
        walls = [float(r["wall"]) for r in name_runs]  # type: ignore[arg-type]
        median = statistics.median(walls)
        results.append(
            {
                "name": name,
                "median_seconds": median,
                "runs_seconds": walls,
                "events_per_second": events / median,
                "peak_rss_mb": max(int(r["peak_kb"]) for r in name_runs) / 1024,  # type: ignore[call-overload]
                "output_tail": str(name_runs[-1]["out"]).strip()[-120:],
            }
        )
    doc: dict[str, Any] = {
        "file": os.path.basename(args.path),
        "events": events,
        "bytes": size,
        "reps": args.reps,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "truth": {k: truth.get(k) for k in ("unique", "duplicates", "by_kind")},
        "results": results,
    }
    save(args.out, "stats", doc, markdown(doc))
    return 0


def markdown(doc: dict[str, Any]) -> str:
    """The results table of a ``stats.json`` document."""
    before = ", ".join(f"{x:.2f}" for x in doc["load_average_before"])
    after = ", ".join(f"{x:.2f}" for x in doc["load_average_after"])
    lines = [
        f"# stats benchmark: {doc['events']:,} events, {doc['bytes'] / 1e6:,.0f} MB, "
        f"{doc['cpus']} CPUs",
        "",
        f"Median of {doc['reps']} rounds; each round runs every contender once on the same "
        f"file, one after another ({doc['when']}). Load average (1, 5, 15 min) before: "
        f"{before}; after: {after}.",
        "",
        "| contender | median s | events/s | peak RSS MB |",
        "|---|---:|---:|---:|",
    ]
    for r in doc["results"]:
        name = r["name"].replace("|", "\\|")  # a pipe would end the table cell
        lines.append(
            f"| {name} | {r['median_seconds']:.2f} | {r['events_per_second']:,.0f} | "
            f"{r['peak_rss_mb']:,.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
