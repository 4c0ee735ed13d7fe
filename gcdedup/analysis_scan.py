"""The hot half of ``gcdedup stats``: read chunks of input into mergeable partial results.

A *chunk* is a byte range of a plain JSON Lines file (cut at line breaks, so it can
be read by any process) or a whole file of any other format (read through
:class:`~gcdedup.sources.EventReader`). Scanning a chunk yields a :class:`Partial`;
partials merge in any order (:func:`merge`) because every occurrence carries its
global position. Nothing is classified here: the first occurrence of a key is only
known once all partials are merged (see :mod:`gcdedup.analysis`).

Memory: per strategy, one dict entry per distinct key, ``16-byte key digest ->
58-byte packed occurrence`` (about 190 bytes with Python's object and dict
overhead), and a list of packed occurrences for keys seen more than once.
"""

from __future__ import annotations

import calendar
import gc
import hashlib
import io
import itertools
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from ._scan import json_reason, oversize_reason
from .errors import KeyStrategyError
from .events import MAX_RECORD_BYTES, BadRecord, Event, Location, expand, topic_family
from .keys import AUDIT_PREFIX, CONVERSATION_PREFIX, MAX_KEY_BYTES, KeyMaker, canonical_json

#: position (big-endian, so bytes order == arrival order), body digest, detail+id
#: digest, arrival watermark (epoch s, -1 unknown), byte offset or record number, flags.
OCC = struct.Struct(">Q16s16sqQH")
#: Bits of a position that number occurrences inside one chunk.
SEQ_BITS = 40
REPLAY_FLAG = 1
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_READ_BLOCK = 1 << 20
_MAX_PART = 200  # keys.py replaces longer key parts by a digest

Occ = bytes
Slot = bytes | list[bytes]


@dataclass(frozen=True)
class Chunk:
    """One unit of work. ``start``/``end`` set: a JSONL byte range; else a whole file."""

    index: int
    file_index: int
    path: str
    start: int | None = None
    end: int | None = None


@dataclass
class ChunkInfo:
    """What a chunk saw besides keys: counts, bad records, topic families, times."""

    events: int = 0
    lines: int = 0
    bad: int = 0
    #: (line within the chunk or None, byte offset or None, reason); the first few only.
    bad_examples: list[tuple[int | None, int | None, str]] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    family_events: list[int] = field(default_factory=list)
    watermark: int = -1  # newest envelope time seen in the chunk (epoch seconds)
    time_min: int = -1
    time_max: int = -1


@dataclass
class Partial:
    """Mergeable result of scanning chunks, one map per key strategy."""

    maps: list[dict[bytes, Slot]]
    names: list[dict[bytes, str]]
    unkeyable: list[int]
    unkeyable_example: list[str | None]
    chunks: dict[int, ChunkInfo] = field(default_factory=dict)


def empty_partial(strategies: int) -> Partial:
    return Partial(
        [{} for _ in range(strategies)],
        [{} for _ in range(strategies)],
        [0] * strategies,
        [None] * strategies,
    )


def merge(into: Partial, other: Partial) -> Partial:
    """Fold ``other`` into ``into``; commutative up to list order (sorted when read)."""
    for i, (mine, theirs) in enumerate(zip(into.maps, other.maps, strict=True)):
        if len(theirs) > len(mine):
            mine, theirs = theirs, mine
            into.maps[i] = mine
        both = mine.keys() & theirs.keys()
        joined = {k: _as_list(mine[k]) + _as_list(theirs[k]) for k in both}
        mine.update(theirs)
        mine.update(joined)
        into.names[i].update(other.names[i])
        into.unkeyable[i] += other.unkeyable[i]
        if into.unkeyable_example[i] is None:
            into.unkeyable_example[i] = other.unkeyable_example[i]
    into.chunks.update(other.chunks)
    return into


def _as_list(slot: Slot) -> list[bytes]:
    return [slot] if isinstance(slot, bytes) else list(slot)


