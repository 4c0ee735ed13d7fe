"""``stats`` on gzip JSON Lines: inflated to a plain file while the workers scan it.

The report of a gzip file must be the report of the same file uncompressed (apart
from file names), whichever inflate runs (ISA-L when installed, zlib), however the
inflated bytes are cut into blocks and ranges, in one process or several. A
damaged file keeps exactly the events and bad records the general reader (what
``gcdedup process`` reads) gives it.
"""

from __future__ import annotations

import gzip
import importlib.util
import itertools
import os
import tempfile
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from analysis_support import bench_generator, reader_view, report

from gcdedup.analysis import AnalysisOptions, analyze, plan
from gcdedup.analysis import gz as gzmod
from gcdedup.events import MAX_RECORD_BYTES

INFLATES = [pytest.param(zlib, id="zlib")]
if importlib.util.find_spec("isal") is not None:
    from isal import isal_zlib

    INFLATES.append(pytest.param(isal_zlib, id="isal"))

SINGLE = AnalysisOptions(jobs=1)
POOLED = AnalysisOptions(jobs=2, parallel_threshold=1)


@pytest.fixture(scope="module")
def lines(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """A generated stream with every hazard of a real file mixed in."""
    path = tmp_path_factory.mktemp("gen") / "stream.jsonl"
    bench_generator().generate(path, 1200, dup_rate=0.25, seed=5, delay_scale=0.5)
    out = path.read_bytes().splitlines(keepends=True)
    out[0] = b"\xef\xbb\xbf" + out[0]  # a BOM
    for i in range(3, len(out), 97):
        out[i] = out[i].rstrip(b"\n") + b"\r\n"  # CRLF
    out.insert(50, b"{not json\n")  # a bad line
    out.insert(51, b"\n")  # a blank line
    out.insert(400, b'{"detail": 1}\n')  # JSON, not an event
    out.insert(700, b'{"x": "' + b"y" * (MAX_RECORD_BYTES + 10) + b'"}\n')  # over-long
    out.insert(900, b"   \r\n")
    return out


@pytest.fixture(autouse=True)
def own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Inflated copies go to a directory of the test's own, checked empty afterwards."""
    spills = tmp_path / "spills"
    spills.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spills))
    return spills


@pytest.mark.parametrize("inflate", INFLATES)
@pytest.mark.parametrize("options", [SINGLE, POOLED], ids=["one process", "workers"])
def test_one_gzip_file_reports_as_the_plain_file(
    lines: list[bytes],
    tmp_path: Path,
    own_tmp: Path,
    inflate: Any,
    options: AnalysisOptions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gzmod, "INFLATE", inflate)
    plain = tmp_path / "s.jsonl"
    plain.write_bytes(b"".join(lines))
    packed = tmp_path / "s.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    expected = report([plain], options)
    assert expected["bad_records"] == 3 and expected["duplicates"] > 100
    assert report([packed], options) == expected
    assert list(own_tmp.iterdir()) == []  # the inflated copy is gone


@pytest.mark.parametrize("block", [1, 333, 65536])
def test_blocks_and_ranges_cut_anywhere(
    lines: list[bytes], tmp_path: Path, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tiny inflate blocks (pieces cut inside lines, CRLFs and the BOM) and tiny
    # ranges: every range starts at a line start and the report does not move.
    monkeypatch.setattr(gzmod, "INFLATE", zlib)
    monkeypatch.setattr(gzmod, "BLOCK", block)
    monkeypatch.setattr(gzmod, "CHUNK", 4096)  # first read, and margin of the sniff
    monkeypatch.setattr(gzmod, "SNIFF_BYTES", 20_000)
    monkeypatch.setattr(gzmod.Inflation, "MARGIN", 0)
    data = b"".join(lines)
    packed = tmp_path / "s.jsonl.gz"
    packed.write_bytes(gzip.compress(data))
    window = gzmod.Window(str(tmp_path), 1)
    inflation = gzmod.Inflation(str(packed), "auto", window, 50_000, 1000)
    ranges = []
    for path, start, end in inflation.ranges():
        # Handed out as soon as final: its bytes are on disk already, in a file of its own.
        assert Path(path).read_bytes() == data[start:end]
        window.release(path)
        ranges.append((start, end))
    assert inflation.spill is not None and inflation.spill.error is None
    assert window.used == 0 and not list(tmp_path.glob("*.jsonl"))
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data) and len(ranges) > 10
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert end == start and data[start - 1 : start] == b"\n"
    plain = tmp_path / "s.jsonl"
    plain.write_bytes(data)
    assert report([packed], POOLED) == report([plain], POOLED)


def test_many_files_report_as_the_plain_files(lines: list[bytes], tmp_path: Path) -> None:
    # A Firehose archive: many small gzip files (one of them multi-member, with zero
    # padding), against the same files uncompressed; order and line numbers kept.
    # Each goes through the parent's window of inflated chunks, one after another.
    plain_dir, packed_dir = tmp_path / "plain", tmp_path / "packed"
    plain_dir.mkdir()
    packed_dir.mkdir()
    step = len(lines) // 24 + 1
    for n in range(24):
        data = b"".join(lines[n * step : (n + 1) * step])
        (plain_dir / f"part-{n}.jsonl").write_bytes(data)
        if n == 3:
            half = len(data) // 2
            packed = gzip.compress(data[:half]) + b"\0" * 5 + gzip.compress(data[half:])
        else:
            packed = gzip.compress(data)
        (packed_dir / f"part-{n}.jsonl.gz").write_bytes(packed)
    for options in (SINGLE, POOLED):
        assert report([packed_dir], options) == report([plain_dir], options)


