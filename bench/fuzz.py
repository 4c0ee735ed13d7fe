"""Differential fuzzing of the input contract: ``stats`` and ``process`` must agree.

Each case is a small file (JSON Lines; one in ten a one-line JSON array, one in
ten a ``{"Records": [...]}`` document) built from real events (tests/fixtures/genesys
and sample_events/, with repeats so there are duplicates) with one to three hostile
mutations: integers past 64 bits in and out of key fields, numbers beyond the
double range, NaN and Infinity, lone surrogates, raw NUL bytes, invalid UTF-8,
duplicate keys, deep nesting (up to 20,000 levels), a 2 MB string, truncated lines,
flipped bytes; nesting just past the limit where msgspec's own limit differs by
Python version (1,025 to 3,000 levels, closed or cut short); runs of blank and
whitespace-only lines (up to 20,000) between records. One case in eight is gzip
compressed, one in eight has a file name that is not UTF-8 (``case\xff.jsonl``).
The file is read by ``process`` (memory store, count only) and by ``stats``
(:func:`gcdedup.analysis.analyze`, one process); a case fails when either raises (a
crash), when a report cannot be written as JSON (a crash), or when they differ on
events, bad records, unique or duplicates, or on where (file and line) a bad record
is, or when an event's canonical JSON differs between the two writers of
:func:`gcdedup.keys.canonical_json` (non-finite numbers have one form).

    python bench/fuzz.py --cases 100000 --seed 1

writes bench/results/fuzz.json and fuzz.md (cases, crashes, disagreements, rate,
and the first failing cases in full).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from gcdedup.analysis import AnalysisOptions, analyze  # noqa: E402
from gcdedup.events import Event  # noqa: E402
from gcdedup.keys import _dumps, canonical_json  # noqa: E402
from gcdedup.pipeline import process  # noqa: E402
from gcdedup.settings import Settings  # noqa: E402
from gcdedup.sources import read_events  # noqa: E402
from gcdedup.store import open_store  # noqa: E402

KEY_FIELDS = ("eventTime", "conversationId", "participantId", "sessionId", "id")
SENTINEL = "__HOSTILE_VALUE__"


def base_events() -> list[dict[str, Any]]:
    """The real events the cases are made of."""
    fixtures = sorted((ROOT / "tests/fixtures/genesys").glob("*.json"))
    events = [orjson.loads(p.read_bytes()) for p in fixtures]
    for line in (ROOT / "sample_events/clean.jsonl").read_bytes().splitlines()[:6]:
        if line.strip():
            events.append(orjson.loads(line))
    return events


def hostile_value(rng: random.Random) -> bytes:
    """Raw JSON text (valid or not) to put where a value was."""
    kind = rng.randrange(14)
    if kind == 0:
        return str(rng.choice([1, -1]) * (2**64 + rng.randrange(3))).encode()
    if kind == 1:
        return str(2**63 + rng.randrange(-2, 3)).encode()
    if kind == 2:
        return rng.choice([b"1e400", b"-1e400", b"1E+999", b"1e-400", b"0.5e309"])
    if kind == 3:
        return b"1" + b"0" * rng.choice([20, 400, 4300, 4301, 5000])
    if kind == 4:
        return rng.choice([b"NaN", b"Infinity", b"-Infinity", b"nan"])
    if kind == 5:
        return rng.choice([b'"\\ud800"', b'"x\\udc00"', b'"\\udc00\\ud800"', b'"\\ud83d\\ude00"'])
    if kind == 6:
        return rng.choice([b'"a\x00b"', b'"a\\u0000b"', b'"\x01"', b'"\x7f"'])
    if kind == 7:
        return rng.choice([b'"\xff"', b'"\xc3("', b'"\xed\xa0\x80"', b'"caf\xc3\xa9"'])
    if kind == 8:
        depth = rng.choice(
            [2, 100, 900, 1000, 1023, 1024, 1025, 1026, 1500, 2000, 2500, 3000, 5000, 20000]
        )
        opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}"), (b'[{"a":', b"}]")])
        if rng.random() < 0.1:
            return opener * depth + b"1"  # cut short: the refused-record path decides
        if rng.random() < 0.1:
            return b'"' + opener * depth + b'"'  # brackets inside a string do not count
        return opener * depth + b"1" + closer * depth
    if kind == 9:
        return b'"' + b"a" * rng.choice([1000, 2_000_000 if rng.random() < 0.05 else 5000]) + b'"'
    if kind == 10:
        return rng.choice([b"-0", b"-0.0", b"1.0", b"1E2", b"0.1e1", b"12345678901234567890.5"])
    if kind == 11:
        return rng.choice([b"[1,]", b"01", b"1.", b"tru", b'"\\q"', b"{"])
    if kind == 12:
        return rng.choice([b"null", b"true", b"{}", b"[]", b'""'])
    return str(rng.randrange(-(2**70), 2**70)).encode()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = value


def mutate_line(doc: dict[str, Any], rng: random.Random) -> bytes:
    """One event as a line with one hostile mutation."""
    doc = orjson.loads(orjson.dumps(doc))
    op = rng.randrange(8)
    if op <= 3:  # a hostile value, in a key field half the time
        body = doc.get("detail", {}).get("eventBody")
        if op <= 1 and isinstance(body, dict):
            path: tuple[Any, ...] = ("detail", "eventBody", rng.choice(KEY_FIELDS))
            if path[-1] not in body and rng.random() < 0.5:
                path = ("detail", "eventBody", next(iter(body)))
        else:
            path = rng.choice(_paths(doc))
        _set(doc, path, SENTINEL)
        return orjson.dumps(doc).replace(f'"{SENTINEL}"'.encode(), hostile_value(rng), 1)
    line = orjson.dumps(doc)
    if op == 4:  # a duplicate key
        at = line.find(b'"', rng.randrange(1, len(line)))
        if at > 0 and line[at - 1 : at] in (b"{", b","):
            return line[:at] + b'"eventTime":' + hostile_value(rng) + b"," + line[at:]
        return line.replace(b"{", b'{"detail":{"topicName":"x"},', 1)
    if op == 5:  # truncated
        return line[: rng.randrange(1, len(line))]
    if op == 6:  # a flipped or inserted byte
        data = bytearray(line)
        at = rng.randrange(len(data))
        if rng.random() < 0.5:
            data[at] = rng.randrange(256)
        else:
            data[at:at] = rng.choice([b"\x00", b"\xff", b"\\", b'"', b"}", b"\n", b"e9"])
        return bytes(data)
    return line


def make_case(events: list[dict[str, Any]], rng: random.Random) -> bytes:
    """A few lines of events (some repeated: duplicates), one to three of them mutated."""
    lines = [orjson.dumps(rng.choice(events)) for _ in range(rng.randrange(2, 8))]
    lines += [rng.choice(lines) for _ in range(rng.randrange(0, 3))]
    pristine = set(lines)
    for _ in range(rng.randrange(1, 4)):
        i = rng.randrange(len(lines))
        doc = rng.choice(events)
        if lines[i] in pristine:
            doc = orjson.loads(lines[i])
        if not isinstance(doc, dict) or not isinstance(doc.get("detail"), dict):
            doc = rng.choice(events)
        mutated = mutate_line(doc, rng)
        if rng.random() < 0.3:
            lines.append(mutated)  # the original stays too
            if rng.random() < 0.5:
                lines.append(mutated)  # and a copy of the mutated one
        else:
            lines[i] = mutated
    shape = rng.random()
    if shape < 0.1:  # a JSON array on one line
        return b"[" + b",".join(lines) + b"]"
    if shape < 0.2:  # a container document, pretty or not
        sep = b",\n  " if rng.random() < 0.5 else b","
        return b'{"Records": [' + sep.join(lines) + b"]}"
    if rng.random() < 0.3:  # runs of blank lines between (and before, after) records
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(lines) + 1)
            run = rng.choice([1, 2, 50, 5000, 20000])
            lines[at:at] = [rng.choice(BLANKS) for _ in range(run)]
    return b"\n".join(lines) + b"\n"


#: Blank lines without their final newline (``make_case`` joins lines with one).
BLANKS = [b"", b" ", b"\t", b"\r", b"  \x0b\x0c "]


def counts_process(path: str) -> dict[str, int]:
    settings = Settings.resolve(env={}, store_url="memory://", run_id="fuzz")
    doc = process(read_events([path]), open_store("memory://"), settings).to_dict()
    orjson.dumps(doc)  # what --json writes: raises on a name that is not text
    return {
        "events": doc["events"],
        "bad_records": doc["bad_records"],
        "unique": doc["processed"],
        # every repeat of a key: stats classifies a repeat against the key's first
        # delivery (a replay is a replay whatever its payload), process against the
        # stored record, so the two agree on repeats, not always on which are conflicts
        "duplicates": doc["duplicates"] + doc["conflicts"],
    }


def counts_stats(path: str) -> tuple[dict[str, int], set[tuple[str, str]]]:
    doc = analyze([path], AnalysisOptions(jobs=1)).to_dict()
    orjson.dumps(doc)  # what --json writes: raises on a name that is not text
    bad = {(b["location"], b["reason"]) for b in doc.get("bad", [])}
    counts = {k: doc[k] for k in ("events", "bad_records", "unique")}
    counts["duplicates"] = doc["duplicates"] + doc["conflicts"]  # every repeat, as process
    return counts, bad


def read_check(path: str) -> tuple[set[tuple[str, str]], str]:
    """The bad records as the reader places them, and the first event whose canonical
    JSON differs between orjson's path and the fallback writer ("" if none)."""
    bad = set()
    for record in read_events([path]):
        if isinstance(record, Event):
            if canonical_json(record.envelope) != _dumps(record.envelope).encode():
                return bad, f"canonical JSON differs at {record.location}"
        else:
            # stats names a container's record by its offset alone: compare the place
            bad.add((str(record.location._replace(record=None)), record.reason))
    return bad, ""


