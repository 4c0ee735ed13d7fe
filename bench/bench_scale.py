"""``gcdedup process`` and ``stats`` at 1 M+ events, this tree against an earlier revision.

What issue-sized runs need: the count-only first run against the tutorial's logic on
SQLite in one transaction (the bar), before and after, in interleaved rounds (medians);
the peak RSS of every mode (first run, second run, ``--mode check``, ``--mode seed``);
and the temporary disk ``stats`` uses on the gzipped stream, with and without
``--temp-limit 0``. The earlier revision's ``gcdedup`` package is exported with
``git archive`` and run with the same interpreter, first on ``PYTHONPATH``.

Peak RSS is the child's ``ru_maxrss`` from ``os.wait4`` (the largest of the process and
the children it waited for, e.g. the read-ahead reader). Temporary disk is sampled
every 0.1 s as the allocated size of every file under a fresh ``TMPDIR`` given to the
run (the peak of the samples).

    python bench/bench_scale.py --events 1000000 --baseline da62de4 --reps 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_process import TUTORIAL_SQLITE, check_counts, ensure_file  # noqa: E402
from results_file import save  # noqa: E402

PY = sys.executable
ROOT = HERE.parent


def disk_used(root: Path) -> int:
    total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            with contextlib.suppress(OSError):  # deleted meanwhile
                total += os.stat(os.path.join(folder, name)).st_blocks * 512
    return total


def timed(
    argv: list[str],
    env: dict[str, str] | None = None,
    tmpdir: Path | None = None,
    cwd: Path = ROOT,
) -> dict[str, Any]:
    """Run one command: wall s, CPU s, peak RSS MB, peak temporary disk MB, stdout."""
    env = {**os.environ, **(env or {})}
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            if tmpdir is not None:
                peak[0] = max(peak[0], disk_used(tmpdir))

    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out_file, stderr=err_file, env=env, cwd=cwd)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    if code != 0:
        raise SystemExit(f"{argv[:4]} failed ({code}): {err.decode()[-2000:]}")
    return {
        "seconds": wall,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "max_rss_mb": usage.ru_maxrss / 1024,
        "temp_mb": peak[0] / 1e6,
        "stdout": out,
        "load": os.getloadavg()[0],
    }


def export(rev: str, into: Path) -> None:
    archive = subprocess.run(
        ["git", "archive", rev, "gcdedup"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--baseline", required=True, help="git revision to compare against ('none': no rows)"
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--name", default="scale-1m")
    parser.add_argument("--skip-gzip", action="store_true")
    parser.add_argument(
        "--modes",
        nargs="*",
        help="run only these single-run rows (e.g. 'process --mode check'); default: all",
    )
    args = parser.parse_args(argv)
    path = ensure_file(args.events, args.data)
    truth = json.loads(path.with_name(path.name + ".truth.json").read_text())
    loads: list[tuple[str, list[float]]] = [("start", list(os.getloadavg()))]
    rows: dict[str, list[dict[str, Any]]] = {}

    def record(name: str, result: dict[str, Any]) -> None:
        result.pop("stdout", None)
        rows.setdefault(name, []).append(result)
        print(
            f"{name}: {result['seconds']:.1f} s, {result['max_rss_mb']:.0f} MB, "
            f"load {result['load']:.1f}",
            file=sys.stderr,
            flush=True,
        )

    with tempfile.TemporaryDirectory(prefix="gcdedup-scale-") as tmp_name:
        tmp = Path(tmp_name)
        before = tmp / "before"
        before.mkdir()
        if args.baseline != "none":
            export(args.baseline, before)
        now_cmd = [PY, "-m", "gcdedup"]
        old_env = {"PYTHONPATH": str(before)}
        # ``python -m`` puts the working directory first on sys.path: run the earlier
        # revision from its own directory, or it would import this tree.
        old = (old_env, None, before)

        def process(store: Path, *extra: str) -> list[str]:
            return [
                *now_cmd,
                "process",
                str(path),
                "--store",
                f"sqlite:///{store}",
                "--json",
                *extra,
            ]

        # Interleaved rounds: the bar, this tree's first run, the earlier revision's.
        contenders = [
            ("tutorial + SQLite, one transaction", "tutorial"),
            ("process first run (now)", "now"),
            ("process first run (before)", "before"),
        ]
        if args.baseline == "none":
            contenders.pop()
        for rep in range(args.reps):
            for name, tag in contenders:
                store = tmp / f"{tag}.sqlite3"
                for f in tmp.glob(f"{tag}.sqlite3*"):
                    f.unlink()
                if tag == "tutorial":
                    result = timed([PY, "-c", TUTORIAL_SQLITE, str(path), str(store), "one-tx"])
                else:
                    result = timed(process(store), *old if tag == "before" else ())
                    check_counts(result, "processed", truth["unique"])
                record(name, result)
            loads.append((f"after round {rep + 1}", list(os.getloadavg())))
        # Once each: the other modes, on the stores the last round filled.
        events = truth["events"]
        for name, store, env, extra, fields, expected in (
            ("process second run (now)", tmp / "now.sqlite3", None, (),
             "duplicates+conflicts", events),
            ("process --mode check (now)", tmp / "now.sqlite3", None, ("--mode", "check"),
             "duplicates+conflicts", events),
            ("process --mode check (before)", tmp / "before.sqlite3", old_env,
             ("--mode", "check"), "duplicates+conflicts", events),
            ("process --mode seed, fresh store (now)", tmp / "seed.sqlite3", None,
             ("--mode", "seed"), "seeded", truth["unique"]),
        ):  # fmt: skip
            if args.modes and name.split(" (")[0] not in args.modes:
                continue
            if env and args.baseline == "none":
                continue
            result = timed(process(store, *extra), *(old if env else ()))
            check_counts(result, fields, expected)
            record(name, result)
        for f in tmp.glob("*.sqlite3*"):
            f.unlink()
        loads.append(("after the modes", list(os.getloadavg())))
        gz = path.with_name(path.name + ".gz")
        if not args.skip_gzip and gz.exists():
            inflated = path.stat().st_size
            for name, extra in (
                ("stats FILE.gz", ()),
                ("stats FILE.gz --temp-limit 0", ("--temp-limit", "0")),
            ):
                spill = tmp / "spill"
                spill.mkdir()
                result = timed([*now_cmd, "stats", str(gz), "--json", *extra], tmpdir=spill)
                doc = json.loads(result["stdout"])
                if doc["events"] != truth["events"]:
                    raise SystemExit(f"{name}: {doc['events']} events, expected {truth['events']}")
                result["temp_share"] = result["temp_mb"] * 1e6 / inflated
                record(name, result)
                spill.rmdir()
            loads.append(("after gzip", list(os.getloadavg())))

    table = []
    for name, runs in rows.items():
        table.append(
            {
                "name": name,
                "seconds": [round(r["seconds"], 2) for r in runs],
                "median_seconds": round(statistics.median(r["seconds"] for r in runs), 2),
                "median_cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in runs), 2),
                "max_rss_mb": round(max(r["max_rss_mb"] for r in runs), 1),
                "temp_mb": round(max(r["temp_mb"] for r in runs), 1),
                "temp_share": round(max(r.get("temp_share", 0) for r in runs), 3),
                "loads": [round(r["load"], 1) for r in runs],
            }
        )
    doc = {
        "events": args.events,
        "file": path.name,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "baseline": args.baseline,
        "reps": args.reps,
        "loads": loads,
        "environment": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
        },
        "rows": table,
    }
    save(args.results, args.name, doc, markdown(doc))
    return 0


def markdown(doc: dict[str, Any]) -> str:
    bar = next(r for r in doc["rows"] if r["name"].startswith("tutorial"))["median_seconds"]
    lines = [
        f"# {doc['events']:,} events ({doc['file_mb']:,} MB): this tree against {doc['baseline']}",
        "",
        f"{doc['environment']['cpus']} CPUs, Python {doc['environment']['python']}, SQLite "
        f"{doc['environment']['sqlite']}. The bar and both first runs: {doc['reps']} interleaved "
        "rounds, medians; the other rows: one run each, after the rounds. Load averages "
        "(1, 5, 15 min): "
        + "; ".join(f"{when} {', '.join(f'{x:.1f}' for x in la)}" for when, la in doc["loads"])
        + " (a shared machine).",
        "",
        "| contender | median s | x bar | CPU s | peak RSS MB | temp disk MB | runs (s) "
        "| load at end of each |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in doc["rows"]:
        ratio = f"{r['median_seconds'] / bar:.2f}" if not r["name"].startswith("stats") else ""
        temp = (
            f"{r['temp_mb']:.0f} ({r['temp_share']:.0%})" if r["name"].startswith("stats") else ""
        )
        lines.append(
            f"| {r['name']} | {r['median_seconds']:.1f} | {ratio} | "
            f"{r['median_cpu_seconds']:.1f} | "
            f"{r['max_rss_mb']:.0f} | {temp} | {', '.join(f'{s:.1f}' for s in r['seconds'])} | "
            f"{', '.join(f'{x:.1f}' for x in r['loads'])} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
