"""Start-up time of ``gcdedup --help`` and ``--version``, this tree against a git revision.

Both trees run ``python -m gcdedup`` with the same interpreter; the runs alternate
(baseline, current, baseline, ...) so load from other work on the machine falls on both.
The baseline's ``gcdedup`` package is exported with ``git archive`` into a temporary
directory that comes first on ``PYTHONPATH``.

    python bench/startup.py --baseline da62de4 --reps 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from results_file import save

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def export(rev: str, into: Path) -> None:
    """The ``gcdedup`` package as of ``rev`` under ``into``."""
    archive = subprocess.run(
        ["git", "archive", rev, "gcdedup"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def once(tree: Path, arg: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "gcdedup", arg], cwd=tree, env=env, check=True, capture_output=True
    )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="git revision to compare against")
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gcdedup-startup-") as tmp:
        base = Path(tmp)
        export(args.baseline, base)
        for arg in ("--help", "--version"):
            times: dict[str, list[float]] = {"baseline": [], "current": []}
            for _ in range(args.reps):
                times["baseline"].append(once(base, arg))
                times["current"].append(once(ROOT, arg))
            b, c = (statistics.median(times[k]) for k in ("baseline", "current"))
            rows.append(
                {
                    "command": f"gcdedup {arg}",
                    "baseline_s": b,
                    "current_s": c,
                    "ratio": c / b,
                    "runs": times,
                }
            )
    result = {
        "baseline": args.baseline,
        "reps": args.reps,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "rows": rows,
    }
    lines = [
        f"# gcdedup start-up: this tree against {args.baseline}",
        "",
        f"Medians of {args.reps} alternating runs of `python -m gcdedup ARG`; load average "
        f"{load_before[0]:.1f} before, {result['load_after'][0]:.1f} after (shared machine).",
        "",
        "| command | baseline s | now s | now / baseline |",
        "|---|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| `{row['command']}` | {row['baseline_s']:.3f} | {row['current_s']:.3f} "
            f"| {row['ratio']:.2f} |"
        )
    save(args.results, "startup", result, "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
