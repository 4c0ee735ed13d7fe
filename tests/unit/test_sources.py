"""The event readers: every input format, locations, bad records and paths."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from gcdedup.errors import UsageError
from gcdedup.events import BadRecord, Event, Location
from gcdedup.sources import FORMATS, EventReader, expand_paths, read_events

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"
SAMPLE_PATHS = sorted(FIXTURES.glob("0[1-5]_*.json"))
SAMPLE_BYTES = [p.read_bytes() for p in SAMPLE_PATHS]
SAMPLES = [json.loads(b) for b in SAMPLE_BYTES]
COMPACT = [orjson.dumps(s) for s in SAMPLES]

Item = Event | BadRecord


def read(path: Path | str, fmt: str = "auto", **kw: object) -> list[Item]:
    return list(EventReader([str(path)], fmt, **kw))  # type: ignore[arg-type]


def envelopes(items: list[Item]) -> list[dict[str, object]]:
    assert all(isinstance(i, Event) for i in items), [str(i) for i in items]
    return [i.envelope for i in items if isinstance(i, Event)]


def bad(items: list[Item]) -> list[BadRecord]:
    return [i for i in items if isinstance(i, BadRecord)]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- the five real payloads, in every format ------------------------------------

LAYOUTS: dict[str, Callable[[], bytes]] = {
    "jsonl": lambda: b"".join(c + b"\n" for c in COMPACT),
    "jsonl-crlf-no-final-newline": lambda: b"\r\n".join(COMPACT),
    "array-compact": lambda: b"[" + b",".join(COMPACT) + b"]",
    "array-lines": lambda: b"[\n" + b",\n".join(COMPACT) + b"\n]\n",
    "array-pretty": lambda: json.dumps(SAMPLES, indent=2).encode(),
    "concat-firehose": lambda: b"".join(COMPACT),
    "concat-pretty-as-published": lambda: b"".join(SAMPLE_BYTES),
    "concat-pretty-newlines": lambda: b"\n".join(SAMPLE_BYTES) + b"\n",
    "cloudwatch-iso": lambda: b"".join(
        b"2022-04-06T09:30:45.%03dZ " % i + c + b"\n" for i, c in enumerate(COMPACT)
    ),
    "cloudwatch-epoch-ms": lambda: b"".join(b"1649237445013 " + c + b"\n" for c in COMPACT),
    "cloudwatch-lambda-log": lambda: b"".join(
        b"2022-04-06T09:30:45.013Z\t6f7e0a1c-0000-4000-8000-000000000001\tINFO\t" + c + b"\n"
        for c in COMPACT
    ),
    "sqs-receive-message": lambda: orjson.dumps(
        {
            "Messages": [
                {"MessageId": f"m{i}", "ReceiptHandle": "r", "Body": c.decode()}
                for i, c in enumerate(COMPACT)
            ]
        }
    ),
    "lambda-sqs-records": lambda: orjson.dumps(
        {
            "Records": [
                {"messageId": f"m{i}", "body": c.decode(), "eventSource": "aws:sqs"}
                for i, c in enumerate(COMPACT)
            ]
        }
    ),
    "lambda-sns-records": lambda: orjson.dumps(
        {
            "Records": [
                {"EventSource": "aws:sns", "Sns": {"MessageId": f"m{i}", "Message": c.decode()}}
                for i, c in enumerate(COMPACT)
            ]
        }
    ),
    "sqs-wrapping-sns-per-line": lambda: b"".join(
        orjson.dumps({"messageId": f"m{i}", "body": orjson.dumps({"Message": c.decode()}).decode()})
        + b"\n"
        for i, c in enumerate(COMPACT)
    ),
}


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_the_five_samples_read_the_same_in_every_format(
    tmp_path: Path, layout: str, compress: bool
) -> None:
    data = LAYOUTS[layout]()
    if compress:
        data = gzip.compress(data)
    path = write(tmp_path, "input.bin", data)  # the name says nothing about the format
    assert envelopes(read(path)) == SAMPLES


@pytest.mark.parametrize("path", SAMPLE_PATHS, ids=lambda p: p.name)
def test_a_single_pretty_printed_object(path: Path) -> None:
    items = read(path)
    assert envelopes(items) == [json.loads(path.read_bytes())]
    assert items[0].location == Location(str(path), offset=0)


@pytest.mark.parametrize(
    ("layout", "fmt"),
    [
        ("jsonl", "jsonl"),
        ("array-lines", "json"),
        ("array-pretty", "concat"),
        ("concat-firehose", "concat"),
        ("concat-pretty-as-published", "json"),
        ("cloudwatch-iso", "cloudwatch"),
        ("jsonl", "cloudwatch"),
    ],
)
def test_forced_format(tmp_path: Path, layout: str, fmt: str) -> None:
    path = write(tmp_path, "input", LAYOUTS[layout]())
    assert envelopes(read(path, fmt)) == SAMPLES


def test_forcing_the_wrong_format_gives_bad_records_not_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "pretty.json", SAMPLE_BYTES[0])
    items = read(path, "jsonl")
    assert items and all(isinstance(i, BadRecord) for i in items)
    assert items[0].location == Location(str(path), line=1)


def test_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    path = write(tmp_path, "a.jsonl", COMPACT[0])
    with pytest.raises(UsageError, match="unknown format 'xml'"):
        EventReader([str(path)], "xml")
    assert FORMATS == ("auto", "jsonl", "json", "concat", "cloudwatch")


# -- locations -------------------------------------------------------------------


def test_jsonl_locations_are_line_numbers_counting_blank_lines(tmp_path: Path) -> None:
    data = COMPACT[0] + b"\n\n  \n" + COMPACT[1] + b"\r\n\t\r\n" + COMPACT[2]
    path = write(tmp_path, "events.jsonl", data)
    items = read(path)
    assert [i.location for i in items] == [
        Location(str(path), line=1),
        Location(str(path), line=4),
        Location(str(path), line=6),
    ]


def test_array_locations_are_byte_offsets_of_elements(tmp_path: Path) -> None:
    data = b"[\n  " + COMPACT[0] + b" ,\n  " + COMPACT[1] + b"\n]"
    path = write(tmp_path, "events.json", data)
    first = 4
    second = first + len(COMPACT[0]) + len(b" ,\n  ")
    assert [i.location for i in read(path)] == [
        Location(str(path), offset=first),
        Location(str(path), offset=second),
    ]


def test_concat_locations_are_byte_offsets(tmp_path: Path) -> None:
    data = b"".join(SAMPLE_BYTES)
    path = write(tmp_path, "firehose", data)
    offsets = [sum(len(b) for b in SAMPLE_BYTES[:i]) for i in range(5)]
    assert [i.location.offset for i in read(path)] == offsets


def test_offsets_are_in_the_decompressed_stream(tmp_path: Path) -> None:
    path = write(tmp_path, "firehose.gz", gzip.compress(b"\n".join(COMPACT)))
    offsets = [sum(len(c) + 1 for c in COMPACT[:i]) for i in range(5)]
    items = read(path, "concat")
    assert [i.location.offset for i in items] == offsets


def test_cloudwatch_locations_are_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "export.log", LAYOUTS["cloudwatch-iso"]())
    assert [i.location.line for i in read(path)] == [1, 2, 3, 4, 5]


def test_wrapped_records_carry_their_message_ids(tmp_path: Path) -> None:
    path = write(tmp_path, "batch.json", LAYOUTS["sqs-receive-message"]())
    locations = [i.location for i in read(path)]
    assert locations == [Location(str(path), line=1, record=f"m{i}") for i in range(5)]
    assert str(locations[2]) == f"{path}:1 [m2]"


# -- the Lambda fixtures ------------------------------------------------------------


def test_sqs_fixture_gives_two_bad_records_named_by_message_id() -> None:
    path = FIXTURES / "sqsEvent.json"
    items = read(path)
    assert len(items) == 2 and all(isinstance(i, BadRecord) for i in items)
    first, second = bad(items)
    assert first.location.record == "059f36b4-87a3-44ab-83d2-661975830a7d"
    assert "not JSON" in first.reason
    assert second.location.record == "2e1424d4-f796-459a-8184-9c92662be6da"
    assert "no 'detail'" in second.reason


def test_eventbridge_fixture_is_one_event_with_its_replay_name() -> None:
    (item,) = read(FIXTURES / "eventBridgeEvent.json")
    assert isinstance(item, Event)
    assert item.replay_name == "replay_archive"


# -- bad records -----------------------------------------------------------------


def test_every_kind_of_bad_jsonl_line_and_everything_after_it(tmp_path: Path) -> None:
    lines = [
        COMPACT[0],
        b'{"detail": {"x": 1}',  # 2: unclosed
        b"[1, 2]",  # 3: not an object
        b'{"id": "x"}',  # 4: no detail
        b'{"detail": "\xff\xfe"}',  # 5: bad UTF-8
        b'{"detail": 5}',  # 6: detail not an object
        b"hello world",  # 7
        COMPACT[1],
        b"",
        COMPACT[2],
    ]
    path = write(tmp_path, "mixed.jsonl", b"\n".join(lines) + b"\n")
    items = read(path)
    assert [(i.location.line, type(i).__name__) for i in items] == [
        (1, "Event"),
        (2, "BadRecord"),
        (3, "BadRecord"),
        (4, "BadRecord"),
        (5, "BadRecord"),
        (6, "BadRecord"),
        (7, "BadRecord"),
        (8, "Event"),
        (10, "Event"),
    ]
    reasons = [b.reason for b in bad(items)]
    assert reasons[0].startswith("invalid JSON (unexpected end of data")
    assert reasons[1] == "expected a JSON object, got an array"
    assert "no 'detail'" in reasons[2]
    assert reasons[3] == "invalid UTF-8"
    assert reasons[4] == "'detail' is a number, not an object"
    assert reasons[5].startswith("invalid JSON (unexpected character")


def test_oversize_jsonl_line_is_skipped_and_the_next_one_read(tmp_path: Path) -> None:
    limit = 2000
    big = b'{"detail": {"pad": "' + b"x" * 50_000 + b'"}}'
    exact = b'{"detail":{"p":"' + b"y" * (limit - 19) + b'"}}'
    assert len(exact) == limit
    data = COMPACT[0] + b"\n" + big + b"\r\n" + exact + b"\r\n" + COMPACT[1] + b"\n" + big
    path = write(tmp_path, "big.jsonl", data)
    items = read(path, max_record_bytes=limit)
    assert [(i.location.line, type(i).__name__) for i in items] == [
        (1, "Event"),
        (2, "BadRecord"),
        (3, "Event"),
        (4, "Event"),
        (5, "BadRecord"),
    ]
    assert bad(items)[0].reason == f"record is {len(big)} bytes, over the limit of {limit} bytes"
    assert str(len(big)) in bad(items)[1].reason


def test_oversize_record_in_an_array_and_in_concat(tmp_path: Path) -> None:
    limit = 3000
    big = orjson.dumps({"detail": {"pad": "x" * 10_000, "nested": [{"}": "{"}]}})
    for name, data, fmt in [
        ("a.json", b"[" + COMPACT[0] + b"," + big + b"," + COMPACT[1] + b"]", "auto"),
        ("c.json", COMPACT[0] + big + COMPACT[1], "concat"),
        ("p.json", SAMPLE_BYTES[0] + b"\n" + big + b"\n" + SAMPLE_BYTES[1], "auto"),
    ]:
        path = write(tmp_path, name, data)
        items = read(path, fmt, max_record_bytes=limit)
        assert [type(i).__name__ for i in items] == ["Event", "BadRecord", "Event"], name
        assert envelopes([items[0], items[2]]) == SAMPLES[:2]
        assert (
            bad(items)[0].reason == f"record is {len(big)} bytes, over the limit of {limit} bytes"
        )
        assert bad(items)[0].location.offset == data.index(big)


def test_oversize_with_small_chunks_is_not_buffered(tmp_path: Path) -> None:
    """A record far larger than the limit is skipped chunk by chunk."""
    big = b'{"detail": {"pad": "' + b"x" * (3 << 20) + b'"}}'
    path = write(tmp_path, "huge.json", b"[" + big + b"," + COMPACT[0] + b"]")
    items = read(path, max_record_bytes=1000)
    assert isinstance(items[0], BadRecord) and str(len(big)) in items[0].reason
    assert envelopes(items[1:]) == SAMPLES[:1]


def test_truncated_array_at_end_of_file(tmp_path: Path) -> None:
    data = b"[" + COMPACT[0] + b"," + COMPACT[1][:100]
    path = write(tmp_path, "cut.json", data)
    items = read(path)
    assert envelopes(items[:1]) == SAMPLES[:1]
    assert bad(items) == [
        BadRecord(
            Location(str(path), offset=2 + len(COMPACT[0])),
            "truncated: array or object not closed at end of input",
        )
    ]


def test_array_not_closed_after_a_complete_element(tmp_path: Path) -> None:
    data = b"[" + COMPACT[0] + b",\n"
    path = write(tmp_path, "cut.json", data)
    items = read(path)
    assert envelopes(items[:1]) == SAMPLES[:1]
    assert bad(items) == [
        BadRecord(
            Location(str(path), offset=len(data)), "truncated: array not closed at end of input"
        )
    ]


def test_truncated_pretty_object_at_end_of_file(tmp_path: Path) -> None:
    data = SAMPLE_BYTES[0] + SAMPLE_BYTES[1][:-40]
    path = write(tmp_path, "cut", data)
    items = read(path)
    assert envelopes(items[:1]) == SAMPLES[:1]
    assert [(b.location.offset, b.reason) for b in bad(items)] == [
        (len(SAMPLE_BYTES[0]), "truncated: array or object not closed at end of input")
    ]


def test_a_truncated_record_mid_stream_does_not_swallow_the_next_ones(tmp_path: Path) -> None:
    cut = COMPACT[0][:300]
    data = COMPACT[1] + b"\n" + cut + b"\n" + COMPACT[2] + b"\n" + COMPACT[3] + COMPACT[4]
    path = write(tmp_path, "firehose", data)
    items = read(path, "concat")
    assert [type(i).__name__ for i in items] == ["Event", "BadRecord", "Event", "Event", "Event"]
    assert envelopes([items[0], *items[2:]]) == [SAMPLES[1], *SAMPLES[2:]]
    assert items[1].location.offset == len(COMPACT[1]) + 1
    assert "truncated" in bad(items)[0].reason


def numbered(n: int) -> bytes:
    """A small compact event, distinct per ``n``."""
    return orjson.dumps({"id": f"e{n}", "detail": {"n": n, "pad": "x" * 210}})


def test_cut_off_first_line_of_json_lines_loses_nothing_after_it(tmp_path: Path) -> None:
    lines = [numbered(n) for n in range(20_001)]
    data = lines[0][:60] + b"\n" + b"\n".join(lines[1:]) + b"\n"
    assert len(data) > 5_000_000
    path = write(tmp_path, "first-cut.jsonl", data)
    # Detection sees a complete second line: JSON Lines, line numbers kept.
    items = read(path)
    assert len(items) == 20_001
    assert bad(items) == [items[0]]
    assert items[0].location == Location(str(path), line=1)
    assert items[0].reason.startswith("invalid JSON (unexpected control character")
    assert [i.location.line for i in items[1:]] == list(range(2, 20_002))
    assert [e["id"] for e in envelopes(items[1:])] == [f"e{n}" for n in range(1, 20_001)]
    # Read as back-to-back objects, the scanner resumes at the next line.
    items = read(path, "concat")
    assert len(items) == 20_001
    assert bad(items) == [
        BadRecord(
            Location(str(path), offset=0),
            "truncated: array or object not closed before the next record",
        )
    ]
    assert items[1].location == Location(str(path), offset=61)
    assert [e["id"] for e in envelopes(items[1:])] == [f"e{n}" for n in range(1, 20_001)]


@pytest.mark.parametrize("cut_after_brace", [False, True])
def test_cut_off_record_in_firehose_objects_loses_nothing_after_it(
    tmp_path: Path, cut_after_brace: bool
) -> None:
    records = [numbered(n) for n in range(20_000)]
    whole = records[99]
    # Cut inside a string, or right after the inner object closes.
    records[99] = whole[: whole.rindex(b"}")] if cut_after_brace else whole[:70]
    data = b"".join(records)
    path = write(tmp_path, "firehose", data)
    items = read(path)
    assert bad(items) == [
        BadRecord(
            Location(str(path), offset=sum(len(r) for r in records[:99])),
            "truncated: array or object not closed before the next record",
        )
    ]
    # The record glued to the cut one starts neither a line nor after a '}':
    # it is part of the bad record unless the cut ends with '}'.
    lost = set() if cut_after_brace else {100}
    expected = [f"e{n}" for n in range(20_000) if n != 99 and n not in lost]
    assert [e["id"] for e in envelopes([i for i in items if isinstance(i, Event)])] == expected
    assert len(items) == len(expected) + 1
    assert items[100].location.offset == data.index(b'{"id":"e%d"' % (100 + len(lost)))


def test_cut_off_record_over_the_limit_is_reported_and_reading_resumes(tmp_path: Path) -> None:
    limit = 1000
    big = orjson.dumps({"detail": {"pad": "x" * 5000}})  # glued to the cut record
    after = [numbered(n) for n in range(3)]
    data = COMPACT[0] + b"\n" + COMPACT[1][:100] + big + b"\n" + b"\n".join(after) + b"\n"
    path = write(tmp_path, "over.json", data)
    items = read(path, "concat", max_record_bytes=limit)
    size = len(COMPACT[1][:100] + big) + 1
    assert bad(items) == [
        BadRecord(
            Location(str(path), offset=len(COMPACT[0]) + 1),
            f"record is {size} bytes, over the limit of {limit} bytes"
            " (not closed before the next record)",
        )
    ]
    assert envelopes([items[0]]) == SAMPLES[:1]
    assert [e["id"] for e in envelopes(items[2:])] == ["e0", "e1", "e2"]


def test_resuming_after_a_huge_open_record_keeps_memory_bounded() -> None:
    """Points that do not start a record are passed without holding the bytes."""
    from gcdedup.sources.framing import CHUNK
    from gcdedup.sources.splitter import JsonSplitter

    limit = 1000
    cut = b'{"detail": {"list": [\n' + b'{"a": 1},\n' * 150_000  # never closed, 1.5 MB
    data = cut + b"\n".join(numbered(n) for n in range(3)) + b"\n"
    stream = io.BytesIO(data)
    sizes: list[int] = []

    def read_some(n: int) -> bytes:
        sizes.append(len(scanner._buf))
        return stream.read(min(n, 64 * 1024))

    scanner = JsonSplitter(read_some, limit)
    items = list(scanner)
    assert max(sizes) <= limit + CHUNK
    assert items[0] == (
        0,
        None,
        f"record is {len(cut)} bytes, over the limit of {limit} bytes"
        " (not closed before the next record)",
    )
    assert [value["id"] for _, value, _ in items[1:]] == ["e0", "e1", "e2"]


def test_pretty_printed_objects_are_still_detected_as_such(tmp_path: Path) -> None:
    for data in (SAMPLE_BYTES[0], b"{\n}\n" + SAMPLE_BYTES[0], b"{\n\n" + b'  "detail": 1\n}'):
        path = write(tmp_path, "pretty", data)
        items = list(EventReader([str(path)]))
        assert all(i.location.offset is not None for i in items), data


def test_junk_between_concatenated_objects(tmp_path: Path) -> None:
    data = COMPACT[0] + b"\nGARBAGE here\n" + COMPACT[1] + b" 42 " + COMPACT[2] + b"}" + COMPACT[3]
    path = write(tmp_path, "firehose", data)
    items = read(path, "concat")
    assert [type(i).__name__ for i in items] == [
        "Event",
        "BadRecord",
        "Event",
        "BadRecord",
        "Event",
        "BadRecord",
        "Event",
    ]
    junk, number, brace = bad(items)
    assert junk.location.offset == len(COMPACT[0]) + 1
    assert junk.reason.startswith("invalid JSON (")
    assert number.reason == "expected a JSON object, got a number"
    assert brace.location.offset == data.index(b"}" + COMPACT[3])
    assert envelopes([i for i in items if isinstance(i, Event)]) == SAMPLES[:4]


def test_balanced_but_invalid_object_in_concat_stream(tmp_path: Path) -> None:
    data = COMPACT[0] + b'{"detail": {"a": }}' + COMPACT[1]
    path = write(tmp_path, "firehose", data)
    items = read(path, "concat")
    assert [type(i).__name__ for i in items] == ["Event", "BadRecord", "Event"]
    assert items[1].location.offset == len(COMPACT[0])
    assert bad(items)[0].reason.startswith("invalid JSON (")


def test_strings_with_brackets_and_escapes_do_not_confuse_the_scanner(tmp_path: Path) -> None:
    tricky = {"detail": {"s": 'a "}{" \\ ] [ {', "t": "\\", "u": '\\"}'}, "id": "t"}
    pretty = json.dumps(tricky, indent=3).encode()
    data = b"[" + pretty + b",\n" + pretty + b"]" + pretty + pretty
    path = write(tmp_path, "tricky", data)
    items = read(path)
    assert envelopes(items) == [tricky] * 4


def test_array_elements_that_are_not_objects(tmp_path: Path) -> None:
    path = write(tmp_path, "a.json", b'[1, "two", null, [3], ' + COMPACT[0] + b", tru]")
    items = read(path)
    reasons = [i.reason if isinstance(i, BadRecord) else "event" for i in items]
    assert reasons == [
        "expected a JSON object, got a number",
        "expected a JSON object, got a string",
        "expected a JSON object, got null",
        "expected a JSON object, got an array",
        "event",
        reasons[5],
    ]
    assert reasons[5].startswith("invalid JSON (")
    assert [i.location.offset for i in items] == [1, 4, 11, 17, 22, 24 + len(COMPACT[0])]


def test_invalid_utf8_in_concat(tmp_path: Path) -> None:
    data = COMPACT[0] + b'{"detail": {"x": "\xc3\x28"}}' + COMPACT[1]
    items = read(write(tmp_path, "f", data), "concat")
    assert [i.reason for i in bad(items)] == ["invalid UTF-8"]
    assert len(items) == 3


def test_cloudwatch_lines_without_json(tmp_path: Path) -> None:
    data = (
        b"2022-04-06T09:30:45.013Z START RequestId: abc Version: $LATEST\n"
        b"2022-04-06T09:30:45.014Z " + COMPACT[0] + b"\n"
        b"2022-04-06T09:30:45.015Z some plain text\n"
        b"\n"
        b"2022-04-06T09:30:45.016Z {broken\n"
        b"2022-04-06T09:30:45.017Z END RequestId: abc\n"
        b"2022-04-06T09:30:45.018Z REPORT RequestId: abc Duration: 1 ms\n"
        b"2022-04-06T09:30:45.019Z " + COMPACT[1] + b"\n"
    )
    items = read(write(tmp_path, "lambda.log", data))
    assert [(i.location.line, type(i).__name__) for i in items] == [
        (2, "Event"),
        (3, "BadRecord"),
        (5, "BadRecord"),
        (8, "Event"),
    ]
    assert bad(items)[0].reason == "no JSON object on the line"
    assert bad(items)[1].reason.startswith("invalid JSON (")


def test_empty_and_blank_files_yield_nothing(tmp_path: Path) -> None:
    for fmt in FORMATS:
        assert read(write(tmp_path, "empty", b""), fmt) == []
        assert read(write(tmp_path, "blank", b"\n \r\n\t\n"), fmt) == []
        assert read(write(tmp_path, "empty.gz", gzip.compress(b"")), fmt) == []


def test_a_utf8_bom_is_ignored(tmp_path: Path) -> None:
    bom = b"\xef\xbb\xbf"
    assert envelopes(read(write(tmp_path, "a", bom + b"\n".join(COMPACT)))) == SAMPLES
    assert envelopes(read(write(tmp_path, "b", bom + b"".join(SAMPLE_BYTES)))) == SAMPLES


# -- gzip and read errors ----------------------------------------------------------


def test_concatenated_gzip_members(tmp_path: Path) -> None:
    data = gzip.compress(b"\n".join(COMPACT[:2]) + b"\n") + gzip.compress(b"\n".join(COMPACT[2:]))
    assert envelopes(read(write(tmp_path, "multi.gz", data))) == SAMPLES


def _many_lines(n: int) -> bytes:
    return b"".join(
        orjson.dumps({"id": str(i), "detail": {"n": i, "pad": os.urandom(40).hex()}}) + b"\n"
        for i in range(n)
    )


def test_truncated_gzip_yields_what_came_before_then_a_bad_record(tmp_path: Path) -> None:
    data = gzip.compress(_many_lines(5000))
    cut = write(tmp_path, "a-cut.gz", data[: len(data) // 2])
    good = write(tmp_path, "b-good.jsonl", COMPACT[0] + b"\n")
    items = list(EventReader([str(cut), str(good)]))
    events = [i for i in items if isinstance(i, Event)]
    (problem,) = bad(items)
    assert problem.reason.startswith("truncated gzip stream")
    assert problem.location.source == str(cut)
    # Everything before the problem is there, in order, and the next file is read.
    ids = [e.id for e in events[:-1]]
    assert ids == [str(i) for i in range(len(ids))]
    assert len(ids) > 1000
    assert problem.location.line == len(ids) + 1
    assert events[-1].envelope == SAMPLES[0]
    assert items[-1] is events[-1]


def test_corrupt_gzip_mid_file(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(_many_lines(5000), compresslevel=1))
    middle = len(data) // 2
    data[middle : middle + 64] = b"\x00" * 64
    path = write(tmp_path, "corrupt.jsonl.gz", bytes(data))
    items = read(path)
    problems = bad(items)
    assert problems, "the corruption must be reported"
    assert "gzip" in problems[-1].reason or "invalid JSON" in problems[-1].reason
    ids = [i.id for i in items if isinstance(i, Event)]
    assert len(ids) > 1000
    assert ids[:1000] == [str(i) for i in range(1000)]


def test_gzip_with_trailing_garbage(tmp_path: Path) -> None:
    data = gzip.compress(b"\n".join(COMPACT)) + b"this is not gzip"
    items = read(write(tmp_path, "x.gz", data))
    assert envelopes(items[:5]) == SAMPLES
    assert len(items) == 6 and isinstance(items[5], BadRecord)
    assert "gzip" in items[5].reason


def test_a_file_that_disappears_is_a_bad_record_and_reading_goes_on(tmp_path: Path) -> None:
    gone = write(tmp_path, "a.jsonl", COMPACT[0])
    kept = write(tmp_path, "b.jsonl", COMPACT[1])
    reader = EventReader([str(tmp_path)])
    gone.unlink()
    items = list(reader)
    assert items[0] == BadRecord(Location(str(gone)), "cannot open: No such file or directory")
    assert envelopes(items[1:]) == [SAMPLES[1]]
    assert items[1].location.source == str(kept)


def test_a_stream_that_fails_mid_read(tmp_path: Path) -> None:
    class Failing(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)
            self._calls = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            self._calls += 1
            if self._calls > 1:
                raise OSError(5, "Input/output error")
            return self._data.readinto(memoryview(buffer)[:100])

    reason = "read error (Input/output error); the rest of the file is skipped"
    data = b'{"detail": {}}\n{"det'
    items = list(EventReader(["-"], stdin=Failing(data)))  # type: ignore[arg-type]
    assert items == [
        Event({"detail": {}}, Location("-", line=1)),
        BadRecord(Location("-", line=2), reason),
    ]
    # While sniffing the format, after two blank lines.
    items = list(EventReader(["-"], stdin=Failing(b"\n\n")))  # type: ignore[arg-type]
    assert items == [BadRecord(Location("-", line=3), reason)]
    # In the scanner.
    items = list(EventReader(["-"], "concat", stdin=Failing(b'  {"detail": {}} {"d')))  # type: ignore[arg-type]
    assert items == [
        Event({"detail": {}}, Location("-", offset=2)),
        BadRecord(Location("-", offset=20), reason),
    ]


# -- paths --------------------------------------------------------------------------


def test_directories_are_walked_recursively_sorted_and_filtered(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "deep").mkdir()
    (tmp_path / ".hidden").mkdir()
    files = {
        "a.jsonl": COMPACT[0],
        "b/deep/z.json": SAMPLE_BYTES[1],
        "b/c.ndjson": COMPACT[2],
        "c.gz": gzip.compress(COMPACT[3]),
        "d.log": b"2022-04-06T09:30:45.013Z " + COMPACT[4],
        "e.txt": COMPACT[0],
        "notes.md": b"# not read",
        "data.csv": b"a,b",
        ".secret.json": COMPACT[1],
        ".hidden/x.json": COMPACT[1],
    }
    for name, data in files.items():
        write(tmp_path, name, data)
    expected = ["a.jsonl", "b/c.ndjson", "b/deep/z.json", "c.gz", "d.log", "e.txt"]
    assert expand_paths([str(tmp_path)]) == [str(tmp_path / n) for n in expected]
    reader = EventReader([str(tmp_path)])
    assert reader.files == [str(tmp_path / n) for n in expected]
    assert envelopes(list(reader)) == [SAMPLES[i] for i in (0, 2, 1, 3, 4, 0)]


def test_globs_and_explicit_files_keep_the_given_order(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for i, name in enumerate(["x1.jsonl", "x2.jsonl", "sub/x3.jsonl", "y.json"]):
        write(tmp_path, name, COMPACT[i])
    assert expand_paths([str(tmp_path / "y.json"), str(tmp_path / "*.jsonl")]) == [
        str(tmp_path / "y.json"),
        str(tmp_path / "x1.jsonl"),
        str(tmp_path / "x2.jsonl"),
    ]
    assert expand_paths([str(tmp_path / "**" / "x*.jsonl")]) == [
        str(tmp_path / "sub" / "x3.jsonl"),
        str(tmp_path / "x1.jsonl"),
        str(tmp_path / "x2.jsonl"),
    ]
    # An explicit file is read whatever its name.
    write(tmp_path, "events.data", COMPACT[0])
    assert expand_paths([str(tmp_path / "events.data")]) == [str(tmp_path / "events.data")]


def test_missing_paths_fail_eagerly(tmp_path: Path) -> None:
    write(tmp_path, "a.jsonl", COMPACT[0])
    missing = str(tmp_path / "nope.jsonl")
    with pytest.raises(UsageError, match=f"^no such file or directory: {re.escape(missing)}$"):
        EventReader([str(tmp_path / "a.jsonl"), missing])
    with pytest.raises(UsageError, match=r"no such file or directory: .*nothing"):
        read_events([str(tmp_path / "*.gz")])


def test_stdin_given_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"\n".join(COMPACT)
    reader = EventReader(["-"], stdin=io.BytesIO(gzip.compress(data)))
    assert reader.files == ["-"]
    assert reader.total_bytes is None
    items = list(reader)
    assert envelopes(items) == SAMPLES
    assert items[0].location == Location("-", line=1)

    class FakeStdin:
        buffer = io.BytesIO(data)

    monkeypatch.setattr("sys.stdin", FakeStdin)
    assert envelopes(list(read_events(["-"]))) == SAMPLES


def test_stdin_mixed_with_files(tmp_path: Path) -> None:
    path = write(tmp_path, "a.jsonl", COMPACT[0])
    reader = EventReader([str(path), "-"], stdin=io.BytesIO(COMPACT[1]))
    assert reader.total_bytes is None
    assert envelopes(list(reader)) == SAMPLES[:2]


# -- progress --------------------------------------------------------------------------


def test_bytes_read_reaches_total_bytes(tmp_path: Path) -> None:
    lines = _many_lines(20_000)
    plain = write(tmp_path, "a.jsonl", lines)
    packed = write(tmp_path, "b.jsonl.gz", gzip.compress(lines))
    reader = EventReader([str(plain), str(packed)])
    assert reader.total_bytes == plain.stat().st_size + packed.stat().st_size
    assert reader.bytes_read == 0
    seen = []
    count = 0
    for _ in reader:
        count += 1
        if count % 5000 == 0:
            seen.append(reader.bytes_read)
    assert count == 40_000
    assert reader.bytes_read == reader.total_bytes
    assert seen == sorted(seen) and 0 < seen[0] < reader.total_bytes


@pytest.mark.parametrize("name", ["firehose", "array.json.gz"])
def test_bytes_read_for_scanned_formats(tmp_path: Path, name: str) -> None:
    data = b"[" + b",".join(COMPACT) + b"]" if name.endswith(".gz") else b"".join(COMPACT)
    if name.endswith(".gz"):
        data = gzip.compress(data)
    path = write(tmp_path, name, data)
    reader = EventReader([str(path)])
    assert len(envelopes(list(reader))) == 5
    assert reader.bytes_read == reader.total_bytes == len(data)


def test_a_text_file_starting_with_the_gzip_magic_is_still_read_as_text(tmp_path: Path) -> None:
    event = {"id": "e1", "detail-type": "t", "detail": {"topicName": "t", "eventBody": {}}}
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b"\x1f\x8b\n" + orjson.dumps(event) + b"\n")
    records = list(EventReader([str(path)]))
    assert [type(r) for r in records] == [BadRecord, Event]
    assert records[0].location == Location(str(path), line=1)
    assert records[1].location == Location(str(path), line=2)


def test_read_ahead_is_for_local_files_on_more_than_one_core(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gcdedup.sources import keyed

    monkeypatch.setattr(keyed, "_cores", lambda: 2)
    assert keyed.can_read_ahead(["a.jsonl", "events/"])
    assert not keyed.can_read_ahead(["a.jsonl", "-"])
    assert not keyed.can_read_ahead(["s3://bucket/prefix"])
    monkeypatch.setattr(keyed, "_cores", lambda: 1)
    assert not keyed.can_read_ahead(["a.jsonl"])


def test_process_reads_ahead_only_when_no_payload_is_needed() -> None:
    from gcdedup.cli.process import _read_ahead_keys
    from gcdedup.outcomes import Mode
    from gcdedup.settings import Settings

    def reads_ahead(mode: Mode, **given: object) -> bool:
        settings = Settings.resolve(env={}, store_url="memory://", **given)
        return _read_ahead_keys(settings, mode) is not None

    assert reads_ahead(Mode.PROCESS)
    assert reads_ahead(Mode.CHECK, handler="mod:fn")  # check runs no handler
    assert not reads_ahead(Mode.PROCESS, handler="mod:fn")
    assert not reads_ahead(Mode.PROCESS, genesys=True)  # the Genesys handler
    assert not reads_ahead(Mode.PROCESS, on_unkeyable="process")
    assert not reads_ahead(Mode.SEED, read_ahead="off")
