"""The Spark engine's parts that need no Spark: the CLI's refusals and errors, the report
sections laid out from aggregates, the run reports added up (tests/spark runs Spark)."""

from __future__ import annotations

import bisect
import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from gcdedup.analysis.report import GAP_BUCKETS, PERCENTILES, percentile, timeline
from gcdedup.cli.app import app
from gcdedup.outcomes import Mode, RunReport
from gcdedup.spark import sections
from gcdedup.spark.process import merge_reports
from gcdedup.spark.stats import s3_path

REPO = Path(__file__).resolve().parents[2]
SAMPLES = str(REPO / "sample_events")


def error_of(*args: str, code: int = 2) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())


@pytest.mark.parametrize(
    ("url", "scheme"), [("sqlite:///tmp/d.sqlite3", "sqlite"), ("memory://x", "memory")]
)
def test_process_on_spark_refuses_a_store_of_one_machine(url: str, scheme: str) -> None:
    assert error_of("process", SAMPLES, "--engine", "spark", "--store", url) == (
        "Error: --engine spark needs a store every Spark task can reach (dynamodb://TABLE); "
        f"{scheme}:// is one machine's store: use --engine python with it"
    )


def test_process_on_spark_refuses_the_options_it_does_not_take() -> None:
    args = ["process", SAMPLES, "--engine", "spark", "--store", "dynamodb://T"]
    assert error_of(*args, "--out", "x.jsonl", "--wait-in-flight") == (
        "Error: --out, --wait-in-flight cannot be used with --engine spark"
    )


def test_an_unknown_engine_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    assert error_of("stats", SAMPLES, "--engine", "flink") == (
        "Error: unknown engine 'flink': choose python or spark"
    )
    monkeypatch.setenv("GCDEDUP_ENGINE", "hadoop")
    assert error_of("stats", SAMPLES) == "Error: unknown engine 'hadoop': choose python or spark"


def test_without_pyspark_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark -> ImportError
    expected = (
        "Error: pyspark is not installed; install the spark extra in the gcdedup checkout: "
        "pip install '.[spark]' (gcdedup is not on PyPI)"
    )
    assert error_of("stats", SAMPLES, "--engine", "spark") == expected
    monkeypatch.setenv("GCDEDUP_ENGINE", "spark")
    assert error_of("process", SAMPLES, "--store", "dynamodb://T") == expected


@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark not installed")
def test_without_java_the_error_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pyspark.sql import SparkSession

    if SparkSession.getActiveSession() is not None:
        pytest.skip("a Spark session is active in this process")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on it
    assert error_of("stats", SAMPLES, "--engine", "spark") == (
        "Error: the Spark engine needs Java 17 (or 11+): install a JRE (e.g. "
        "openjdk-17-jre-headless) or set JAVA_HOME; pyspark is installed"
    )


def test_hadoop_s3_schemes_are_read_as_s3() -> None:
    assert s3_path("s3a://b/k/") == "s3://b/k/"
    assert s3_path("s3n://b/k") == "s3://b/k"
    assert s3_path("s3://b/k") == "s3://b/k"
    assert s3_path("/data/s3a://x") == "/data/s3a://x"


def values_at_ranks(values: list[int]) -> dict[int, int]:
    """What Spark answers: the value at each percentile rank of the sorted values."""
    ranks = {sections.rank(p, len(values)) for p in PERCENTILES} if values else set()
    return {r: values[r - 1] for r in ranks}


@given(st.lists(st.integers(0, 10 * 86400), max_size=300), st.lists(st.integers(0, 50)))
def test_the_gap_section_from_ranks_equals_the_report_from_lists(
    gaps: list[int], order_gaps: list[int]
) -> None:
    gaps.sort()
    order_gaps.sort()
    histogram = []
    low = 0.0
    for _, bound in GAP_BUCKETS:
        histogram.append(bisect.bisect_left(gaps, bound) - bisect.bisect_left(gaps, low))
        low = bound
    doc = sections.gap_doc(
        len(gaps),
        len(order_gaps),
        values_at_ranks(gaps),
        values_at_ranks(order_gaps),
        histogram,
        gaps[-1] if gaps else None,
    )
    assert doc["percentiles_seconds"] == {f"p{p}": percentile(gaps, p) for p in PERCENTILES}
    assert doc["untimed_percentiles_events"] == {
        f"p{p}": percentile(order_gaps, p) for p in PERCENTILES
    }
    assert [row["count"] for row in doc["histogram"]] == histogram


@given(st.lists(st.tuples(st.integers(1_700_000_000, 1_760_000_000), st.integers(0, 3))))
def test_the_timeline_from_bucket_counts_equals_the_report_from_arrivals(
    copies: list[tuple[int, int]],
) -> None:
    arrivals = [arrival << 3 | kind for arrival, kind in copies]
    expected = timeline(arrivals)
    if not copies:
        assert sections.timeline_doc(None, None, {}) == expected
        return
    low = min(a for a, _ in copies)
    high = max(a for a, _ in copies)
    size = sections.timeline_size(low, high)
    start = low - low % size
    counts = Counter(((a - start) // size, kind) for a, kind in copies)
    assert sections.timeline_doc(low, high, counts) == expected


def report(**counts: int) -> RunReport:
    out = RunReport(Mode.PROCESS, "run", "genesys", "default")
    out.counts.update(counts)
    out.by_topic["t"] = Counter(counts)
    return out


def test_task_reports_add_up() -> None:
    total = report(events=3, processed=2)
    merge_reports(total, report(events=5, duplicate=4, processed=1))
    merge_reports(total, report())
    assert total.counts == Counter(events=8, processed=3, duplicate=4)
    assert total.by_topic["t"] == Counter(events=8, processed=3, duplicate=4)