@pytest.mark.parametrize("inflate", INFLATES)
def test_well_formed_files_never_take_the_reference_path(
    lines: list[bytes], tmp_path: Path, inflate: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Several members, zero padding between and after them: the fast path's own work.
    monkeypatch.setattr(gzmod, "INFLATE", inflate)
    monkeypatch.setattr(gzmod, "BLOCK", 4096)

    def refuse(*args: Any) -> None:
        raise AssertionError("took the reference path")

    monkeypatch.setattr(gzmod, "_Reference", refuse)
    data = b"".join(lines)
    thirds = [data[: len(data) // 3], data[len(data) // 3 : -5], data[-5:]]
    packed = tmp_path / "members.jsonl.gz"
    packed.write_bytes(b"\0".join(gzip.compress(t) for t in thirds) + b"\0" * 9)
    window = gzmod.Window(str(tmp_path), 1)
    inflated = []
    for path, _, _ in gzmod.Inflation(str(packed), "auto", window, 10**6, 4).ranges():
        inflated.append(Path(path).read_bytes())
        window.release(path)
    assert b"".join(inflated) == data


def _damaged(data: bytes) -> dict[str, bytes]:
    packed = gzip.compress(data)
    body = len(packed) // 2
    corrupt = bytearray(packed)
    corrupt[body : body + 40] = b"\xff" * 40
    bad_crc = bytearray(packed)
    bad_crc[-6] ^= 0xFF
    second = gzip.compress(data[:5000]) + gzip.compress(data[5000:])
    return {
        "truncated in the middle": packed[:body],
        "truncated in a line": packed[: len(packed) - 300],
        "truncated trailer": packed[:-3],
        "corrupt deflate data": bytes(corrupt),
        "bad checksum": bytes(bad_crc),
        "garbage after a member": packed + b"garbage",
        "second member truncated": second[:-500],
    }


@pytest.mark.parametrize("inflate", INFLATES)
@pytest.mark.parametrize("case", list(_damaged(b"x").keys()))
def test_a_damaged_file_keeps_what_the_reader_keeps(
    lines: list[bytes],
    tmp_path: Path,
    own_tmp: Path,
    inflate: Any,
    case: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The decoding contract: every line the reader (``process``) reads before the
    # damage is an event here too, the cut-off line is dropped, and the error is
    # the last bad record, at the same line, with the same reason.
    monkeypatch.setattr(gzmod, "INFLATE", inflate)
    data = b"".join(line for line in lines if len(line) < 10_000)  # no over-long line
    path = tmp_path / "damaged.jsonl.gz"
    path.write_bytes(_damaged(data)[case])
    events, bad = reader_view(path, tmp_path)
    assert bad and bad[-1][1].startswith(("truncated gzip", "corrupt gzip"))
    expected = report([events], SINGLE)
    for options in (SINGLE, POOLED):
        doc = analyze([str(path)], options).to_dict()
        got = [(b["location"].rsplit(":", 1)[-1], b["reason"]) for b in doc["bad"]]
        assert got == [(str(line), reason) for line, reason in bad], options
        assert doc["bad_records"] == len(bad)
        for key in ("events", "unique", "duplicates", "by_kind", "by_topic", "top_keys"):
            assert doc[key] == expected[key], key
    # Twice the file, each small enough for one range: the workers inflate them whole.
    monkeypatch.setattr(plan, "RANGES_PER_JOB", 0.001)
    doc = analyze([str(path), str(path)], POOLED).to_dict()
    assert [b["reason"] for b in doc["bad"]] == [reason for _, reason in bad] * 2
    expected = report([events, events], POOLED)
    for key in ("events", "unique", "duplicates", "by_kind", "by_topic"):
        assert doc[key] == expected[key], key
    assert list(own_tmp.iterdir()) == []


def test_gzip_that_is_not_json_lines_goes_to_the_general_reader(
    lines: list[bytes], tmp_path: Path
) -> None:
    # Back-to-back objects (what Firehose writes without a newline delimiter), and a
    # text file that starts with the gzip magic by accident: not inflated here.
    events = [orjson.loads(line) for line in lines[100:400] if line.startswith(b'{"version')]
    plain = tmp_path / "s.jsonl"
    plain.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    concat = tmp_path / "s.concat.gz"
    concat.write_bytes(gzip.compress(b"".join(orjson.dumps(e) for e in events)))
    assert report([concat], POOLED) == report([plain], POOLED)
    assert not gzmod.spillable(str(tmp_path), "auto")
    window = gzmod.Window(str(tmp_path / "spills"), 1)
    assert list(gzmod.Inflation(str(concat), "auto", window, 10, 10).ranges()) == []
    fake = tmp_path / "fake.jsonl"
    fake.write_bytes(b"\x1f\x8b not gzip\n" + plain.read_bytes())
    assert gzmod.spillable(str(fake), "auto")
    doc = analyze([str(fake)], POOLED).to_dict()
    assert doc["events"] == len(events) and doc["bad_records"] == 1


def test_progress_counts_compressed_bytes(lines: list[bytes], tmp_path: Path) -> None:
    packed = tmp_path / "s.jsonl.gz"
    packed.write_bytes(gzip.compress(b"".join(lines)))
    for options in (SINGLE, POOLED):
        seen: list[int] = []
        analyze([str(packed)], options, on_bytes=seen.append)
        assert sum(seen) == os.path.getsize(packed)
