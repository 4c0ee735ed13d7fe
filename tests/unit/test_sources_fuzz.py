"""Whatever the bytes, the readers yield Events and BadRecords and never raise."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gcdedup.events import BadRecord, Event
from gcdedup.sources import FORMATS, EventReader

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"
SAMPLES = [orjson.loads(p.read_bytes()) for p in sorted(FIXTURES.glob("0[1-5]_*.json"))]
COMPACT = [orjson.dumps(s) for s in SAMPLES]
PRETTY = [orjson.dumps(s, option=orjson.OPT_INDENT_2) for s in SAMPLES]

VALID_INPUTS = [
    b"\n".join(COMPACT),
    b"[" + b",\n".join(COMPACT) + b"]",
    b"".join(COMPACT),
    b"".join(PRETTY),
    b"".join(b"2022-04-06T09:30:45.013Z " + c + b"\n" for c in COMPACT),
]

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def read_all(data: bytes, fmt: str, limit: int = 4096) -> list[Event | BadRecord]:
    reader = EventReader(["-"], fmt, max_record_bytes=limit, stdin=io.BytesIO(data))
    items = list(reader)
    for item in items:
        assert type(item) in (Event, BadRecord)
        assert item.location.source == "-"
        assert (item.location.line is None) != (item.location.offset is None)
    return items


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid input with bytes flipped, cut, duplicated or inserted."""
    data = bytearray(draw(st.sampled_from(VALID_INPUTS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(
                st.sampled_from([b"{", b"}", b"[", b"]", b'"', b"\\", b"\n", b"\xff"])
            )
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 50))]
    return bytes(data)


structural = st.lists(
    st.sampled_from([b"{", b"}", b"[", b"]", b'"', b"\\", b",", b"\n", b" ", b"1", b"x", b"\xc3"]),
    max_size=60,
).map(b"".join)


@FAST
@given(data=st.one_of(st.binary(max_size=300), structural, mutated()), fmt=st.sampled_from(FORMATS))
def test_arbitrary_bytes_never_raise(data: bytes, fmt: str) -> None:
    read_all(data, fmt)
    read_all(data, fmt, limit=16)


@FAST
@given(data=st.one_of(st.binary(max_size=300), mutated()), fmt=st.sampled_from(FORMATS))
def test_gzip_of_anything_and_corrupt_gzip_never_raise(data: bytes, fmt: str) -> None:
    packed = gzip.compress(data)
    read_all(packed, fmt)
    read_all(packed[: len(packed) // 2], fmt)
    damaged = bytearray(packed)
    damaged[len(damaged) // 3] ^= 0x55
    read_all(bytes(damaged), fmt)
    read_all(b"\x1f\x8b" + data, fmt)


junk_line = st.one_of(
    st.binary(max_size=80).filter(lambda b: b"\n" not in b and b"\r" not in b),
    st.sampled_from([b"{", b"[", b"}", b'{"detail":', b'"\\', b"\xff\xfe", b"null", b"{}"]),
)


@FAST
@given(
    junk=st.lists(st.lists(junk_line, max_size=3), min_size=6, max_size=6),
    compress=st.booleans(),
)
def test_valid_lines_among_junk_lines_are_all_recovered(
    junk: list[list[bytes]], compress: bool
) -> None:
    lines: list[bytes] = []
    expected_lines: list[int] = []
    for index, compact in enumerate(COMPACT):
        lines.extend(junk[index])
        lines.append(compact)
        expected_lines.append(len(lines))
    lines.extend(junk[5])
    data = b"\n".join(lines) + b"\n"
    if compress:
        data = gzip.compress(data)
    items = read_all(data, "jsonl")
    events = [i for i in items if isinstance(i, Event)]
    assert [e.envelope for e in events] == SAMPLES
    assert [e.location.line for e in events] == expected_lines
    assert all(isinstance(i, BadRecord) or i in events for i in items)


@FAST
@given(junk=st.lists(st.lists(junk_line, max_size=2), min_size=6, max_size=6))
def test_auto_recovers_every_sample_after_a_good_first_line(junk: list[list[bytes]]) -> None:
    lines = [COMPACT[0]]
    for index, compact in enumerate(COMPACT[1:], start=1):
        lines.extend(junk[index])
        lines.append(compact)
    data = b"\n".join(lines) + b"\n"
    events = [i for i in read_all(data, "auto") if isinstance(i, Event)]
    assert [e.envelope for e in events] == SAMPLES


@FAST
@given(
    layout=st.sampled_from([(COMPACT, b""), (COMPACT, b"\n"), (PRETTY, b""), (PRETTY, b"\n")]),
    which=st.integers(0, 4),
    cut=st.floats(0, 1, exclude_max=True),
    fmt=st.sampled_from(["auto", "concat"]),
)
def test_a_record_cut_short_loses_no_record_that_starts_a_line_or_follows_a_brace(
    layout: tuple[list[bytes], bytes], which: int, cut: float, fmt: str
) -> None:
    records, separator = layout
    parts = list(records) * 2
    parts[which] = parts[which][: max(1, int(cut * len(parts[which])))]
    data = separator.join(parts)
    starts = [sum(len(p) + len(separator) for p in parts[:i]) for i in range(len(parts))]
    expected = [
        SAMPLES[i % 5]
        for i, start in enumerate(starts)
        if i != which and (i != which + 1 or data[start - 1 : start] in (b"}", b"\n"))
    ]
    items = read_all(data, fmt)
    events = [i for i in items if isinstance(i, Event)]
    assert [e.envelope for e in events] == expected
    assert [i for i in items if isinstance(i, BadRecord)]
