"""End-to-end throughput and peak memory of ``gcdedup process`` into SQLite.

Every contender runs as its own subprocess on the same generated JSON Lines file,
``--reps`` times in turn (so load from other work on the machine is spread over
all of them); the median wall time is reported as events/s. Peak memory is the
child's own ``ru_maxrss``, taken from ``os.wait4`` on that one process.

Contenders:

* ``process (first run)``: ``gcdedup process FILE --store sqlite:///<fresh temp file>``,
  the count-only handler, every key new (read ahead: events are read and keyed in a
  second process while the first writes to the store);
* ``process --no-read-ahead``: the same in one process;
* ``process (second run)``: the same file again into the same store, every key a
  duplicate;
* ``process --mode check``: read only, against the filled store;
* ``process --mode seed (fresh store)``: mark every key seen, no handler;
* ``baseline: tutorial + SQLite, one transaction``: the tutorial's logic with one
  ``INSERT OR IGNORE`` per event, all in one transaction (the speed bar: unsafe, but
  the fastest that logic gets on SQLite);
* ``baseline: tutorial logic``: per event ``json.loads``, then
  ``json.dumps(detail, sort_keys=True)`` and SHA-256, keys in a set, no store;
* ``baseline: tutorial + SQLite write per event``: the same, plus one conditional
  ``INSERT`` and one ``COMMIT`` per event (the tutorial's one-write-per-event loop,
  on SQLite in WAL mode with ``synchronous=NORMAL``, as gcdedup uses it);
* ``baseline: orjson parse``: ``orjson.loads`` of every line, nothing else.

A second table shows that ``process`` memory does not grow with the file: peak RSS
of a first run on files of ``--memory-sizes`` events.

    python bench/bench_process.py                      # 200k events, 3 repetitions
    python bench/bench_process.py --events 1000000 --reps 1 --name process-1m
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from results_file import save

HERE = Path(__file__).resolve().parent
PY = sys.executable
GCDEDUP = shutil.which("gcdedup", path=str(Path(PY).parent)) or "gcdedup"

TUTORIAL = r"""
import hashlib, json, sys
keys = set()
with open(sys.argv[1], encoding="utf-8") as fh:
    for line in fh:
        event = json.loads(line)
        detail = event["detail"]
        digest = hashlib.sha256(json.dumps(detail, sort_keys=True).encode()).hexdigest()
        keys.add(f"{detail.get('eventId')}#{digest[:16]}")
print(len(keys))
"""

# The tutorial's per-event logic with one INSERT per event on SQLite (WAL, synchronous
# NORMAL, as gcdedup uses it): argv[3] "per-event" commits each event (the tutorial's
# one-write-per-event loop), "one-tx" commits once at the end (no claim, no lease, no
# completion: unsafe under failure, the speed bar for `process`).
TUTORIAL_SQLITE = r"""
import hashlib, json, sqlite3, sys, time
db = sqlite3.connect(sys.argv[2], isolation_level=None)
db.execute("PRAGMA journal_mode = WAL")
db.execute("PRAGMA synchronous = NORMAL")
db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, first_seen REAL NOT NULL)")
per_event = sys.argv[3] == "per-event"
new = 0
db.execute("BEGIN")
with open(sys.argv[1], encoding="utf-8") as fh:
    for line in fh:
        event = json.loads(line)
        detail = event["detail"]
        digest = hashlib.sha256(json.dumps(detail, sort_keys=True).encode()).hexdigest()
        key = f"{detail.get('eventId')}#{digest[:16]}"
        new += db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (key, time.time())).rowcount
        if per_event:
            db.execute("COMMIT")
            db.execute("BEGIN")
db.execute("COMMIT")
print(new)
"""

ORJSON_PARSE = r"""
import sys, orjson
n = 0
with open(sys.argv[1], "rb") as fh:
    for line in fh:
        orjson.loads(line)
        n += 1
print(n)
"""


def load() -> float:
    """The one-minute load average (other work on a shared machine)."""
    return os.getloadavg()[0]


def run(argv: list[str]) -> dict[str, Any]:
    """Run one command; wall seconds, the child's peak RSS (MB), its exit code and output."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode not in (0,):
        raise SystemExit(f"{argv[:3]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return {
        "seconds": wall,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "max_rss_mb": usage.ru_maxrss / 1024,
        "stdout": out,
    }


def ensure_file(events: int, data: Path) -> Path:
    path = data / f"process-{events}.jsonl"
    if not path.exists():
        subprocess.run(
            [PY, str(HERE / "generate.py"), "--events", str(events), "--out", str(path)],
            check=True,
        )
    return path


def gcdedup(path: Path, store: Path, *extra: str) -> list[str]:
    return [GCDEDUP, "process", str(path), "--store", f"sqlite:///{store}", "--json", *extra]


def check_counts(result: dict[str, Any], fields: str, expected: int) -> None:
    """A fast run that did the wrong thing is no result: check the report (``fields``:
    one count, or several joined by ``+`` that must add up to ``expected``)."""
    report = json.loads(result["stdout"])
    got = sum(report[field] for field in fields.split("+"))
    if got != expected:
        raise SystemExit(f"unexpected report: {fields}={got}, expected {expected}")


