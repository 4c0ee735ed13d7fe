"""What it costs to find a damaged SQLite store before writing to it, by store size.

Side by side on one store file (built once by the store's own ``mark_done``, keys as
long as the ``genesys`` strategy's): opening the store as gcdedup does (which runs
``PRAGMA quick_check``), a bare connection, ``PRAGMA quick_check`` and
``quick_check(dedup)`` alone, ``PRAGMA integrity_check``, and reading the header
only. Each timed on a fresh connection, ``--reps`` times, median reported; the page
cache is warm (dropping it would disturb the other users of the machine), so a cold
first open after a reboot reads the file from disk once more.

Which of them finds the damage that was reported (4 KiB overwritten at 3/4 of the
file) is checked on a damaged copy and written beside the times.

    python bench/sqlite_health.py --keys 1000000 --reps 3   # results/sqlite-health.md
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from results_file import save  # noqa: E402

from gcdedup.store import KeyItem, open_store  # noqa: E402
from gcdedup.store.sqlite import SQLiteStore  # noqa: E402

BATCH = 20_000


def build(path: Path, keys: int) -> None:
    with open_store(f"sqlite:///{path}", create=True) as store:
        for start in range(0, keys, BATCH):
            items = [
                KeyItem(
                    f"default:v2.detail.events.conversation.{i:012d}" + "x" * 100, "default", "t"
                )
                for i in range(start, min(keys, start + BATCH))
            ]
            store.mark_done(items, 86400 * 30, count_duplicates=True)


def _pragma(sql: str) -> Callable[[Path], str]:
    def run(path: Path) -> str:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return " ".join(str(row[0]) for row in conn.execute(sql).fetchall())[:60]
        except sqlite3.Error as exc:
            return f"error: {exc}"[:60]
        finally:
            conn.close()

    return run


def _header(path: Path) -> str:
    """The cheapest check: the magic string and the page count in the header agree
    with the file's size."""
    with path.open("rb") as f:
        head = f.read(100)
    page = int.from_bytes(head[16:18], "big") or 65536
    pages = int.from_bytes(head[28:32], "big")
    sane = head[:16] == b"SQLite format 3\x00" and pages * page == path.stat().st_size
    return "ok" if sane else "damaged"


def _open(path: Path) -> str:
    try:
        SQLiteStore(path).close()
    except Exception as exc:  # the damaged copy
        return f"refused: {str(exc)[:40]}"
    return "ok"


def _bare(path: Path) -> str:
    sqlite3.connect(path).close()
    return "ok"


CONTENDERS: dict[str, Callable[[Path], str]] = {
    "open as gcdedup does (quick_check included)": _open,
    "bare sqlite3.connect (no check)": _bare,
    "header only (magic, page count x page size)": _header,
    "PRAGMA quick_check": _pragma("PRAGMA quick_check"),
    "PRAGMA quick_check(dedup)": _pragma("PRAGMA quick_check(dedup)"),
    "PRAGMA integrity_check": _pragma("PRAGMA integrity_check"),
}


def timed(fn: Callable[[Path], str], path: Path, reps: int) -> tuple[list[float], str]:
    runs, verdict = [], ""
    for _ in range(reps):
        start = time.perf_counter()
        verdict = fn(path)
        runs.append(time.perf_counter() - start)
    return runs, verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--store", type=Path, help="reuse this store file (built if missing)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gcdedup-health-"))
    path = args.store or work / "store.sqlite3"
    try:
        if not path.exists():
            build(path, args.keys)
        damaged = work / "damaged.sqlite3"
        shutil.copyfile(path, damaged)
        offset = os.path.getsize(damaged) * 3 // 4 // 4096 * 4096
        with damaged.open("r+b") as f:
            f.seek(offset)
            f.write(b"\xa5" * 4096)
        rows, doc_rows = [], []
        load_before = os.getloadavg()[0]
        for name, fn in CONTENDERS.items():
            runs, healthy = timed(fn, path, args.reps)
            _, verdict = timed(fn, damaged, 1)
            found = not verdict.startswith("ok")
            median = statistics.median(runs)
            doc_rows.append(
                {"check": name, "median_s": median, "runs": runs, "healthy": healthy,
                 "damaged": verdict, "finds_damage": found}
            )  # fmt: skip
            rows.append(
                f"| {name} | {median:.3f} | {'yes' if found else 'no'} | "
                + ", ".join(f"{r:.3f}" for r in runs)
                + " |"
            )
        size_mb = path.stat().st_size / 1e6
        table = (
            f"# Finding a damaged SQLite store: {args.keys:,} keys ({size_mb:.0f} MB)\n\n"
            f"{os.cpu_count()} CPUs, SQLite {sqlite3.sqlite_version}; {args.reps} repetitions, "
            f"median; warm page cache; load average {load_before:.1f} before, "
            f"{os.getloadavg()[0]:.1f} after (the machine is shared). Damage: 4 KiB of "
            "0xA5 at 3/4 of the file.\n\n"
            "| check | median s | finds the damage | runs (s) |\n|---|---:|:---:|---|\n"
            + "\n".join(rows)
            + "\n"
        )
        save(
            HERE / "results",
            "sqlite-health",
            {"keys": args.keys, "bytes": path.stat().st_size, "sqlite": sqlite3.sqlite_version,
             "reps": args.reps, "rows": doc_rows},
            table,
        )  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