def parse_time(text: str) -> int | None:
    """``YYYY-MM-DDTHH:MM:SS[.fff]Z`` -> epoch seconds; None for anything else."""
    if len(text) < 20 or text[4] != "-" or text[10] not in "Tt" or text[-1] not in "Zz":
        return None
    try:
        return calendar.timegm(
            (
                int(text[0:4]),
                int(text[5:7]),
                int(text[8:10]),
                int(text[11:13]),
                int(text[14:16]),
                int(text[17:19]),
                0,
                0,
                0,
            )
        )
    except ValueError:
        return None


def _simple(value: Any) -> str | None:
    """A key part exactly as keys.py would render it, when that is cheap to know."""
    if type(value) is str:
        return value if len(value) <= _MAX_PART and "#" not in value else None
    if type(value) is int:
        return str(value)
    return None


def fast_genesys(env: dict[str, Any], detail: dict[str, Any], body: Any, hb: bytes) -> str | None:
    """The ``genesys`` key body for the common shapes, or None to ask keys.py.

    Equal to :func:`gcdedup.keys.genesys_key` wherever it answers (tested); saves
    most of the per-event key cost on large inputs.
    """
    topic = detail.get("topicName")
    if type(topic) is not str or not topic:
        return None
    if type(body) is not dict:
        return None
    if topic.startswith(CONVERSATION_PREFIX):
        template = _simple(env.get("detail-type"))
        if not template:
            return None
        parts = [
            _simple(body.get("conversationId")),
            _simple(body.get("participantId")),
            _simple(body.get("sessionId")),
            _simple(body.get("eventTime")),
        ]
        if None in parts:
            return None
        return "#".join([template, *parts])  # type: ignore[list-item]
    if topic.startswith(AUDIT_PREFIX):
        audit = _simple(body.get("id"))
        if not audit or type(body.get("id")) is not str:
            return None
        return f"v2.audits#{audit}"
    if "eventId" in detail:
        return None
    name = _simple(topic)
    return None if name is None else f"{name}#{hb.hex()}"


class ChunkScanner:
    """Accumulates one chunk's events into a Partial (one process, no locks)."""

    def __init__(self, chunk: Chunk, makers: Sequence[KeyMaker], partial: Partial) -> None:
        self.chunk = chunk
        self.makers = list(makers)
        self.partial = partial
        self.info = ChunkInfo()
        partial.chunks[chunk.index] = self.info
        self.base = chunk.index << SEQ_BITS
        self.seq = 0
        self.location = Location(chunk.path)
        self._family_index: dict[str, int] = {}
        self._last_time: object = None
        self._wm_text = ""
        self._min_text = "\uffff"
        self._fast = [
            (m.strategy.name == "genesys", m.namespace + "#" if m.strategy.prefixed else "")
            for m in self.makers
        ]

    def bad(self, line: int | None, offset: int | None, reason: str) -> None:
        info = self.info
        info.bad += 1
        if len(info.bad_examples) < 20:
            info.bad_examples.append((line, offset, reason))

    def add(self, env: dict[str, Any], offset: int) -> None:
        """One event (an envelope whose ``detail`` is an object)."""
        info = self.info
        info.events += 1
        detail = env["detail"]
        body = detail.get("eventBody")
        if type(body) is dict:
            h = hashlib.blake2b(canonical_json(body), digest_size=16)
            hb = h.digest()
            h.update(canonical_json({k: v for k, v in detail.items() if k != "eventBody"}))
        else:
            h = hashlib.blake2b(canonical_json(detail), digest_size=16)
            hb = h.digest()
        eid = env.get("id")
        h.update(b"\x00id:" + (eid.encode() if type(eid) is str else b"\x00"))
        hr = h.digest()

        t = env.get("time")
        if t is not self._last_time:
            self._last_time = t
            if type(t) is str:
                if t > self._wm_text:
                    seconds = parse_time(t)
                    if seconds is not None:
                        self._wm_text = t
                        info.watermark = seconds
                        if info.time_max < seconds:
                            info.time_max = seconds
                if t < self._min_text:
                    seconds = parse_time(t)
                    if seconds is not None:
                        self._min_text = t
                        info.time_min = seconds

        dt = env.get("detail-type")
        family = (
            dt if type(dt) is str and "{id}" in dt else topic_family(dt, detail.get("topicName"))
        )
        index = self._family_index.get(family)
        if index is None:
            index = self._family_index[family] = len(info.families)
            info.families.append(family)
            info.family_events.append(0)
        info.family_events[index] += 1
        flags = index << 1
        if "replay-name" in env:
            flags |= REPLAY_FLAG

        occ = OCC.pack(self.base | self.seq, hb, hr, info.watermark, offset, flags)
        self.seq += 1
        partial = self.partial
        event: Event | None = None
        for i, maker in enumerate(self.makers):
            is_genesys, prefix = self._fast[i]
            key = fast_genesys(env, detail, body, hb) if is_genesys else None
            if key is not None:
                key = prefix + key
                encoded = key.encode()
                if len(encoded) > MAX_KEY_BYTES:
                    key = None
            if key is None:
                if event is None:
                    event = Event(env, self.location)
                try:
                    key = maker(event)
                except KeyStrategyError as exc:
                    partial.unkeyable[i] += 1
                    if partial.unkeyable_example[i] is None:
                        partial.unkeyable_example[i] = exc.message
                    continue
                encoded = key.encode()
            kd = hashlib.blake2b(encoded, digest_size=16).digest()
            slots = partial.maps[i]
            prev = slots.get(kd)
            if prev is None:
                slots[kd] = occ
            elif isinstance(prev, list):
                prev.append(occ)
            else:
                slots[kd] = [prev, occ]
                partial.names[i][kd] = key

    def add_record(self, record: Event | BadRecord, number: int) -> None:
        if isinstance(record, Event):
            self.add(record.envelope, number)
        else:
            loc = record.location
            self.bad(loc.line, loc.offset, record.reason)