def one_round(path: Path, truth: dict[str, Any], extra: list[str]) -> dict[str, dict[str, Any]]:
    """One repetition of every contender; the gcdedup runs share a fresh store."""
    timings: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="gcdedup-bench-") as tmp:
        store = Path(tmp) / "dedup.sqlite3"
        first = run(gcdedup(path, store, *extra))
        check_counts(first, "processed", truth["unique"])
        timings["process (first run)"] = first
        inline = run(gcdedup(path, Path(tmp) / "inline.sqlite3", "--no-read-ahead", *extra))
        check_counts(inline, "processed", truth["unique"])
        timings["process --no-read-ahead (first run, one process)"] = inline
        second = run(gcdedup(path, store, *extra))
        # a same-key copy with another payload is a conflict, not a duplicate
        check_counts(second, "duplicates+conflicts", truth["events"])
        timings["process (second run)"] = second
        check = run(gcdedup(path, store, "--mode", "check", *extra))
        check_counts(check, "duplicates+conflicts", truth["events"])
        timings["process --mode check"] = check
        seeded = Path(tmp) / "seeded.sqlite3"
        seed = run(gcdedup(path, seeded, "--mode", "seed", *extra))
        check_counts(seed, "seeded", truth["unique"])
        timings["process --mode seed (fresh store)"] = seed
        timings["baseline: tutorial logic"] = run([PY, "-c", TUTORIAL, str(path)])
        timings["baseline: tutorial + SQLite, one transaction"] = run(
            [PY, "-c", TUTORIAL_SQLITE, str(path), str(Path(tmp) / "t-1tx.sqlite3"), "one-tx"]
        )
        timings["baseline: tutorial + SQLite write per event"] = run(
            [PY, "-c", TUTORIAL_SQLITE, str(path), str(Path(tmp) / "t.sqlite3"), "per-event"]
        )
        timings["baseline: orjson parse"] = run([PY, "-c", ORJSON_PARSE, str(path)])
    return timings


def summarise(rounds: list[dict[str, dict[str, Any]]], events: int) -> list[dict[str, Any]]:
    rows = []
    for name in rounds[0]:
        runs = [r[name] for r in rounds]
        median = statistics.median(r["seconds"] for r in runs)
        rows.append(
            {
                "name": name,
                "seconds": [round(r["seconds"], 3) for r in runs],
                "median_seconds": round(median, 3),
                "events_per_second": round(events / median),
                "median_cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in runs), 3),
                "max_rss_mb": round(max(r["max_rss_mb"] for r in runs), 1),
            }
        )
    return rows


def memory_rows(sizes: list[int], data: Path, extra: list[str]) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        path = ensure_file(size, data)
        with tempfile.TemporaryDirectory(prefix="gcdedup-bench-") as tmp:
            result = run(gcdedup(path, Path(tmp) / "dedup.sqlite3", *extra))
        rows.append(
            {
                "events": size,
                "file_mb": round(path.stat().st_size / 1e6, 1),
                "seconds": round(result["seconds"], 3),
                "events_per_second": round(size / result["seconds"]),
                "max_rss_mb": round(result["max_rss_mb"], 1),
            }
        )
    return rows


def markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    lines = [
        f"# gcdedup process: {result['events']:,} events into SQLite",
        "",
        f"{env['cpus']} CPUs, Python {env['python']}, SQLite {env['sqlite']}; "
        f"{result['reps']} repetitions, median wall time; load average "
        f"{result['load_before']:.1f} before, {result['load_after']:.1f} after "
        "(the machine is shared).",
        f"File: {result['file']} ({result['file_mb']:,} MB). Extra options: "
        f"{' '.join(result['extra_options']) or 'none'}.",
        "",
        "| contender | median s | events/s | CPU s | peak RSS MB | runs (s) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in result["rows"]:
        runs = ", ".join(f"{s:.2f}" for s in row["seconds"])
        lines.append(
            f"| {row['name']} | {row['median_seconds']:.2f} | {row['events_per_second']:,} | "
            f"{row['median_cpu_seconds']:.2f} | {row['max_rss_mb']:.0f} | {runs} |"
        )
    if result["memory"]:
        lines += [
            "",
            "Memory against file size (`process`, first run, one run each):",
            "",
            "| events | file MB | seconds | events/s | peak RSS MB |",
            "|---:|---:|---:|---:|---:|",
        ]
        for row in result["memory"]:
            lines.append(
                f"| {row['events']:,} | {row['file_mb']:,} | {row['seconds']:.2f} | "
                f"{row['events_per_second']:,} | {row['max_rss_mb']:.0f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--name", default="process", help="results file stem")
    parser.add_argument(
        "--memory-sizes", default="100000,400000", help="comma-separated; empty to skip"
    )
    parser.add_argument("--batch-size", type=int, help="passed to gcdedup process")
    args = parser.parse_args(argv)
    extra = ["--batch-size", str(args.batch_size)] if args.batch_size else []
    args.data.mkdir(parents=True, exist_ok=True)
    path = ensure_file(args.events, args.data)
    truth = json.loads(path.with_name(path.name + ".truth.json").read_text())
    before = load()
    rounds = []
    for rep in range(args.reps):
        rounds.append(one_round(path, truth, extra))
        print(f"round {rep + 1}/{args.reps} done (load {load():.1f})", file=sys.stderr)
    rows = summarise(rounds, args.events)
    sizes = [int(s) for s in args.memory_sizes.split(",") if s]
    memory = memory_rows(sizes, args.data, extra)
    result = {
        "events": args.events,
        "file": path.name,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "reps": args.reps,
        "extra_options": extra,
        "load_before": before,
        "load_after": load(),
        "environment": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform(),
        },
        "rows": rows,
        "memory": memory,
    }
    save(args.results, args.name, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
