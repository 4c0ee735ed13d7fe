"""``gcdedup stats`` on a gzipped stream against the same stream uncompressed.

Real archives are gzipped (Firehose to S3), so the gzip time is the one users get.
Contenders, each run as its own process, ``--reps`` rounds, medians reported; each
round runs every contender once, one after another (interleaved), so a change in
the machine's load hits all of them alike. The load average before and after is
recorded.

* ``plain``: ``gcdedup stats FILE.jsonl --json``;
* ``gzip``: ``gcdedup stats FILE.jsonl.gz --json`` (``gzip -k`` of the same file),
  inflated by ISA-L when the ``isal`` package is installed;
* ``gzip, zlib inflate``: the same with the fallback inflate (zlib);
* with ``--parts N``: the gzipped stream cut into N files (a Firehose archive),
  against the same N files uncompressed;
* with ``--baseline-src DIR``: ``gzip`` run by the ``gcdedup`` package in ``DIR``
  (e.g. ``git archive`` of an earlier commit), for a before/after in one run.

Each run gets a ``TMPDIR`` of its own. Besides wall time and the peak RSS of the
process tree, the runner measures the peak temporary disk: the bytes of the files
under that ``TMPDIR``, sampled every few milliseconds while the command runs; and it
records the high-water mark ``stats`` logs itself (``-vv``) for its chunk files.

Before timing, the reports are checked to be identical apart from file names.
Results go to ``bench/results/gzip.json`` and ``bench/results/gzip.md``.

    python bench/generate.py --events 100000 --out bench/data/s100k.jsonl
    python bench/run_gzip.py bench/data/s100k.jsonl --reps 3 --parts 20
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import platform
import re
import shutil
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

from results_file import save  # noqa: E402
from run_stats import GCDEDUP, PY  # noqa: E402

#: How often the temporary directory is measured while a command runs (seconds).
SAMPLE_EVERY = 0.005
HIGH_WATER = re.compile(rb"high-water mark (\d+) bytes \(bound (\d+), chunks of (\d+) bytes")

#: ``gcdedup`` with the fast path's inflate switched to zlib.
ZLIB_GCDEDUP = (
    "import sys, zlib; import gcdedup.analysis.gz as gz; gz.INFLATE = zlib; "
    "from gcdedup.cli.app import main; sys.argv[0] = 'gcdedup'; main()"
)


def gzipped(path: Path) -> Path:
    """``path`` + ``.gz``, made with the gzip command (default level) when missing."""
    gz = Path(str(path) + ".gz")
    if not gz.exists() or gz.stat().st_mtime < path.stat().st_mtime:
        subprocess.run(["gzip", "-k", "-f", str(path)], check=True)
    return gz


def parts(path: Path, n: int) -> tuple[Path, Path]:
    """Directories holding ``path`` cut into ``n`` files at line breaks, plain and gzipped."""
    plain = path.parent / f"{path.stem}.parts{n}"
    packed = path.parent / f"{path.stem}.parts{n}.gz"
    if not (plain.exists() and packed.exists()):
        for d in (plain, packed):
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir()
        lines = path.read_bytes().splitlines(keepends=True)
        step = -(-len(lines) // n)
        for i in range(n):
            data = b"".join(lines[i * step : (i + 1) * step])
            (plain / f"part-{i:04d}.jsonl").write_bytes(data)
            (packed / f"part-{i:04d}.jsonl.gz").write_bytes(gzip.compress(data, 6))
    return plain, packed


def contenders(path: Path, n_parts: int, baseline: str | None) -> dict[str, list[str]]:
    gz = str(gzipped(path))
    out = {
        "plain": [GCDEDUP, "-vv", "stats", str(path), "--json"],
        "gzip": [GCDEDUP, "-vv", "stats", gz, "--json"],
        "gzip, zlib inflate": [PY, "-c", ZLIB_GCDEDUP, "-vv", "stats", gz, "--json"],
    }
    if baseline:
        # An editable install's import hook would find this checkout first: put it last.
        cli = (
            "import sys; sys.path.insert(0, sys.argv.pop(1)); "
            "sys.meta_path.sort(key=lambda f: 'editable' in repr(f)); "
            "from gcdedup.cli.app import main; sys.argv[0] = 'gcdedup'; main()"
        )
        out["gzip, baseline checkout"] = [PY, "-c", cli, baseline, "-vv", "stats", gz, "--json"]
    if n_parts > 1:
        plain, packed = parts(path, n_parts)
        out[f"plain, {n_parts} files"] = [GCDEDUP, "-vv", "stats", str(plain), "--json"]
        out[f"gzip, {n_parts} files"] = [GCDEDUP, "-vv", "stats", str(packed), "--json"]
    return out


def _tree_bytes(root: str) -> int:
    """Bytes of the files under ``root`` now (files may vanish while it walks)."""
    total = 0
    for directory, _, names in os.walk(root):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(directory, name)).st_size
    return total


def run_measured(command: list[str]) -> dict[str, Any]:
    """One run: wall time, peak RSS of the process tree, peak bytes under its own
    TMPDIR (sampled), the high-water mark the run logged, and its report."""
    with tempfile.TemporaryDirectory(prefix="bench-gzip-") as tmp:
        env = {**os.environ, "TMPDIR": tmp}
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _tree_bytes(tmp))
                time.sleep(SAMPLE_EVERY)

        sampler = threading.Thread(target=sample)
        # (not in the measured TMPDIR)
        with tempfile.TemporaryFile(dir=HERE) as out, tempfile.TemporaryFile(dir=HERE) as err:
            start = time.perf_counter()
            proc = subprocess.Popen(command, stdout=out, stderr=err, env=env)
            sampler.start()
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
            done.set()
            sampler.join()
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command} failed: {stderr[-500:].decode(errors='replace')}")
    found = HIGH_WATER.search(stderr)
    doc = json.loads(stdout)
    return {
        "wall": wall,
        "peak_kb": usage.ru_maxrss,
        "temp_peak_bytes": peak[0],
        "high_water_bytes": int(found[1]) if found else None,
        "temp_bound_bytes": int(found[2]) if found else None,
        "chunk_bytes": int(found[3]) if found else None,
        "report": {k: v for k, v in doc.items() if k not in ("files", "by_file")},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="a JSON Lines stream from bench/generate.py")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--parts", type=int, default=0, help="also compare N-file archives")
    parser.add_argument("--baseline-src", help="also run gzip with this gcdedup checkout")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--name", default="gzip", help="results file name (without suffix)")
    args = parser.parse_args(argv)
    selected = contenders(args.path, args.parts, args.baseline_src)
    try:
        import isal  # noqa: F401

        inflate = "isal"
    except ImportError:
        inflate = "zlib"
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in selected}
    for rep in range(args.reps):
        for name, command in selected.items():
            runs[name].append(run_measured(command))
            last = runs[name][-1]
            temp = last["temp_peak_bytes"] / 1e6
            print(f"{name} #{rep + 1}: {last['wall']:.2f}s, temp {temp:.0f} MB", file=sys.stderr)
    load_after = os.getloadavg()
    # Every run's report against the plain file's (apart from file names).
    reference = runs["plain"][0]["report"]
    for name, name_runs in runs.items():
        if "files" in name:
            continue
        for r in name_runs:
            if r.pop("report") != reference:
                raise SystemExit(f"{name}: the report differs from the plain file's")
    for name_runs in runs.values():
        for r in name_runs:
            r.pop("report", None)
    events = int(reference["events"])
    inflated = args.path.stat().st_size
    medians = {name: statistics.median(float(r["wall"]) for r in rs) for name, rs in runs.items()}
    results = []
    for name, name_runs in runs.items():
        base = "plain" if "files" not in name else f"plain, {args.parts} files"
        temp = max(int(r["temp_peak_bytes"]) for r in name_runs)
        marks = [r["high_water_bytes"] for r in name_runs if r["high_water_bytes"] is not None]
        results.append(
            {
                "name": name,
                "median_seconds": medians[name],
                "runs_seconds": [float(r["wall"]) for r in name_runs],
                "ratio_to_plain": medians[name] / medians[base],
                "events_per_second": events / medians[name],
                "peak_rss_mb": max(int(r["peak_kb"]) for r in name_runs) / 1024,
                "peak_temp_mb": temp / 1e6,
                "peak_temp_share_of_inflated": temp / inflated,
                "high_water_mb": max(marks) / 1e6 if marks else None,
                "temp_bound_mb": name_runs[0]["temp_bound_bytes"] / 1e6
                if name_runs[0]["temp_bound_bytes"]
                else None,
                "chunk_mb": name_runs[0]["chunk_bytes"] / 1e6
                if name_runs[0]["chunk_bytes"]
                else None,
            }
        )
    doc: dict[str, Any] = {
        "file": args.path.name,
        "events": events,
        "bytes": inflated,
        "gzip_bytes": gzipped(args.path).stat().st_size,
        "reps": args.reps,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "inflate": inflate,
        "baseline_src": args.baseline_src,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "reports_identical": True,
        "results": results,
    }
    save(args.out, args.name, doc, markdown(doc))
    return 0


def markdown(doc: dict[str, Any]) -> str:
    before = ", ".join(f"{x:.2f}" for x in doc["load_average_before"])
    after = ", ".join(f"{x:.2f}" for x in doc["load_average_after"])
    lines = [
        f"# gzip vs plain: {doc['events']:,} events, {doc['bytes'] / 1e6:,.0f} MB "
        f"({doc['gzip_bytes'] / 1e6:,.1f} MB gzipped), {doc['cpus']} CPUs",
        "",
        f"Medians of {doc['reps']} interleaved runs, {doc['when']}, Python {doc['python']}, "
        f"inflate: {doc['inflate']}; load average before {before}, after {after}. "
        "Reports identical apart from file names.",
        "",
        "Peak temp: the most bytes of files under the run's own TMPDIR, sampled every "
        f"{SAMPLE_EVERY * 1000:.0f} ms (max of the runs; share: of the inflated size); high-water: "
        "the most the run's chunk files held, as it logs it (max of the runs).",
        "",
        "| contender | median s | x plain | events/s | peak RSS MB | peak temp MB | "
        "temp / inflated | high-water MB | runs (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in doc["results"]:
        runs = ", ".join(f"{x:.2f}" for x in r["runs_seconds"])
        high = f"{r['high_water_mb']:.0f}" if r["high_water_mb"] is not None else "-"
        lines.append(
            f"| {r['name']} | {r['median_seconds']:.2f} | {r['ratio_to_plain']:.2f} | "
            f"{r['events_per_second']:,.0f} | {r['peak_rss_mb']:.0f} | {r['peak_temp_mb']:.0f} | "
            f"{r['peak_temp_share_of_inflated']:.1%} | {high} | {runs} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
