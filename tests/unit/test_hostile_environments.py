"""Hostile environments: the decoding rules and outputs hold the same on every Python.

Nesting past 1,024 levels, file names that are not UTF-8, runs of blank lines and
non-finite numbers: each is decided by gcdedup, not by a library or interpreter
version, and each is held here to one exact outcome.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gcdedup.analysis import AnalysisOptions, analyze
from gcdedup.analysis.decode import decode
from gcdedup.events import DEEP_REASON, MAX_DEPTH, BadJSON, BadRecord, parse, too_deep
from gcdedup.keys import _dumps, canonical_json, content_digest
from gcdedup.sources import read_events

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "genesys"
CONVERSATION = orjson.loads((FIXTURES / "03_detail_customer_end.json").read_bytes())
LINE = orjson.dumps(CONVERSATION)


def nested(levels: int, *, text: bytes = b"") -> bytes:
    """The conversation event with a field nested so the record has ``levels`` levels
    (the envelope, ``detail`` and ``eventBody`` are three of them)."""
    inner = levels - 3
    value = b"[" * inner + text + b"]" * inner
    return LINE.replace(b'"mediaType":', b'"x":' + value + b',"mediaType":', 1)


# -- nesting ---------------------------------------------------------------------


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 1_500, 2_000, 3_000, 20_000])
def test_deeper_than_the_limit_is_one_reason_everywhere(tmp_path: Path, levels: int) -> None:
    line = nested(levels)
    with pytest.raises(BadJSON) as raised:
        parse(line)
    assert raised.value.reason == DEEP_REASON
    assert decode(line) is None  # the stats fast path leaves it to the general path
    path = tmp_path / "deep.jsonl"
    path.write_bytes(LINE + b"\n" + line + b"\n" + LINE + b"\n")
    bad = [r for r in read_events([str(path)]) if isinstance(r, BadRecord)]
    assert [(r.location.line, r.reason) for r in bad] == [(2, DEEP_REASON)]
    doc = analyze([str(path)], AnalysisOptions(jobs=1)).to_dict()
    assert (doc["events"], doc["bad_records"]) == (2, 1)
    assert [b["reason"] for b in doc["bad"]] == [DEEP_REASON]
    # The same in an array (the JSON stream splitter) and in an SQS body string.
    array = tmp_path / "deep.json"
    array.write_bytes(b"[" + LINE + b",\n" + line + b"]")
    bad = [r for r in read_events([str(array)]) if isinstance(r, BadRecord)]
    assert [r.reason for r in bad] == [DEEP_REASON]
    sqs = tmp_path / "sqs.json"
    sqs.write_bytes(orjson.dumps({"Records": [{"messageId": "m1", "body": line.decode()}]}))
    bad = [r for r in read_events([str(sqs)]) if isinstance(r, BadRecord)]
    assert [r.reason for r in bad] == [f"SQS body is not JSON ({DEEP_REASON})"]


def test_the_limit_itself_is_an_event() -> None:
    line = nested(MAX_DEPTH)
    assert not too_deep(line)
    assert type(parse(line)) is dict


def test_brackets_inside_strings_do_not_count() -> None:
    text = b'"' + b"[{" * 3_000 + b'\\"]"'
    line = nested(10, text=text)
    assert not too_deep(line)
    assert type(parse(line)) is dict


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 2_000])
def test_a_truncated_deep_record_has_the_same_reason(levels: int) -> None:
    # Too short for a complete record that deep, so only the refused-record path
    # sees it (orjson's own message for it is about memory, at ~520 levels).
    with pytest.raises(BadJSON) as raised:
        parse(b"[" * levels)
    assert raised.value.reason == DEEP_REASON
    with pytest.raises(BadJSON) as raised:
        parse(b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 2))
    assert raised.value.reason != DEEP_REASON


def _counts(doc: dict[str, Any]) -> tuple[int, int]:
    return doc["events"], doc["bad_records"]


# -- runs of blank lines -----------------------------------------------------------

#: Blank lines of every kind ``bytes.isspace`` knows, some with trailing blanks.
BLANKS = [b"\n", b"  \n", b"\r\n", b"\t \x0b\x0c\n"]


def blank_stream(runs: list[int], tail: bytes = b"") -> tuple[bytes, list[int]]:
    """Events separated by runs of blank lines; the line numbers of a bad line put
    after each event (so the numbers are seen exactly)."""
    parts: list[bytes] = []
    bad_lines: list[int] = []
    line = 0
    for run in runs:
        parts += [BLANKS[j % len(BLANKS)] for j in range(run)]
        parts += [LINE + b"\n", b"{bad\n"]
        line += run + 2
        bad_lines.append(line)
    return b"".join(parts) + tail, bad_lines


@pytest.mark.parametrize("runs", [[0, 1, 2], [3, 200_000, 5], [150_000, 1, 70_000]])
@pytest.mark.parametrize("compress", [False, True])
def test_blank_runs_keep_line_numbers_exact(
    tmp_path: Path, runs: list[int], compress: bool
) -> None:
    data, bad_lines = blank_stream(runs, tail=b"\n" * 100_000 + b"   ")
    path = tmp_path / ("blank.jsonl.gz" if compress else "blank.jsonl")
    path.write_bytes(gzip.compress(data, 1) if compress else data)
    records = list(read_events([str(path)]))
    assert [r.location.line for r in records if isinstance(r, BadRecord)] == bad_lines
    assert sum(1 for r in records if not isinstance(r, BadRecord)) == len(runs)
    for jobs in (1, 2):
        doc = analyze([str(path)], AnalysisOptions(jobs=jobs)).to_dict()
        assert (doc["events"], doc["bad_records"]) == (len(runs), len(runs)), jobs
        where = sorted(int(b["location"].rsplit(":", 1)[1]) for b in doc["bad"])
        assert where == bad_lines, jobs
        assert doc["duplicates"] == len(runs) - 1


def test_blank_runs_in_cloudwatch_exports_keep_line_numbers(tmp_path: Path) -> None:
    lines = [b"2026-01-01T00:00:00.000Z " + LINE + b"\n"]
    lines += [b"\n"] * 50_000 + [b"2026-01-01T00:00:01.000Z no json\n"]
    path = tmp_path / "export.log"
    path.write_bytes(b"".join(lines))
    bad = [r for r in read_events([str(path)], "cloudwatch") if isinstance(r, BadRecord)]
    assert [(r.location.line, r.reason) for r in bad] == [(50_002, "no JSON object on the line")]


# -- SQLite placeholders -------------------------------------------------------------


def test_sqlite_statements_use_no_numbered_placeholders() -> None:
    # CPython 3.12.0 and 3.12.1 warn once per row about ``?1`` bound from a tuple.
    import re

    from gcdedup.store import sqlite_schema

    statements = {k: v for k, v in vars(sqlite_schema).items() if k.isupper() and type(v) is str}
    assert {"CLAIM", "MARK_DONE", "RENEW", "COMPLETE"} <= statements.keys()
    assert {k for k, v in statements.items() if re.search(r"\?\d|[:@$][A-Za-z_]", v)} == set()


def test_every_sqlite_write_runs_without_a_warning(tmp_path: Path) -> None:
    import warnings

    from gcdedup.store import KeyItem, Outcome, open_store

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with open_store(f"sqlite:///{tmp_path / 'd.sqlite3'}") as store:
            items = [KeyItem(f"k{i}", "default", "t", f"f{i}", "o") for i in range(3)]
            claimed = store.claim(items, 60, 3600)
            assert [r.outcome for r in claimed] == [Outcome.CLAIMED] * 3
            pairs = [(r.key, r.token or "") for r in claimed]
            assert store.renew(pairs, 120) == [True] * 3
            assert store.complete_many(pairs[:2], 3600) == [True, True]
            assert store.release(*pairs[2]) is True
            # a completed key of another payload: a conflict, taken with take_conflicts
            other = [KeyItem("k0", "default", "t", "other", "o")]
            assert [r.outcome for r in store.claim(other, 60, 3600)] == [Outcome.CONFLICT]
            taken = store.claim(other, 60, 3600, take_conflicts=True)
            assert [(r.outcome, r.conflict) for r in taken] == [(Outcome.CLAIMED, True)]
            seeded = store.seed([KeyItem("k1", "default"), KeyItem("k9", "default")], 3600)
            assert [r.outcome for r in seeded] == [Outcome.DUPLICATE, Outcome.SEEDED]


# -- file names that are not UTF-8 ----------------------------------------------------


def _odd_dir(tmp_path: Path) -> tuple[Path, str]:
    """A directory holding ``ev\\xff.jsonl`` (not UTF-8): two copies of one event and a
    bad line; the name as reports show it."""
    import os

    root = tmp_path / "in"
    root.mkdir()
    with open(os.path.join(os.fsencode(root), b"ev\xff.jsonl"), "wb") as fh:
        fh.write(LINE + b"\n" + LINE + b"\n{bad\n")
    return root, str(root) + "/ev\\xff.jsonl"


def test_display_path_escapes_only_what_is_not_utf8() -> None:
    from gcdedup.display import display_path

    assert display_path("/d/ev\udcff.jsonl") == "/d/ev\\xff.jsonl"
    assert display_path(b"/d/\xc3\xa9v\xfe.jsonl") == "/d/\u00e9v\\xfe.jsonl"
    assert display_path("/d/\u00e9t\u00e9.jsonl") == "/d/\u00e9t\u00e9.jsonl"
    assert display_path("x\ud800") == "x\\ud800"  # a surrogate that stands for no byte


@pytest.mark.parametrize(
    "args",
    [
        ["stats", "--json"],
        ["stats", "--json", "--jobs", "2"],
        ["process", "--json", "--store", "memory://"],
        ["process", "--json", "--store", "memory://", "--read-ahead"],
        ["keys", "--json"],
    ],
    ids=lambda a: " ".join(a),
)
def test_a_file_name_that_is_not_utf8_is_shown_escaped(tmp_path: Path, args: list[str]) -> None:
    from typer.testing import CliRunner

    from gcdedup.cli.app import app

    root, shown = _odd_dir(tmp_path)
    result = CliRunner().invoke(app, [args[0], str(root), *args[1:]])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    doc: Any = orjson.loads(result.stdout)
    text = result.stdout
    assert "\\udcff" not in text and "\udcff" not in text
    assert f"{shown}:3".replace("\\", "\\\\") in text  # the bad line, by its shown name
    if args[0] == "stats":
        assert list(doc["by_file"]) == [shown]
        assert [b["location"] for b in doc["bad"]] == [f"{shown}:3"]
    if args[0] == "keys":
        assert [r["location"] for r in doc if "key" in r][:2] == [f"{shown}:1", f"{shown}:2"]


def test_process_out_writes_escaped_names(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gcdedup.cli.app import app

    root, shown = _odd_dir(tmp_path)
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        app, ["process", str(root), "--store", "memory://", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [r["location"] for r in rows] == [f"{shown}:1", f"{shown}:2", f"{shown}:3"]
    assert [r["outcome"] for r in rows] == ["processed", "duplicate", "bad_record"]
    html = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["stats", str(root), "--html", str(html)])
    assert result.exit_code == 0, result.output
    page = html.read_text(encoding="utf-8").replace("<wbr>", "")  # break hints, not text
    assert shown.rsplit("/", 1)[1] in page


# -- non-finite numbers in canonical JSON ------------------------------------------

BIG = 2**70
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _TEXT
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES)
# floats whose spelling differs between writers (orjson: 1.5e-7, Python: 1.5e-07)
@example([1.5e-7, 1e16, 5e-324, -0.0, 1e22, 123456789.125])
@example({"x": [float("inf"), None, float("nan")], "": {"y": -1e400}})
def test_canonical_json_is_one_form_whichever_path_writes_it(value: Any) -> None:
    import json

    fast = canonical_json(value)
    assert fast == _dumps(value).encode()  # the fallback writes the same bytes
    # A neighbour orjson cannot write sends the whole value down the fallback path:
    # the value's own bytes do not change.
    assert canonical_json([value, BIG]) == b"[" + fast + b"," + str(BIG).encode() + b"]"
    assert (
        canonical_json({"a": value, "b": BIG})
        == b'{"a":' + fast + b',"b":' + str(BIG).encode() + b"}"
    )
    assert canonical_json(json.loads(fast)) == fast  # one form: reading it back keeps it


def test_non_finite_numbers_have_their_own_form() -> None:
    inf, nan = float("inf"), float("nan")
    assert canonical_json(inf) == b"Infinity"
    assert canonical_json(-inf) == b"-Infinity"
    assert canonical_json(nan) == b"NaN"
    assert canonical_json({"x": [inf, None]}) == b'{"x":[Infinity,null]}'
    assert canonical_json({"x": [inf, None], "n": BIG}) == (
        b'{"n":1180591620717411303424,"x":[Infinity,null]}'
    )
    digests = {content_digest({"x": v}) for v in (inf, -inf, nan, None)}
    assert len(digests) == 4  # 1e400, -1e400, NaN and null are four values
    # 1e400 in a body read from a file: the same key as the value written out
    assert content_digest(parse(b'{"x":1e400}')) == content_digest({"x": inf})


@pytest.mark.parametrize("fmt", ["auto", "cloudwatch"])
def test_blank_runs_are_consumed_in_bulk_by_the_reader(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Counted at the one place bulk skipping happens: a reader paying per line would
    # read the 60,000 blank lines without it.
    from gcdedup.analysis import jsonl
    from gcdedup.sources import blank, reader

    consumed = {"lines": 0, "runs": 0}

    def counting(stream: Any, max_bytes: int | None = None) -> Any:
        consumed["runs"] += 1
        for piece in blank.blank_run(stream, max_bytes):
            consumed["lines"] += piece.count(b"\n")
            yield piece

    monkeypatch.setattr(reader, "blank_run", counting)
    monkeypatch.setattr(jsonl, "blank_run", counting)
    prefix = b"2026-01-01T00:00:00.000Z " if fmt == "cloudwatch" else b""
    event = prefix + LINE + b"\n"
    path = tmp_path / "runs.log"
    path.write_bytes(event + b"\n" * 30_000 + event + b" \n" * 30_000 + event)
    records = list(read_events([str(path)], fmt))
    assert [r.location.line for r in records] == [1, 30_002, 60_003]
    assert consumed == {"lines": 59_998, "runs": 2}  # the first blank line of each is read
    if fmt == "auto":
        consumed.update(lines=0, runs=0)
        doc = analyze([str(path)], AnalysisOptions(jobs=1)).to_dict()
        assert doc["events"] == 3
        assert consumed["lines"] >= 59_998


def test_a_missing_file_name_that_is_not_utf8_is_named_escaped(tmp_path: Path) -> None:
    import os

    from typer.testing import CliRunner

    from gcdedup.cli.app import app

    missing = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"no\xffne.jsonl"))
    result = CliRunner().invoke(app, ["stats", missing, "--json"])
    assert result.exit_code == 2
    assert f"no such file or directory: {tmp_path}/no\\xffne.jsonl" in result.output
