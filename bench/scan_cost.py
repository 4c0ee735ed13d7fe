"""Cost per event of the ``stats`` scan alone, for comparing changes on a noisy machine.

Wall-clock time on a shared 2-core machine moves by +-15 % from run to run, more
than most single changes to the scan. This runner measures the scan (read, parse,
key, record; no merge, no report) in one process two ways:

* CPU seconds per event, the minimum of ``--reps`` runs (the least disturbed one);
* with ``--instructions``: instructions per event counted by valgrind's cachegrind
  (deterministic to a fraction of a percent): the scan is run once and twice under
  cachegrind and the difference divided by the number of events, so start-up and
  imports cancel out. Use a small file (20k events take about 15 s under valgrind).

    head -20000 bench/data/stream.jsonl > bench/data/s20k.jsonl
    python bench/scan_cost.py bench/data/s20k.jsonl --instructions

Results are printed, not written: this is a tool for A/B comparisons while working.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def scan_once(path: str) -> int:
    """Scan ``path`` as one JSON Lines byte range with the default key; return its events."""
    from gcdedup.analysis.records import Chunk
    from gcdedup.analysis.scan import scan_chunk
    from gcdedup.keys import KeyMaker

    chunk = Chunk(0, 0, path, 0, os.path.getsize(path))
    partial = scan_chunk(chunk, [KeyMaker.create("genesys", "default")], "jsonl")
    return sum(info.events for info in partial.chunks.values())


def cpu_per_event(path: str, reps: int) -> tuple[float, int]:
    best, events = float("inf"), 0
    for _ in range(reps):
        gc.collect()
        start = time.process_time()
        events = scan_once(path)
        best = min(best, time.process_time() - start)
    return best / max(events, 1), events


def instructions(path: str, runs: int) -> int:
    """Instructions of a child process that scans ``path`` ``runs`` times (cachegrind)."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from scan_cost import scan_once\n"
        "for _ in range(int(sys.argv[3])): scan_once(sys.argv[2])"
    )
    out = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            "-c",
            code,
            str(HERE),
            path,
            str(runs),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    match = re.search(r"I\s+refs:\s+([\d,]+)", out)
    if match is None:
        raise SystemExit(f"could not read cachegrind's instruction count:\n{out}")
    return int(match.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="a JSON Lines stream (bench/generate.py)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions (needs valgrind)"
    )
    args = parser.parse_args()
    seconds, events = cpu_per_event(args.path, args.reps)
    print(f"{events} events: {seconds * 1e6:.2f} us of CPU per event (best of {args.reps})")
    if args.instructions:
        if shutil.which("valgrind") is None:
            raise SystemExit("--instructions needs valgrind on PATH")
        per_event = (instructions(args.path, 2) - instructions(args.path, 1)) / max(events, 1)
        print(f"{per_event:,.0f} instructions per event (cachegrind, 2 scans minus 1)")


if __name__ == "__main__":
    main()
