"""``stats --temp-limit``: the bound on temporary disk for inflated gzip input. Too small
for a window of chunks, the gzip files are read without any copy (by the general
reader), with the same report and a warning naming them."""

from __future__ import annotations

import gzip
import logging
import tempfile
from pathlib import Path
from typing import Any

import pytest
from analysis_support import bench_generator

from gcdedup.analysis import AnalysisOptions, analyze, gz
from gcdedup.analysis import run as run_module
from gcdedup.analysis.gz import chunk_step, parse_size


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("gen") / "stream.jsonl"
    bench_generator().generate(path, 1500, dup_rate=0.25, seed=11, delay_scale=0.5)
    return path.read_bytes()


def comparable(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in ("by_file", "files")}


@pytest.mark.parametrize(
    "options",
    [AnalysisOptions(jobs=1), AnalysisOptions(jobs=2, parallel_threshold=1)],
    ids=["one process", "workers"],
)
def test_over_the_limit_no_copy_is_made_and_the_report_is_the_same(
    stream: bytes,
    tmp_path: Path,
    options: AnalysisOptions,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    plain = tmp_path / "s.jsonl"
    plain.write_bytes(stream)
    packed = tmp_path / "s.jsonl.gz"
    packed.write_bytes(gzip.compress(stream))
    expected = comparable(analyze([str(plain)], options).to_dict())
    assert expected["duplicates"] > 100

    def no_copy(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a temporary copy was made")

    monkeypatch.setattr(run_module, "Inflation", no_copy)
    monkeypatch.setattr(tempfile, "TemporaryDirectory", no_copy)
    limited = options.__class__(**{**options.__dict__, "temp_limit": len(stream) - 1})
    with caplog.at_level(logging.WARNING, logger="gcdedup.analysis.run"):
        got = comparable(analyze([str(packed)], limited).to_dict())
    assert got == expected
    assert [r.getMessage() for r in caplog.records] == [
        f"{packed}: read without a temporary copy (--temp-limit {len(stream) - 1} bytes "
        "leaves no room for inflated chunks): slower, one process for the file"
    ]


def test_chunks_are_sized_to_fit_the_limit() -> None:
    # live chunks out, the one being written (each up to a line past its size), the
    # fast path's margin and one inflated block: all within the limit.
    margin, block, slack = gz.Inflation.MARGIN, gz.BLOCK, gz.LINE_SLACK
    for limit, live in [(128 << 20, 3), (10 << 20, 1), (300 << 20, 17)]:
        step = chunk_step(limit, live)
        assert step is not None
        assert (live + 1) * (step + slack) + margin + block <= limit
        assert (live + 1) * (step + 1 + slack) + margin + block > limit
    assert chunk_step(0, 1) is None
    assert chunk_step(margin + block + 2 * (gz.MIN_STEP + slack) - 1, 1) is None
    assert chunk_step(margin + block + 2 * (gz.MIN_STEP + slack), 1) == gz.MIN_STEP


@pytest.mark.parametrize(
    ("text", "size"),
    [("0", 0), ("500000", 500_000), ("200K", 200 * 1024), ("1.5G", 3 * 1024**3 // 2),
     ("500MiB", 500 * 1024**2), ("2 gb", 2 * 1024**3)],
)  # fmt: skip
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "-1", "5X", "M", "1e9"])
def test_bad_sizes_say_what_to_write(text: str) -> None:
    with pytest.raises(ValueError, match=r"use e\.g\. 0, 500M, 2G"):
        parse_size(text)
