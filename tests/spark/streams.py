"""Generated event streams for the Spark tier: every duplicate kind, four files in four
shapes, hostile lines, events with no time (so the untimed gaps are exercised too)."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import orjson
from analysis_support import bench_generator

#: Lines no reader can take as an event, and lines that are odd but valid.
HOSTILE = [
    b"{not json}\n",
    b"[1, 2, 3]\n",
    b'{"id": "no-detail"}\n',
    b'{"detail": "a string"}\n',
    b"\xff\xfe not UTF-8\n",
    b'{"detail": {"eventBody": {"a": 1}}, "id": "x"' + b"\n",
    b'{"detail": {"n": ' + b"9" * 5000 + b"}}\n",
    b"   \n",
    b"\n",
    b'{"detail": {"topicName": "v2.users.x.presence", "eventBody": {"p": 1.0}}}\n',
    b'{"detail": {"topicName": "v2.users.x.presence", "eventBody": {"p": 1}}}\n',
    b'{"detail": {"topicName": "v2.audits.entitytype.x", "eventBody": {"id": 7}}}\n',
]


def untimed_prefix(lines: list[bytes], rng: random.Random) -> list[bytes]:
    """A few events without ``time`` and copies of them, before any timed event."""
    out = []
    for line in rng.sample(lines, 5):
        env = orjson.loads(line)
        env.pop("time", None)
        env["id"] = f"untimed-{rng.randrange(10**9)}"
        event = orjson.dumps(env) + b"\n"
        out += [event] * rng.randint(1, 3)
    rng.shuffle(out)
    return out


def write_stream(directory: Path, seed: int, events: int = 20_000) -> list[Path]:
    """``events`` generated deliveries (about) in four files: plain JSON Lines with a
    BOM, CRLF JSON Lines, gzip JSON Lines and JSON Lines ending in a cut line; hostile
    lines spread through all four. Returns the files in input order."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    whole = directory / "whole.jsonl"
    bench_generator().generate(whole, events, seed=seed, dup_rate=0.15)
    lines = whole.read_bytes().splitlines(keepends=True)
    whole.unlink()
    whole.with_name(whole.name + ".truth.json").unlink()
    lines = untimed_prefix(lines, rng) + lines
    for bad in HOSTILE * 3:
        lines.insert(rng.randrange(len(lines)), bad)
    quarter = -(-len(lines) // 4)
    parts = [lines[i * quarter : (i + 1) * quarter] for i in range(4)]
    files = [
        directory / "part-0.jsonl",
        directory / "part-1.jsonl",
        directory / "part-2.jsonl.gz",
        directory / "part-3.jsonl",
    ]
    files[0].write_bytes(b"\xef\xbb\xbf" + b"".join(parts[0]))
    files[1].write_bytes(b"".join(line.replace(b"\n", b"\r\n") for line in parts[1]))
    files[2].write_bytes(gzip.compress(b"".join(parts[2]), mtime=0))
    files[3].write_bytes(b"".join(parts[3]) + b'{"detail": {"cut": ')
    return files
