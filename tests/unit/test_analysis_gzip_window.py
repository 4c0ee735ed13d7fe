"""``stats`` on gzip in a bounded window: chunk files deleted once scanned, a second pass.

A gzip file is inflated into chunk files, at most a few handed out at once, each
deleted once scanned; what classification and the report need from lines that are
gone comes from a second inflation. Whatever the size of the chunks, the report is
the plain file's, the temporary disk stays within ``--temp-limit`` (measured by the
window's own high-water mark), and a damaged file keeps what the reader keeps.
"""

from __future__ import annotations

import gzip
import itertools
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from analysis_support import bench_generator, comparable, reader_view, report
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gcdedup.analysis import AnalysisOptions, Workers, analyze
from gcdedup.analysis import gz as gzmod
from gcdedup.analysis import refetch as refetch_module
from gcdedup.analysis import run as run_module
from gcdedup.events import MAX_RECORD_BYTES

#: Room for chunks of a few kilobytes (with the margins patched small, see ``tiny``).
LIMIT = 60_000
SINGLE = AnalysisOptions(jobs=1, temp_limit=LIMIT)
POOLED = AnalysisOptions(jobs=2, parallel_threshold=1, temp_limit=LIMIT)


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    path = Path(tempfile.mkdtemp()) / "stream.jsonl"
    bench_generator().generate(path, 1500, dup_rate=0.25, seed=3, delay_scale=0.5)
    out = path.read_bytes().splitlines(keepends=True)
    out[0] = b"\xef\xbb\xbf" + out[0]  # a BOM
    out.insert(40, b"{not json\n")
    out.insert(41, b"\n")
    return out


class Recorded(gzmod.Window):
    """A window that remembers itself, for its high-water mark."""

    made: ClassVar[list[Recorded]] = []
    files: ClassVar[int] = 0

    def __init__(self, directory: str, live: int) -> None:
        super().__init__(directory, live)
        Recorded.made.append(self)

    def create(self) -> Any:
        Recorded.files += 1
        return super().create()


@pytest.fixture(autouse=True)
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Small inflate blocks and margins (so ``LIMIT`` makes many chunks), zlib, a
    temporary directory of the test's own, and windows that are recorded."""
    monkeypatch.setattr(gzmod, "INFLATE", zlib)
    monkeypatch.setattr(gzmod, "BLOCK", 1000)
    monkeypatch.setattr(gzmod, "CHUNK", 4096)
    monkeypatch.setattr(gzmod, "SNIFF_BYTES", 20_000)
    monkeypatch.setattr(gzmod.Inflation, "MARGIN", 2000)
    monkeypatch.setattr(gzmod, "LINE_SLACK", 1500)  # the longest line of the stream
    monkeypatch.setattr(gzmod, "MIN_STEP", 1)
    monkeypatch.setattr(run_module, "Window", Recorded)
    Recorded.made = []
    Recorded.files = 0
    spills = tmp_path / "spills"
    spills.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spills))
    return spills


def _plain_and_packed(tmp_path: Path, data: bytes) -> tuple[Path, Path]:
    plain = tmp_path / "s.jsonl"
    plain.write_bytes(data)
    packed = tmp_path / "s.jsonl.gz"
    packed.write_bytes(gzip.compress(data))
    return plain, packed


@pytest.mark.parametrize("options", [SINGLE, POOLED], ids=["one process", "workers"])
def test_many_chunks_report_as_the_plain_file(
    lines: list[bytes], tmp_path: Path, tiny: Path, options: AnalysisOptions
) -> None:
    data = b"".join(lines)
    plain, packed = _plain_and_packed(tmp_path, data)
    expected = report([plain], options)
    assert expected["duplicates"] > 200 and expected["conflicts"] > 10
    assert report([packed], options) == expected
    assert Recorded.files > 40  # many chunks: most duplicate pairs are split across them
    assert list(tiny.iterdir()) == []


@pytest.mark.parametrize("options", [SINGLE, POOLED], ids=["one process", "workers"])
def test_temporary_disk_stays_within_the_limit(
    lines: list[bytes], tmp_path: Path, options: AnalysisOptions
) -> None:
    # The workers scan slower than the parent inflates: without back-pressure the
    # chunk files would pile up to the whole inflated file.
    data = b"".join(lines) * 3
    _, packed = _plain_and_packed(tmp_path, data)
    analyze([str(packed)], options)
    (window,) = Recorded.made
    assert 0 < window.high_water <= LIMIT < len(data) // 20
    assert window.used == 0
    assert Recorded.files > 100


