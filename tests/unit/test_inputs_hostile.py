"""Hostile inputs: ``stats`` and ``process`` read every record the same way.

One decoding contract (:func:`gcdedup.events.parse`) decides what a line is; these
tests hold both commands to it on the inputs a fault campaign found them to treat
differently, and on file-system oddities (links, loops, FIFOs, unreadable
directories).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from gcdedup.analysis import AnalysisOptions, analyze
from gcdedup.cli.app import app
from gcdedup.events import MAX_RECORD_BYTES, BadJSON, Event, Location, parse
from gcdedup.keys import KeyMaker
from gcdedup.pipeline import process
from gcdedup.settings import Settings
from gcdedup.sources import expand_paths, read_events
from gcdedup.store import open_store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "genesys"
CONVERSATION = orjson.loads((FIXTURES / "03_detail_customer_end.json").read_bytes())
AUDIT = orjson.loads((FIXTURES / "01_user_presence_audit.json").read_bytes())
LINE = orjson.dumps(CONVERSATION)
#: A topic keyed by the digest of its body (no business id).
CONTENT = orjson.dumps(dict(AUDIT, detail=dict(AUDIT["detail"], topicName="v2.users.x.presence")))
EVENT_TIME = b'"eventTime":1649237504949'


def sub(old: bytes, new: bytes, line: bytes = LINE) -> bytes:
    assert old in line
    return line.replace(old, new, 1)


def extra(value: bytes, line: bytes = LINE) -> bytes:
    """``line`` with a field ``x`` of raw JSON ``value`` in the eventBody."""
    return sub(b'"mediaType":', b'"x":' + value + b',"mediaType":', line)


#: (name, line, an event?) -- the decided outcome of each hostile line.
HOSTILE: list[tuple[str, bytes, bool]] = [
    ("deep 20,000 levels", extra(b"[" * 20_000 + b"]" * 20_000), False),
    ("deep 1,000 levels", extra(b"[" * 1_000 + b"]" * 1_000), True),
    (
        "deep 1,000 levels in a body keyed by its digest",
        CONTENT.replace(
            b'"eventBody":{', b'"eventBody":{"x":' + b"[" * 1_000 + b"]" * 1_000 + b",", 1
        ),
        True,
    ),
    # The envelope, detail and eventBody are three levels of the 1,024.
    ("deep 1,024 levels", extra(b"[" * 1_021 + b"]" * 1_021), True),
    ("deep 1,025 levels", extra(b"[" * 1_022 + b"]" * 1_022), False),
    ("2**64 in eventTime", sub(EVENT_TIME, b'"eventTime":18446744073709551616'), True),
    ("2**64+1 in eventTime", sub(EVENT_TIME, b'"eventTime":18446744073709551617'), True),
    ("-2**63-1 in eventTime", sub(EVENT_TIME, b'"eventTime":-9223372036854775809'), True),
    ("big int elsewhere", extra(b"123456789012345678901234567890"), True),
    ("4,301-digit int", extra(b"1" * 4_301), False),
    ("1e400 in eventTime", sub(EVENT_TIME, b'"eventTime":1e400'), True),
    ("1e400 elsewhere", extra(b"1e400"), True),
    ("-1e400 in the envelope", sub(b'"version":"0"', b'"version":-1e400'), True),
    ("NaN", extra(b"NaN"), False),
    ("Infinity", extra(b"-Infinity"), False),
    ("invalid UTF-8", extra(b'"\xff"'), False),
    ("duplicate key", extra(b'"a","eventTime":"other"'), True),
    ("raw NUL", extra(b'"a\x00b"'), False),
    ("escaped NUL", extra(b'"a\\u0000b"'), True),
    ("lone surrogate", extra(b'"\\ud800"'), False),
    (
        "lone surrogate in a key field",
        sub(b'"conversationId":"', b'"conversationId":"\\udc00'),
        False,
    ),
    ("2 MB string", extra(b'"' + b"a" * 2_000_000 + b'"'), False),
    ("truncated", LINE[: len(LINE) // 2], False),
]


def process_counts(paths: list[str]) -> dict[str, int]:
    settings = Settings.resolve(env={}, store_url="memory://", run_id="run-1")
    doc = process(read_events(paths), open_store("memory://"), settings).to_dict()
    return {
        "events": doc["events"],
        "bad_records": doc["bad_records"],
        "unique": doc["processed"],
        # stats counts a same-key copy with another payload as a duplicate of kind
        # "conflict"; process reports it apart, as a conflict
        "duplicates": doc["duplicates"] + doc["conflicts"],
    }


def stats_counts(paths: list[str], **options: Any) -> dict[str, int]:
    doc = analyze(paths, AnalysisOptions(jobs=1, **options)).to_dict()
    counts = {k: doc[k] for k in ("events", "bad_records", "unique")}
    counts["duplicates"] = doc["duplicates"] + doc["conflicts"]  # every repeat, as process
    return counts


def stats_cli(paths: list[str]) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["stats", *paths, "--json"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    doc: dict[str, Any] = orjson.loads(result.stdout)
    return doc


def test_each_hostile_line_has_its_decided_outcome() -> None:
    for name, line, is_event in HOSTILE:
        if len(line) > MAX_RECORD_BYTES:  # the readers refuse it before parsing
            assert not is_event
            continue
        try:
            value = parse(line)
        except BadJSON:
            assert not is_event, name
        else:
            assert is_event and type(value) is dict, name


def test_a_hostile_stream_reads_the_same_in_stats_and_process(tmp_path: Path) -> None:
    # Each hostile line between plain ones, twice (so every event has a duplicate),
    # first on the fast path (the plain first line makes the file plain JSON Lines).
    lines = [LINE]
    for _, line, _ in HOSTILE:
        lines += [line, orjson.dumps(AUDIT), line]
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    events = 1 + len(HOSTILE) + 2 * sum(1 for _, _, ok in HOSTILE if ok)
    bad = 2 * sum(1 for _, _, ok in HOSTILE if not ok)
    counts = process_counts([str(path)])
    assert counts["events"] == events
    assert counts["bad_records"] == bad
    assert stats_counts([str(path)]) == counts
    doc = stats_cli([str(path)])
    doc["duplicates"] += doc["conflicts"]  # every repeat, as stats_counts counts them
    assert {k: doc[k] for k in counts} == counts
    # The same reasons, record by record.
    by_process = {
        (str(b.location), b.reason) for b in read_events([str(path)]) if not isinstance(b, Event)
    }
    assert len(by_process) == bad
    assert doc["bad"]
    assert {(b["location"], b["reason"]) for b in doc["bad"]} <= by_process


@pytest.mark.parametrize("name,line,is_event", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_one_hostile_line_alone(tmp_path: Path, name: str, line: bytes, is_event: bool) -> None:
    path = tmp_path / "one.jsonl"
    path.write_bytes(LINE + b"\n" + line + b"\n" + line + b"\n")
    counts = process_counts([str(path)])
    assert counts["bad_records"] == (0 if is_event else 2), name
    assert stats_counts([str(path)]) == counts, name


def _with_event_time(value: bytes) -> bytes:
    return sub(EVENT_TIME, b'"eventTime":' + value)


def test_integers_past_64_bits_are_exact_in_keys(tmp_path: Path) -> None:
    a, b = b"18446744073709551616", b"18446744073709551617"
    maker = KeyMaker.create()
    key_a, key_b = (maker(Event(parse(_with_event_time(v)), Location("x"))) for v in (a, b))
    assert key_a != key_b
    assert key_a.endswith("#18446744073709551616")
    # Out of the key fields: a topic keyed by the digest of its body.
    plain = CONTENT
    lines = [_with_event_time(v) for v in (a, b, a)]
    lines += [
        plain.replace(b'"eventBody":{', b'"eventBody":{"n":' + v + b",", 1) for v in (a, b, a)
    ]
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    counts = process_counts([str(path)])
    assert counts == {"events": 6, "bad_records": 0, "unique": 4, "duplicates": 2}
    assert stats_counts([str(path)]) == counts


# -- directories, links, FIFOs -----------------------------------------------------


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    (root / "a.jsonl").write_bytes(LINE + b"\n" + orjson.dumps(AUDIT) + b"\n")
    (root / "sub" / "b.jsonl").write_bytes(LINE + b"\n")
    return root


def test_symlink_loops_are_walked_once(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "sub" / "up").symlink_to("..")
    (root / "sub" / "self").symlink_to(".")
    (root / "again.jsonl").symlink_to("a.jsonl")
    expected = [str(root / "a.jsonl"), str(root / "sub" / "b.jsonl")]
    assert expand_paths([str(root)]) == expected
    # A glob through two loops ends, and reads each file once.
    assert sorted(expand_paths([str(root / "**" / "*.jsonl")])) == expected
    counts = process_counts([str(root)])
    assert counts == {"events": 3, "bad_records": 0, "unique": 2, "duplicates": 1}
    assert stats_counts([str(root)]) == counts


def test_a_dangling_link_is_a_bad_input_in_both(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "gone.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    for paths in ([str(root)], [str(root / "a.jsonl"), str(root / "gone.jsonl")]):
        counts = process_counts(paths)
        assert counts["bad_records"] == 1
        assert stats_counts(paths) == counts
        doc = stats_cli(paths)
        assert doc["bad"][0]["location"] == str(root / "gone.jsonl")
        assert "dangling symbolic link" in doc["bad"][0]["reason"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_fifo_in_a_directory_is_reported_not_opened(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    os.mkfifo(root / "pipe.jsonl")
    # In a child with a timeout: opening the FIFO would block forever.
    code = (
        "import sys, json; sys.path.insert(0, sys.argv[2]);"
        "from test_inputs_hostile import process_counts, stats_counts;"
        "print(json.dumps([process_counts([sys.argv[1]]), stats_counts([sys.argv[1]])]))"
    )
    here = str(Path(__file__).resolve().parent)
    done = subprocess.run(
        [sys.executable, "-c", code, str(root), here], capture_output=True, timeout=60, check=True
    )
    by_process, by_stats = orjson.loads(done.stdout)
    assert by_process == by_stats == {"events": 3, "bad_records": 1, "unique": 2, "duplicates": 1}
    assert [str(p) for p in expand_paths([str(root)])][1] == str(root / "pipe.jsonl")
    assert "FIFO" in expand_paths([str(root)])[1].reason  # type: ignore[attr-defined]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_fifo_named_on_the_command_line_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "events.pipe"
    os.mkfifo(fifo)

    def feed() -> None:
        with fifo.open("wb") as fh:
            fh.write(LINE + b"\n" + LINE + b"\n")

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        assert stats_counts([str(fifo)])["duplicates"] == 1
    finally:
        writer.join(timeout=10)


def test_an_unreadable_directory_is_a_bad_input_in_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, where permissions do not stop a read: make listing that one
    # directory fail the way it fails for other users (EACCES).
    root = _tree(tmp_path)
    locked = root / "locked"
    locked.mkdir()
    (locked / "c.jsonl").write_bytes(LINE + b"\n")
    scandir = os.scandir

    def refuse(path: Any = ".") -> Any:
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refuse)
    counts = process_counts([str(root)])
    assert counts == {"events": 3, "bad_records": 1, "unique": 2, "duplicates": 1}
    assert stats_counts([str(root)]) == counts
    doc = stats_cli([str(root)])
    assert doc["bad"] == [
        {"location": str(locked), "reason": "cannot read directory: Permission denied"}
    ]


# -- container documents and arrays ------------------------------------------------


def test_a_container_of_large_messages_is_read_message_by_message(tmp_path: Path) -> None:
    # Five SQS messages of 240 KB each: 1.2 MB in all, over the 1 MB record limit
    # that applies to each event, not to the document that carries them.
    messages = []
    for i in range(5):
        body = dict(CONVERSATION["detail"]["eventBody"], conversationId=f"c{i}", pad="x" * 240_000)
        event = dict(CONVERSATION, detail=dict(CONVERSATION["detail"], eventBody=body))
        messages.append(
            {"MessageId": f"m{i}", "ReceiptHandle": "r", "Body": orjson.dumps(event).decode()}
        )
    for name, data in [
        ("pretty.json", orjson.dumps({"Messages": messages}, option=orjson.OPT_INDENT_2)),
        ("line.json", orjson.dumps({"Messages": messages, "ResponseMetadata": {"RequestId": "x"}})),
        (
            "records.json",
            orjson.dumps({"Records": [dict(m, body=m.pop("Body")) for m in messages]}),
        ),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        assert path.stat().st_size > MAX_RECORD_BYTES
        records = list(read_events([str(path)]))
        assert [r.location.record for r in records] == [f"m{i}" for i in range(5)], name
        assert all(isinstance(r, Event) for r in records), name
        counts = process_counts([str(path)])
        assert counts == {"events": 5, "bad_records": 0, "unique": 5, "duplicates": 0}, name
        assert stats_counts([str(path)]) == counts


def test_a_damaged_array_element_loses_only_itself(tmp_path: Path) -> None:
    elements = [orjson.dumps(AUDIT), LINE, CONTENT]
    damaged = [elements[0], elements[1][:300], elements[2], elements[1]]  # cut short
    path = tmp_path / "array.json"
    path.write_bytes(b"[" + b",".join(damaged) + b"]")  # one line
    records = list(read_events([str(path)]))
    assert [type(r) for r in records] == [Event, type(records[1]), Event, Event]
    assert not isinstance(records[1], Event)
    assert records[1].location.offset == 1 + len(elements[0]) + 1
    assert records[1].reason.startswith("truncated")
    counts = process_counts([str(path)])
    assert counts == {"events": 3, "bad_records": 1, "unique": 3, "duplicates": 0}
    assert stats_counts([str(path)]) == counts
    # Inside a container too.
    path.write_bytes(b'{"Records":[' + b",".join(damaged) + b"]}")
    assert [isinstance(r, Event) for r in read_events([str(path)])] == [True, False, True, True]
