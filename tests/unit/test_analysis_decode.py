"""The stats fast path (typed decoding) sees every line exactly as the general path does."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from gcdedup.analysis import AnalysisOptions, analyze, plan_chunks
from gcdedup.analysis import decode as typed
from gcdedup.analysis.decode import UNSET, decode
from gcdedup.analysis.records import empty_partial, merge
from gcdedup.analysis.report import build_report
from gcdedup.analysis.scan import scan_chunk
from gcdedup.events import BadJSON, Event, Location, parse
from gcdedup.keys import KeyMaker, genesys_key

REPO = Path(__file__).resolve().parents[2]
SAMPLES = [
    orjson.loads(p.read_bytes())
    for p in sorted((REPO / "tests" / "fixtures" / "genesys").glob("0*.json"))
]
PRESENCE = {
    "version": "0",
    "id": "e1",
    "detail-type": "v2.users.{id}.presence",
    "time": "2025-01-01T00:00:00Z",
    "detail": {
        "topicName": "v2.users.5a1b.presence",
        "version": "2",
        "eventBody": {"presenceDefinition": {"systemPresence": "Available"}, "n": 1},
    },
}
BASES = [*SAMPLES, PRESENCE]
#: Where a key or a count looks: (path to the dict, field).
FIELDS = [
    ((), "time"),
    ((), "detail-type"),
    ((), "replay-name"),
    ((), "detail"),
    (("detail",), "topicName"),
    (("detail",), "eventBody"),
    (("detail", "eventBody"), "conversationId"),
    (("detail", "eventBody"), "participantId"),
    (("detail", "eventBody"), "sessionId"),
    (("detail", "eventBody"), "eventTime"),
    (("detail", "eventBody"), "id"),
    ((), "source"),
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.sampled_from(["a#b", "é", "x" * 201, "v2.detail.events.conversation.1", "v2.audits.1"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)


def _serialise(doc: Any, style: int) -> bytes:
    if style == 0:
        return json.dumps(doc, separators=(",", ":")).encode()
    if style == 1:
        return json.dumps(doc, ensure_ascii=True).encode()  # \\u escapes, big ints
    return json.dumps(doc, ensure_ascii=False, indent=None, separators=(" , ", " : ")).encode()


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    """A real event with some fields replaced, removed or typed oddly, maybe bytes broken."""
    doc = json.loads(json.dumps(draw(st.sampled_from(BASES))))
    for _ in range(draw(st.integers(0, 4))):
        path, name = draw(st.sampled_from(FIELDS))
        target = doc
        for step in path:
            target = target.get(step) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            continue
        if draw(st.booleans()):
            target.pop(name, None)
        else:
            target[name] = draw(values)
    line = _serialise(doc, draw(st.integers(0, 2)))
    if draw(st.integers(0, 4)) == 0:
        data = bytearray(line)
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.sampled_from([b"\xff", b"\\", b'"', b"}", b"01", b"\x00"]))
        line = bytes(data)
    return line


def _str(value: Any) -> str | None:
    return value if type(value) is str else None


def _with_event_time(value: int) -> bytes:
    doc = json.loads(json.dumps(SAMPLES[2]))
    doc["detail"]["eventBody"]["eventTime"] = value
    return json.dumps(doc).encode()


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines())
@example(_with_event_time(2**64))  # exact on both paths (the contract keeps big integers)
@example(_with_event_time(2**64 - 1))
@example(_with_event_time(-(2**63) - 1))
def test_fast_path_answers_only_what_the_general_path_would(line: bytes) -> None:
    env = decode(line)
    try:
        doc = parse(line)
    except BadJSON:
        doc = None
    event("fast path" if env is not None else "general path")
    if env is None:
        return
    assert type(doc) is dict and type(doc.get("detail")) is dict, line
    assert _str(env.time) == _str(doc.get("time"))
    assert _str(env.detail_type) == _str(doc.get("detail-type"))
    assert (env.replay_name is not UNSET) == ("replay-name" in doc)
    assert env.detail is not None
    assert _str(env.detail.topicName) == _str(doc["detail"].get("topicName"))
    key = typed.genesys_key(env, line)
    event("keyed" if key is not None else "not keyed")
    if key is not None:
        assert key == genesys_key(Event(doc, Location("x"))), line


def test_every_generated_and_sample_line_takes_the_fast_path(stream_lines: list[bytes]) -> None:
    for line in stream_lines + [orjson.dumps(doc) for doc in BASES]:
        env = decode(line)
        assert env is not None and typed.genesys_key(env, line) is not None, line


def test_invalid_utf8_inside_a_skipped_field_is_a_bad_record(tmp_path: Path) -> None:
    good = orjson.dumps(SAMPLES[2])
    bad = good.replace(b'"source":"', b'"source":"\xff', 1)
    assert bad != good
    path = tmp_path / "utf8.jsonl"
    path.write_bytes(good + b"\n" + bad + b"\n")
    doc = analyze([str(path)]).to_dict()
    assert (doc["events"], doc["bad_records"]) == (1, 1)
    assert doc["bad"][0] == {"location": f"{path}:2", "reason": "invalid UTF-8"}


@pytest.fixture(scope="module")
def stream_lines(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    from test_analysis import generator

    path = tmp_path_factory.mktemp("decode") / "stream.jsonl"
    generator.generate(path, 400, dup_rate=0.2, seed=5, delay_scale=0.5)
    return path.read_bytes().splitlines()


def _scanned_report(path: Path, **scan: Any) -> dict[str, Any]:
    """What ``analyze([path])`` reports, scanned in this process with ``scan`` arguments."""
    files = [str(path)]
    options = AnalysisOptions(jobs=1)
    makers = [KeyMaker.create()]
    chunks = plan_chunks(files, options.fmt, 1, options.parallel_threshold)
    partial = empty_partial(1)
    for chunk in chunks:
        merge(partial, scan_chunk(chunk, makers, options.fmt, **scan))
    return build_report(partial, chunks, files, ["genesys"], makers, options).to_dict()


def test_stats_are_the_same_with_and_without_the_fast_path(
    stream_lines: list[bytes], tmp_path: Path
) -> None:
    rng = random.Random(3)
    mixed = list(stream_lines)
    odd = [
        b"",
        b"   ",
        '{"detail": {"topicName": "caf\u00e9"}}'.encode(),
        b'{"detail": 1}',
        b"[1, 2]",
        orjson.dumps({**SAMPLES[3], "replay-name": None}),
        orjson.dumps({**SAMPLES[3], "time": 17}),
    ]
    for line in odd:
        mixed.insert(rng.randrange(len(mixed)), line)
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(mixed) + b"\n")
    fast = analyze([str(path)]).to_dict()
    assert _scanned_report(path) == fast
    general = _scanned_report(path, decode_fast=False)
    assert fast == general
    assert fast["events"] == len(stream_lines) + 3 and fast["bad_records"] == 2


def _line_kinds() -> dict[str, bytes]:
    event = orjson.dumps(SAMPLES[3])
    return {
        "event": event,
        "other event": orjson.dumps(SAMPLES[0]),
        "crlf event": event + b"\r",
        "presence": orjson.dumps(PRESENCE),
        "non-ascii": orjson.dumps({**SAMPLES[2], "source": "caf\u00e9"}),
        "blank": b"",
        "spaces": b"  \t",
        "garbage": b"{not json",
        "batch": orjson.dumps({"Records": [{"body": event.decode()}]}),
        "scalar": b"17",
        "oversize": b'{"pad": "' + b"x" * (1024 * 1024) + b'"}',
        "just over": b" " * (1024 * 1024) + b"{}\r",
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kinds=st.lists(st.sampled_from(sorted(_line_kinds())), min_size=1, max_size=12),
    bom=st.booleans(),
    final_newline=st.booleans(),
    block=st.sampled_from([512, 4096, 1 << 20]),
)
def test_plain_lines_are_read_as_the_general_reader_reads_them(
    kinds: list[str], bom: bool, final_newline: bool, block: int
) -> None:
    # The same bytes gzip-compressed go through the shared reader (EventReader):
    # every count and every bad record's line and reason must agree.
    import gzip
    import tempfile

    lines = _line_kinds()
    data = (b"\xef\xbb\xbf" if bom else b"") + b"\n".join(lines[k] for k in kinds)
    data += b"\n" if final_newline else b""
    with tempfile.TemporaryDirectory() as tmp:
        plain, packed = Path(tmp) / "e.jsonl", Path(tmp) / "e.jsonl.gz"
        plain.write_bytes(data)
        packed.write_bytes(gzip.compress(data))
        a = _scanned_report(plain, block=block)
        b = analyze([str(packed)]).to_dict()
    for doc, path in ((a, plain), (b, packed)):
        for bad in doc["bad"]:
            bad["location"] = bad["location"].replace(str(path), "F")
    keys = ("events", "unique", "duplicates", "bad_records", "bad", "by_kind")
    assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
