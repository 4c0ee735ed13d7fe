"""``stats --engine spark`` equals the Python engine on every field of the report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from analysis_support import REPO
from streams import write_stream

from gcdedup.analysis import AnalysisOptions, analyze
from gcdedup.spark.stats import analyze_spark

pytestmark = [pytest.mark.spark, pytest.mark.timeout(900)]

SAMPLE_EVENTS = REPO / "sample_events"
FIXTURES = REPO / "tests" / "fixtures"


def python_report(paths: list[str], options: AnalysisOptions) -> dict[str, Any]:
    """The Python engine in one process (the example of an unkeyable event is then the
    first in input order, as on Spark)."""
    return analyze(paths, AnalysisOptions(**{**options.__dict__, "jobs": 1})).to_dict()


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Every field where two reports differ (empty: equal)."""
    if type(a) is not type(b):
        return [f"{path}: {a!r} != {b!r}"]
    if isinstance(a, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                out.append(f"{path}/{key}: only in {'python' if key in a else 'spark'}")
            else:
                out += differences(a[key], b[key], f"{path}/{key}")
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)}"]
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def test_the_samples_give_the_same_report(spark: Any) -> None:
    paths = [str(SAMPLE_EVENTS)]
    options = AnalysisOptions(compare=("envelope", "content", "tutorial"))
    expected = python_report(paths, options)
    assert (expected["events"], expected["duplicates"], expected["conflicts"]) == (43, 27, 1)
    assert differences(expected, analyze_spark(spark, paths, options).to_dict()) == []


def test_the_fixtures_give_the_same_report(spark: Any) -> None:
    paths = [str(FIXTURES / "genesys"), str(FIXTURES / "sources")]
    options = AnalysisOptions(compare=("envelope",))
    expected = python_report(paths, options)
    assert expected["events"] > 0
    assert differences(expected, analyze_spark(spark, paths, options).to_dict()) == []


@pytest.mark.parametrize(("seed", "events"), [(1, 20_000), (2, 5_000), (3, 5_000)])
def test_a_stream_in_four_files_with_bad_lines_gives_the_same_report(
    spark: Any, tmp_path: Path, seed: int, events: int
) -> None:
    """The differential test: a generated stream (every kind of duplicate, untimed
    events, hostile lines, four shapes of file), cut into byte ranges on Spark for
    odd seeds, read whole for even ones. (Seeds 2 and 3 passed at 20,000 events too;
    they are smaller here to keep the tier short.)"""
    files = [str(f) for f in write_stream(tmp_path, seed, events)]
    options = AnalysisOptions(compare=("envelope", "content"), ttls=(60, 3600, 86400))
    expected = python_report(files, options)
    assert expected["events"] > events * 0.95
    assert expected["bad_records"] == 22  # 3 x 7 hostile lines and the cut last line
    assert all(expected["by_kind"][kind]["count"] > 0 for kind in expected["by_kind"])
    assert expected["gaps"]["timed"] > 0 and expected["gaps"]["untimed"] > 0
    cut = AnalysisOptions(**{**options.__dict__, "parallel_threshold": 0, "jobs": 2})
    got = analyze_spark(spark, files, cut if seed % 2 else options).to_dict()
    assert differences(expected, got) == []


def test_the_cli_prints_the_same_json_on_both_engines(spark: Any, tmp_path: Path) -> None:
    """`gcdedup stats --engine spark --json` (a process of its own, its own session)."""
    files = [str(f) for f in write_stream(tmp_path, 11, events=500)]
    command = [sys.executable, "-m", "gcdedup", "stats", *files, "--json"]
    python = subprocess.run(command, capture_output=True, check=True, timeout=600)
    on_spark = subprocess.run(
        [*command, "--engine", "spark", "--spark-master", "local[2]"],
        capture_output=True,
        check=True,
        timeout=600,
    )
    assert differences(json.loads(python.stdout), json.loads(on_spark.stdout)) == []


def test_spark_submit_entry_writes_the_report(spark: Any, tmp_path: Path) -> None:
    """`python -m gcdedup.spark stats ... --json-out FILE` on the active session."""
    from gcdedup.spark.__main__ import main

    out = tmp_path / "report.json"
    assert main(["stats", str(SAMPLE_EVENTS), "--json-out", str(out)]) == 0
    doc = json.loads(out.read_text())
    expected = python_report([str(SAMPLE_EVENTS)], AnalysisOptions())
    assert differences({**expected, "warnings": []}, doc) == []
