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
  against the same N files uncompressed.

Before timing, the reports are checked to be identical apart from file names.
Results go to ``bench/results/gzip.json`` and ``bench/results/gzip.md``.

    python bench/generate.py --events 100000 --out bench/data/s100k.jsonl
    python bench/run_gzip.py bench/data/s100k.jsonl --reps 3 --parts 20
"""

from __future__ import annotations

import argparse
import gzip
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from results_file import save  # noqa: E402
from run_stats import GCDEDUP, PY, run_once  # noqa: E402

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


def contenders(path: Path, n_parts: int) -> dict[str, list[str]]:
    gz = str(gzipped(path))
    out = {
        "plain": [GCDEDUP, "stats", str(path), "--json"],
        "gzip": [GCDEDUP, "stats", gz, "--json"],
        "gzip, zlib inflate": [PY, "-c", ZLIB_GCDEDUP, "stats", gz, "--json"],
    }
    if n_parts > 1:
        plain, packed = parts(path, n_parts)
        out[f"plain, {n_parts} files"] = [GCDEDUP, "stats", str(plain), "--json"]
        out[f"gzip, {n_parts} files"] = [GCDEDUP, "stats", str(packed), "--json"]
    return out


def report(command: list[str]) -> dict[str, Any]:
    """The JSON report of a run, without the parts that name files."""
    out = subprocess.run(command, capture_output=True, check=True)
    doc: dict[str, Any] = json.loads(out.stdout)
    return {k: v for k, v in doc.items() if k not in ("files", "by_file")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="a JSON Lines stream from bench/generate.py")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--parts", type=int, default=0, help="also compare N-file archives")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--name", default="gzip", help="results file name (without suffix)")
    args = parser.parse_args(argv)
    selected = contenders(args.path, args.parts)
    reference = report(selected["plain"])
    for name, command in selected.items():
        if report(command) != reference:
            raise SystemExit(f"{name}: the report differs from the plain file's")
    events = int(reference["events"])
    try:
        import isal  # noqa: F401

        inflate = "isal"
    except ImportError:
        inflate = "zlib"
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, object]]] = {name: [] for name in selected}
    for rep in range(args.reps):
        for name, command in selected.items():
            runs[name].append(run_once(command))
            print(f"{name} #{rep + 1}: {runs[name][-1]['wall']:.2f}s", file=sys.stderr)
    load_after = os.getloadavg()
    medians = {name: statistics.median(float(r["wall"]) for r in rs) for name, rs in runs.items()}  # type: ignore[arg-type]
    results = []
    for name, name_runs in runs.items():
        base = "plain" if "files" not in name else f"plain, {args.parts} files"
        results.append(
            {
                "name": name,
                "median_seconds": medians[name],
                "runs_seconds": [float(r["wall"]) for r in name_runs],  # type: ignore[arg-type]
                "ratio_to_plain": medians[name] / medians[base],
                "events_per_second": events / medians[name],
                "peak_rss_mb": max(int(r["peak_kb"]) for r in name_runs) / 1024,  # type: ignore[call-overload]
            }
        )
    doc: dict[str, Any] = {
        "file": args.path.name,
        "events": events,
        "bytes": args.path.stat().st_size,
        "gzip_bytes": gzipped(args.path).stat().st_size,
        "reps": args.reps,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "inflate": inflate,
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
        "| contender | median s | x plain | events/s | peak RSS MB | runs (s) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in doc["results"]:
        runs = ", ".join(f"{x:.2f}" for x in r["runs_seconds"])
        lines.append(
            f"| {r['name']} | {r['median_seconds']:.2f} | {r['ratio_to_plain']:.2f} | "
            f"{r['events_per_second']:,.0f} | {r['peak_rss_mb']:.0f} | {runs} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