# -- reading ------------------------------------------------------------------------


def is_plain_jsonl(path: str, fmt: str, limit: int = MAX_RECORD_BYTES) -> bool:
    """True when ``path`` is an uncompressed file that the reader would read as JSONL.

    Mirrors the reader's sniffing: the first non-blank line decides.
    """
    if path == "-" or fmt not in ("auto", "jsonl") or not os.path.isfile(path):
        return False
    try:
        with open(path, "rb") as fh:
            if fh.read(2) == _GZIP_MAGIC:
                return False
            if fmt == "jsonl":
                return True
            fh.seek(0)
            first = True
            while True:
                line = fh.readline(limit + 2)
                if not line:
                    return True
                text = line[3:] if first and line.startswith(_BOM) else line
                first = False
                text = text.lstrip()
                if text:
                    break
    except OSError:
        return False
    if text[0] == 0x5B or 0x30 <= text[0] <= 0x39:
        return False
    if text[0] == 0x7B:
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError:
            return False
    return True


def split_ranges(path: str, size: int, pieces: int) -> list[tuple[int, int]]:
    """Cut ``[0, size)`` into about ``pieces`` ranges that start right after a newline."""
    if pieces <= 1 or size == 0:
        return [(0, size)]
    cuts = [0]
    with open(path, "rb") as fh:
        for i in range(1, pieces):
            target = size * i // pieces
            if target <= cuts[-1]:
                continue
            fh.seek(target - 1)
            while True:
                block = fh.read(65536)
                if not block:
                    pos = size
                    break
                nl = block.find(b"\n")
                if nl >= 0:
                    pos = fh.tell() - len(block) + nl + 1
                    break
            if cuts[-1] < pos < size:
                cuts.append(pos)
    cuts.append(size)
    return list(itertools.pairwise(cuts))


