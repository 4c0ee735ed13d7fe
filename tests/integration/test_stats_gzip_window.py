"""``gcdedup stats`` on a gzip file, as a user runs it: a bounded window of chunk files.

The command runs as its own process on a generated stream about eight times the
window (``--temp-limit``), so the file is cut into many chunks, scanned by worker
processes, each deleted once scanned. The report is the plain file's, and the
window's own high-water mark (logged at debug level) stays within the limit.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
GCDEDUP = [sys.executable, "-m", "gcdedup"]
LIMIT = 6 * 1024 * 1024


def _stats(path: Path, tmp: Path, *extra: str) -> tuple[dict[str, Any], str]:
    env = {**os.environ, "TMPDIR": str(tmp)}
    out = subprocess.run(
        [*GCDEDUP, "-vv", "stats", str(path), "--json", "--jobs", "2", *extra],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out.stdout)
    return {k: v for k, v in doc.items() if k not in ("files", "by_file")}, out.stderr


def test_stats_on_gzip_stays_within_the_temporary_limit(tmp_path: Path) -> None:
    plain = tmp_path / "stream.jsonl"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "generate.py"), "--events", "45000",
         "--dup-rate", "0.1", "--out", str(plain)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    data = plain.read_bytes()
    assert len(data) > 7 * LIMIT
    packed = tmp_path / "stream.jsonl.gz"
    packed.write_bytes(gzip.compress(data, 1))
    spills = tmp_path / "tmp"
    spills.mkdir()
    expected, _ = _stats(plain, spills)
    got, log = _stats(packed, spills, "--temp-limit", "6M")
    assert got == expected
    assert expected["duplicates"] > 1000 and expected["conflicts"] > 100
    found = re.search(
        r"high-water mark (\d+) bytes \(bound (\d+), chunks of (\d+) bytes, 3 out at once\)", log
    )
    assert found, log
    high, bound, step = (int(g) for g in found.groups())
    assert bound == LIMIT
    assert 0 < high <= LIMIT
    assert len(data) // step > 20  # many chunks
    assert list(spills.iterdir()) == []  # every chunk file, and their directory, gone