def compare(path: str) -> tuple[str, str]:
    """("ok" | "crash" | "disagree", detail) for one input file."""
    try:
        p = counts_process(path)
        by_reader, canonical = read_check(path)
    except Exception:
        return "crash", "process: " + traceback.format_exc(limit=3)
    try:
        s, by_stats = counts_stats(path)
    except Exception:
        return "crash", "stats: " + traceback.format_exc(limit=3)
    if p != s:
        return "disagree", f"process {p} stats {s}"
    if not by_stats <= by_reader:
        return "disagree", f"bad records placed apart: stats {sorted(by_stats - by_reader)}"
    if canonical:
        return "disagree", canonical
    return "ok", ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "fuzz"))
    parser.add_argument("--keep", type=int, default=5, help="failing cases kept in the report")
    parser.add_argument("--save", help="a directory to write failing inputs to, whole")
    parser.add_argument(
        "--seconds", type=float, help="stop after this long (the report says how many ran)"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    events = base_events()
    tally = {"ok": 0, "crash": 0, "disagree": 0}
    failures: list[dict[str, Any]] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        plain = os.path.join(tmp, "case.jsonl")
        odd = os.fsdecode(os.path.join(os.fsencode(tmp), b"case\xff.jsonl"))
        for n in range(args.cases):
            if args.seconds is not None and time.perf_counter() - start > args.seconds:
                break
            data = make_case(events, rng)
            path = odd if rng.random() < 0.125 else plain
            if rng.random() < 0.125:
                data = gzip.compress(data, 1)
            Path(path).write_bytes(data)
            outcome, detail = compare(path)
            tally[outcome] += 1
            if outcome != "ok" and args.save:
                Path(args.save, f"case-{args.seed}-{n}.jsonl").write_bytes(data)
            if outcome != "ok" and len(failures) < args.keep:
                failures.append(
                    {"case": n, "outcome": outcome, "detail": detail, "input": data[:2000].hex()}
                )
            if (n + 1) % 1_000 == 0:
                print(f"{n + 1} cases, {tally}", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - start
    ran = sum(tally.values())
    result = {
        "cases": ran,
        "cases_asked": args.cases,
        "seed": args.seed,
        "crashes": tally["crash"],
        "disagreements": tally["disagree"],
        "seconds": round(seconds, 1),
        "cases_per_second": round(ran / seconds, 1),
        "failures": failures,
    }
    Path(args.out + ".json").write_text(json.dumps(result, indent=2) + "\n")
    Path(args.out + ".md").write_text(
        "# Differential fuzzing: stats vs process\n\n"
        f"`python bench/fuzz.py --cases {args.cases} --seed {args.seed}"
        + (f" --seconds {args.seconds:g}" if args.seconds is not None else "")
        + f"` on Python {platform.python_version()}\n\n"
        "| cases | crashes | disagreements | seconds | cases/s |\n|---|---|---|---|---|\n"
        f"| {ran:,} | {tally['crash']} | {tally['disagree']} | {seconds:.0f} "
        f"| {ran / seconds:.1f} |\n"
    )
    print(json.dumps({k: v for k, v in result.items() if k != "failures"}))
    return 0 if not failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