def test_multi_member_files_and_many_files(lines: list[bytes], tmp_path: Path) -> None:
    plain_dir, packed_dir = tmp_path / "plain", tmp_path / "packed"
    plain_dir.mkdir()
    packed_dir.mkdir()
    step = len(lines) // 3 + 1
    for n in range(3):
        data = b"".join(lines[n * step : (n + 1) * step])
        (plain_dir / f"part-{n}.jsonl").write_bytes(data)
        cuts = [0, len(data) // 3, len(data) // 2, len(data)]
        members = [gzip.compress(data[a:b]) for a, b in itertools.pairwise(cuts)]
        (packed_dir / f"part-{n}.jsonl.gz").write_bytes(b"\0\0".join(members))
    for options in (SINGLE, POOLED):
        assert report([packed_dir], options) == report([plain_dir], options)


@pytest.mark.parametrize("case", ["truncated", "corrupt"])
def test_damage_in_the_middle_keeps_what_the_reader_keeps(
    lines: list[bytes],
    tmp_path: Path,
    tiny: Path,
    case: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Chunks before the damage are scanned (and deleted) before it is met; the
    # reference path then takes over after the last chunk handed out. Its reads and
    # margin are the real ones: it loses up to a read before the damage, as the
    # reader does, which is more than the tiny margin of the other tests.
    monkeypatch.setattr(gzmod, "CHUNK", 1024 * 1024)
    monkeypatch.setattr(gzmod, "SNIFF_BYTES", 2 * (MAX_RECORD_BYTES + 2) + 3 * 1024 * 1024)
    monkeypatch.setattr(gzmod.Inflation, "MARGIN", 2 * 1024 * 1024)
    handed: list[int] = []
    rewind = gzmod._Cutter.rewind

    def rewound(cutter: Any) -> int:
        handed.append(cutter.handed)
        return rewind(cutter)

    monkeypatch.setattr(gzmod._Cutter, "rewind", rewound)
    limit = 2 * 1024 * 1024 + LIMIT
    data = b"".join(lines) * 4
    packed = bytearray(gzip.compress(data))
    middle = len(packed) // 2
    if case == "truncated":
        del packed[middle:]
    else:
        packed[middle : middle + 40] = b"\xff" * 40
    path = tmp_path / "damaged.jsonl.gz"
    path.write_bytes(bytes(packed))
    events, bad = reader_view(path, tmp_path)
    assert bad[-1][1].startswith(("truncated gzip", "corrupt gzip"))
    expected = report([events], SINGLE)
    for options in (SINGLE, POOLED):
        options = AnalysisOptions(**{**options.__dict__, "temp_limit": limit})
        doc = analyze([str(path)], options).to_dict()
        got = [(b["location"].rsplit(":", 1)[-1], b["reason"]) for b in doc["bad"]]
        assert got == [(str(line), reason) for line, reason in bad]
        for key in ("events", "unique", "duplicates", "conflicts", "by_kind", "top_keys"):
            assert doc[key] == expected[key], key
    assert Recorded.files > 20
    assert len(handed) == 2 and min(handed) > 10  # chunks were out when the damage was met
    assert list(tiny.iterdir()) == []


def _event(eid: str, body: int, *, replay: bool = False) -> bytes:
    env: dict[str, Any] = {
        "version": "0",
        "id": eid,
        "detail-type": "v2.test.topic",
        "source": "test",
        "account": "1",
        "time": "2024-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"topicName": "v2.test.topic", "eventBody": {"n": body, "pad": "x" * 60}},
    }
    if replay:
        env["replay-name"] = "r"
    return orjson.dumps(env) + b"\n"


def _picks(monkeypatch: pytest.MonkeyPatch) -> list[list[tuple[int, int]]]:
    asked: list[list[tuple[int, int]]] = []
    real = refetch_module.pick_lines

    def pick(source: str, fmt: str, wanted: Sequence[tuple[int, int]]) -> Iterator[Any]:
        asked.append(list(wanted))
        return real(source, fmt, wanted)

    monkeypatch.setattr(refetch_module, "pick_lines", pick)
    return asked


@pytest.mark.parametrize(
    ("jobs", "start"), [(1, "fork"), (2, "fork"), (2, "spawn")], ids=["one", "fork", "spawn"]
)
def test_pairs_split_across_chunks_take_the_second_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int, start: str
) -> None:
    # a: first line, a retry (the same bytes) in the middle, a conflict (the same id,
    # another body) at the end; b: a replay only (no digests needed, but a name).
    fill = [_event(f"f{n}", n) for n in range(400)]
    rows = [_event("a", 1), _event("b", 2), *fill[:200], _event("a", 1)]
    rows += [*fill[200:], _event("b", 2, replay=True), _event("a", 9)]
    data = b"".join(rows)
    plain, packed = _plain_and_packed(tmp_path, data)
    options = AnalysisOptions(
        strategy="envelope", jobs=jobs, parallel_threshold=1, temp_limit=LIMIT
    )
    asked = _picks(monkeypatch)
    workers = Workers(start)
    expected = comparable(analyze([str(plain)], options, workers=workers).to_dict())
    assert asked == []
    got = comparable(analyze([str(packed)], options, workers=workers).to_dict())
    assert got == expected
    assert {k: v["count"] for k, v in got["by_kind"].items()} == {
        "retry": 1,
        "replay": 1,
        "resend": 0,
        "conflict": 1,
    }
    assert got["by_kind"]["conflict"]["example_key"] == "default#id#a"
    assert got["by_kind"]["replay"]["example_key"] == "default#id#b"
    offsets = [0]
    for row in rows:
        offsets.append(offsets[-1] + len(row))
    at = {n: (offsets[n], len(rows[n])) for n in (0, 1, 202, len(rows) - 1)}
    # a's three lines for their digests, b's first line for its name only.
    assert asked == [[at[0], at[1], at[202], at[len(rows) - 1]]]
    assert Recorded.files >= 4  # a's lines in three of them


def test_no_second_pass_without_duplicates_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"".join(_event(f"u{n}", n) for n in range(500))
    _, packed = _plain_and_packed(tmp_path, data)
    asked = _picks(monkeypatch)
    for options in (SINGLE, POOLED):
        assert analyze([str(packed)], options).to_dict()["unique"] == 500
    assert asked == []
    assert Recorded.files >= 8


def test_pick_lines_cuts_lines_out_of_any_blocks(tmp_path: Path) -> None:
    rows = [b"\xef\xbb\xbf" + _event("x", 0), _event("y", 1), b"[1, 2]\n", _event("z", 3)]
    data = b"".join(rows)[:-1]  # the last line without its line break
    offsets = [0]
    for row in rows:
        offsets.append(offsets[-1] + len(row))
    path = tmp_path / "m.jsonl.gz"
    half = len(data) // 2
    path.write_bytes(gzip.compress(data[:half]) + gzip.compress(data[half:]))
    wanted = [(0, len(rows[0])), (offsets[1], len(rows[1])), (offsets[2], -1), (offsets[3], -1)]
    for block in (1, 7, 100_000):
        gzmod.BLOCK = block
        got = list(gzmod.pick_lines(str(path), "auto", wanted))
        assert (
            got
            == [
                (0, rows[0][3:]),  # without the BOM, as the scan read it
                (offsets[1], rows[1]),
                (offsets[2], b"[1, 2]\n"),
                (offsets[3], rows[3][:-1]),
            ]
        )
    with pytest.raises(OSError, match="shorter than when it was scanned"):
        list(gzmod.pick_lines(str(path), "auto", [(len(data) + 5, 3)]))
    truncated = tmp_path / "t.jsonl.gz"
    truncated.write_bytes(gzip.compress(data)[:-3])  # damaged: the reference path reads it
    assert list(gzmod.pick_lines(str(truncated), "auto", wanted[:2])) == got[:2]


def test_pick_lines_takes_the_reference_path_after_damage(tmp_path: Path) -> None:
    # One large inflate block: the fast path meets the damage before it yields a
    # byte; the reference path (smaller reads) gives the lines before the damage.
    rows = [_event(f"e{n}", n) for n in range(300)]
    data = b"".join(rows)
    packed = bytearray(gzip.compress(data))
    packed[len(packed) // 2 : len(packed) // 2 + 40] = b"\xff" * 40
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(bytes(packed))
    gzmod.BLOCK = 10**6
    wanted = [(len(b"".join(rows[:n])), len(rows[n])) for n in (3, 40)]
    assert list(gzmod.pick_lines(str(path), "auto", wanted)) == [
        (wanted[0][0], rows[3]),
        (wanted[1][0], rows[40]),
    ]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"") + b"\n"), min_size=1, max_size=40
    ),
    block=st.integers(min_value=1, max_value=64),
    picks=st.lists(st.tuples(st.integers(min_value=0), st.booleans()), max_size=40),
    members=st.integers(min_value=1, max_value=3),
)
def test_pick_lines_gives_the_lines_asked_for(
    tmp_path: Path,
    rows: list[bytes],
    block: int,
    picks: list[tuple[int, bool]],
    members: int,
) -> None:
    # Any lines, any inflate block size, any members: each wanted line (by offset and
    # length, or up to its end) is the slice of the stream, in offset order.
    data = b"".join(rows)
    offsets = [0]
    for row in rows:
        offsets.append(offsets[-1] + len(row))
    chosen = sorted({n % len(rows): to_end for n, to_end in picks}.items())
    wanted = [(offsets[n], -1 if to_end else len(rows[n])) for n, to_end in chosen]
    cut = len(data) // members
    parts = [data[i * cut : (i + 1) * cut if i < members - 1 else None] for i in range(members)]
    path = tmp_path / "p.jsonl.gz"
    path.write_bytes(b"".join(gzip.compress(part) for part in parts))
    gzmod.BLOCK = block
    got = list(gzmod.pick_lines(str(path), "jsonl", wanted))
    expected = [(offsets[n], rows[n]) for n, _ in chosen]
    expected = [
        (o, line[3:] if o == 0 and line.startswith(b"\xef\xbb\xbf") else line)
        for o, line in expected
    ]
    assert got == expected
