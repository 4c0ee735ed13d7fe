"""Time ``gcdedup stats`` on runs of blank lines beside the same command on real events.

A few kilobytes of gzip can inflate to millions of blank lines; a reader that pays
per line pays per newline of the bomb. This runner builds, from one generated stream:

* ``real-100k.jsonl`` and ``real-100k.jsonl.gz``: 100,000 generated events;
* ``blank-between.jsonl.gz``: 5,000,000 newlines between a few events (the events'
  first line decides the format, the run is met by the line readers);
* ``blank-leading.jsonl.gz``: the same newlines before the events (the run is met by
  the format sniffer first);

and runs ``gcdedup stats FILE --json`` on each, ``--reps`` rounds, every input once per
round (so the machine's load hits all alike), median reported. ``--tree DIR`` adds the
same runs with the package imported from another source tree (an export of an older
commit, to compare before and after side by side). Results go to
``bench/results/blank.json`` and ``bench/results/blank.md``.

    python bench/generate.py --events 100000 --out bench/data/stream-100k.jsonl
    python bench/run_blank.py bench/data/stream-100k.jsonl --reps 3 --tree /tmp/before
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from results_file import save

HERE = Path(__file__).resolve().parent
PY = sys.executable
BLANK_LINES = 5_000_000

#: ``gcdedup`` with the package imported from ``argv[1]`` (ahead of an editable install).
CLI = r"""
import sys
tree = sys.argv.pop(1)
if tree:
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, tree)
from gcdedup.cli.app import main
main()
"""

#: Runs a command and reports its wall time and the peak RSS of its process tree.
WRAPPER = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
try:
    doc = json.loads(proc.stdout)
except ValueError:
    doc = {}
print(json.dumps({"wall": wall, "peak_kb": peak, "rc": proc.returncode,
                  "events": doc.get("events"), "bad_records": doc.get("bad_records"),
                  "err": proc.stderr.decode()[-300:]}))
"""


def build_inputs(stream: Path, data: Path) -> dict[str, Path]:
    """The four inputs, written once into ``data``."""
    data.mkdir(parents=True, exist_ok=True)
    lines = stream.read_bytes().splitlines(keepends=True)[:100_000]
    few = b"".join(lines[:5] + lines[:2])  # five events and two copies of them
    inputs = {
        "real 100k (plain)": data / "real-100k.jsonl",
        "real 100k (gzip)": data / "real-100k.jsonl.gz",
        "5M blank lines between 7 events (gzip)": data / "blank-between.jsonl.gz",
        "5M blank lines before 7 events (gzip)": data / "blank-leading.jsonl.gz",
    }
    contents = [
        b"".join(lines),
        b"".join(lines),
        few[: len(lines[0])] + b"\n" * BLANK_LINES + few[len(lines[0]) :],
        b"\n" * BLANK_LINES + few,
    ]
    for path, content in zip(inputs.values(), contents, strict=True):
        if path.exists():
            continue
        if path.suffix == ".gz":
            path.write_bytes(gzip.compress(content, 6))
        else:
            path.write_bytes(content)
    return inputs


def run_once(tree: str, path: Path) -> dict[str, Any]:
    command = [PY, "-c", CLI, tree, "stats", str(path), "--json"]
    out = subprocess.run([PY, "-c", WRAPPER, *command], capture_output=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"stats {path} failed: {result['err']}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stream", type=Path, help="a JSON Lines stream from bench/generate.py")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--tree", help="also run the package from this source tree")
    parser.add_argument("--tree-label", default="before")
    parser.add_argument("--data", type=Path, default=HERE / "data" / "blank")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    inputs = build_inputs(args.stream, args.data)
    trees = {"this tree": ""}
    if args.tree:
        trees[args.tree_label] = str(Path(args.tree).resolve())
    load_before = os.getloadavg()
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rep in range(args.reps):
        for label, path in inputs.items():
            for tree_label, tree in trees.items():
                result = run_once(tree, path)
                runs.setdefault((tree_label, label), []).append(result)
                print(f"{tree_label} | {label} #{rep + 1}: {result['wall']:.2f}s", file=sys.stderr)
    load_after = os.getloadavg()
    results = []
    for (tree_label, label), tree_runs in runs.items():
        walls = [float(r["wall"]) for r in tree_runs]
        results.append(
            {
                "code": tree_label,
                "input": label,
                "compressed_bytes": inputs[label].stat().st_size,
                "median_seconds": statistics.median(walls),
                "runs_seconds": walls,
                "peak_rss_mb": max(int(r["peak_kb"]) for r in tree_runs) / 1024,
                "events": tree_runs[-1]["events"],
                "bad_records": tree_runs[-1]["bad_records"],
            }
        )
    doc: dict[str, Any] = {
        "blank_lines": BLANK_LINES,
        "reps": args.reps,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "results": results,
    }
    save(args.out, "blank", doc, markdown(doc))
    return 0


def markdown(doc: dict[str, Any]) -> str:
    """The results table of a ``blank.json`` document."""
    before = ", ".join(f"{x:.2f}" for x in doc["load_average_before"])
    after = ", ".join(f"{x:.2f}" for x in doc["load_average_after"])
    lines = [
        f"# stats on runs of blank lines: {doc['blank_lines']:,} newlines beside 100k events",
        "",
        f"Median of {doc['reps']} rounds, each running every input (and code tree) once, "
        f"one after another; Python {doc['python']}, {doc['cpus']} CPUs ({doc['when']}). "
        f"Load average (1, 5, 15 min) before: {before}; after: {after}.",
        "",
        "| code | input | file KB | median s | runs s | events | bad | peak RSS MB |",
        "|---|---|---:|---:|---|---:|---:|---:|",
    ]
    for r in doc["results"]:
        runs = ", ".join(f"{x:.2f}" for x in r["runs_seconds"])
        lines.append(
            f"| {r['code']} | {r['input']} | {r['compressed_bytes'] / 1024:,.0f} | "
            f"{r['median_seconds']:.2f} | {runs} | {r['events']} | {r['bad_records']} | "
            f"{r['peak_rss_mb']:,.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