def scan_jsonl_range(scanner: ChunkScanner, on_bytes: Callable[[int], None] | None) -> None:
    """The hot loop: lines of one byte range, parsed with orjson, same rules as the reader."""
    chunk = scanner.chunk
    assert chunk.start is not None and chunk.end is not None
    limit = MAX_RECORD_BYTES
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    add = scanner.add
    info = scanner.info
    pos = chunk.start
    end = chunk.end
    reported = pos
    lineno = 0
    with open(chunk.path, "rb", buffering=0) as raw:
        raw.seek(pos)
        fh = io.BufferedReader(raw, _READ_BLOCK)
        readline = fh.readline
        while pos < end:
            line = readline(limit + 2)
            if not line:
                break
            start = pos
            pos += len(line)
            lineno += 1
            if lineno == 1 and start == 0 and line.startswith(_BOM):
                line = line[3:]
            if len(line) > limit:
                size, extra = _long_line(line, readline, limit)
                pos += extra
                if size > limit:
                    scanner.bad(lineno, start, oversize_reason(size, limit))
                    continue
            try:
                doc = loads(line)
            except decode_error as exc:
                if not line.isspace():
                    scanner.bad(lineno, start, json_reason(exc))
                continue
            if type(doc) is dict and type(doc.get("detail")) is dict:
                add(doc, start)
            else:
                for record in expand(doc, Location(chunk.path, lineno)):
                    if isinstance(record, Event):
                        add(record.envelope, start)
                    else:
                        scanner.bad(lineno, start, record.reason)
            if on_bytes is not None and pos - reported >= _READ_BLOCK:
                on_bytes(pos - reported)
                reported = pos
    info.lines = lineno
    if on_bytes is not None and end > reported:
        on_bytes(end - reported)


def _long_line(line: bytes, readline: Callable[[int], bytes], limit: int) -> tuple[int, int]:
    """(size without the line break, bytes consumed beyond ``line``) of an over-long line."""
    if line.endswith(b"\n"):
        return len(line.rstrip(b"\r\n")), 0
    if len(line) < limit + 2:
        return len(line.rstrip(b"\r")), 0
    size, extra = len(line), 0
    while True:
        more = readline(_READ_BLOCK)
        if not more:
            return size, extra
        extra += len(more)
        if more.endswith(b"\n"):
            return size + len(more.rstrip(b"\r\n")), extra
        size += len(more)


def scan_file(
    scanner: ChunkScanner, fmt: str, on_bytes: Callable[[int], None] | None, stdin: Any = None
) -> None:
    """Any format, through the shared reader; one record number per event."""
    from .sources import EventReader

    reader = EventReader([scanner.chunk.path], fmt, stdin=stdin)
    seen = 0
    for number, record in enumerate(reader):
        scanner.add_record(record, number)
        if on_bytes is not None and reader.bytes_read - seen >= _READ_BLOCK:
            on_bytes(reader.bytes_read - seen)
            seen = reader.bytes_read
    if on_bytes is not None and reader.bytes_read > seen:
        on_bytes(reader.bytes_read - seen)


def scan_chunk(
    chunk: Chunk,
    makers: Sequence[KeyMaker],
    fmt: str,
    on_bytes: Callable[[int], None] | None = None,
    stdin: Any = None,
) -> Partial:
    """Scan one chunk into a fresh Partial (what each worker process runs)."""
    partial = empty_partial(len(makers))
    scanner = ChunkScanner(chunk, makers, partial)
    # The maps hold only bytes; the cyclic collector would walk the parsed dicts for nothing.
    enabled = gc.isenabled()
    gc.disable()
    try:
        if chunk.start is not None:
            scan_jsonl_range(scanner, on_bytes)
        else:
            scan_file(scanner, fmt, on_bytes, stdin)
    finally:
        if enabled:
            gc.enable()
    return partial


def iter_records(chunk: Chunk, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Re-read a chunk's events as (offset or record number, envelope); used to name keys."""
    if chunk.start is not None:
        with open(chunk.path, "rb") as fh:
            fh.seek(chunk.start)
            pos = chunk.start
            while pos < (chunk.end or 0):
                line = fh.readline(MAX_RECORD_BYTES + 2)
                if not line:
                    return
                start, pos = pos, pos + len(line)
                if len(line) > MAX_RECORD_BYTES:
                    pos += _long_line(line, fh.readline, MAX_RECORD_BYTES)[1]
                    continue
                if start == 0 and line.startswith(_BOM):
                    line = line[3:]
                try:
                    doc = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                for record in expand(doc, Location(chunk.path)):
                    if isinstance(record, Event):
                        yield start, record.envelope
        return
    from .sources import EventReader

    for number, record in enumerate(EventReader([chunk.path], fmt)):
        if isinstance(record, Event):
            yield number, record.envelope
