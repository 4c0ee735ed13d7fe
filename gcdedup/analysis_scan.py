"""The hot half of ``gcdedup stats``: read chunks of input into mergeable partial results.

A *chunk* is a byte range of a plain JSON Lines file (cut at line breaks, so it can
be read by any process) or a whole file of any other format (read through
:class:`~gcdedup.sources.EventReader`). Scanning a chunk yields a :class:`Partial`;
partials merge in any order (:func:`merge`) because every occurrence carries its
global position. Nothing is classified here: the first occurrence of a key is only
known once all partials are merged (see :mod:`gcdedup.analysis_tally`).

Per event the scan only parses the line and computes what every event needs: its
key digest, topic family, arrival watermark and a small packed record. With the
default key strategy, a plain JSON Lines line is decoded into the few fields that
needs (:mod:`gcdedup.analysis_decode`); any other line, and any line that path
cannot answer exactly, is parsed whole. The content
digests that tell a retry from a resend or a conflict are needed for duplicates
only (a small fraction), so a JSON Lines event stores where its line is (offset and
length) instead, and the report re-reads the few lines it has to compare. Events
read any other way (gzip, arrays, stdin, SQS batches) cannot be re-read cheaply and
carry their digests in the record.

Keys are told apart by a 64-bit digest (:data:`key_digest`): Python's own string
hash, SipHash-1-3 under a secret chosen at start-up, which worker processes forked
from the parent share. It costs a tenth of a cryptographic digest per event. Two of
n distinct keys collide with a chance of about n^2 / 2^65 (3 in 100 million for a
million keys, 3 in a million for ten million); a collision would count one key's
first delivery as a duplicate of another's (a "conflict"). Where workers cannot be
forked, the digest is the first 8 bytes of blake2b instead, the same in every process.

Memory: per strategy, one dict entry per distinct key, ``64-bit key digest ->
30-byte packed record`` (130-160 bytes with Python's object and dict overhead,
measured; 62 bytes more when the digests are carried), and a list of records for
keys seen more than once.
"""

from __future__ import annotations

import calendar
import gc
import hashlib
import io
import itertools
import multiprocessing
import os
import struct
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from . import analysis_decode
from .analysis_decode import UNSET, Envelope, dict_body_key
from .errors import GcdedupError, KeyStrategyError
from .events import MAX_RECORD_BYTES, Event, Location, expand, topic_family
from .keys import MAX_KEY_BYTES, KeyMaker, canonical_json
from .sources.framing import json_reason, oversize_reason

#: position (big-endian first, so sorting records sorts them in arrival order),
#: arrival watermark (epoch s, -1 unknown), byte offset of the line (or record
#: number), length of the line (0: not re-readable, the digests follow), flags.
REC = struct.Struct(">QqQIH")
#: Size of the body digest and of the detail+id digest carried by unreadable records.
DIGEST = 16
#: Bits of a position that number occurrences inside one chunk.
SEQ_BITS = 40
SEQ_MASK = (1 << SEQ_BITS) - 1
REPLAY_FLAG = 1
_FLAGS_LOW = REC.size - 1  # the low byte of the big-endian flags
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_READ_BLOCK = 1 << 20

Rec = bytes
Slot = bytes | list[bytes]
#: A key's 64-bit digest, the key of the hot maps.
KeyDigest = int


def _stable_digest(key: str) -> int:
    """A 64-bit key digest that is the same in every process (for spawned workers)."""
    return int.from_bytes(
        hashlib.blake2b(key.encode(), digest_size=8).digest(), "little", signed=True
    )


#: How worker processes start: forked wherever the platform can (they then share
#: the parent's string hash secret, and need no re-import nor pickled arguments).
START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
#: See the module docstring.
key_digest: Callable[[str], int] = hash if START_METHOD == "fork" else _stable_digest
#: What the readers hand to :func:`ingest`: (envelope, offset or number, line length,
#: line). The envelope is a dict, or an :class:`~gcdedup.analysis_decode.Envelope`
#: decoded by the fast path (then the line is there for what that path cannot answer).
Item = tuple[dict[str, Any] | Envelope, int, int, bytes]


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

    maps: list[dict[KeyDigest, Slot]]
    names: list[dict[KeyDigest, str]]
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
    for i, theirs in enumerate(other.maps):
        into.maps[i] = merge_maps(into.maps[i], theirs)
        into.names[i].update(other.names[i])
        into.unkeyable[i] += other.unkeyable[i]
        if into.unkeyable_example[i] is None:
            into.unkeyable_example[i] = other.unkeyable_example[i]
    into.chunks.update(other.chunks)
    return into


def merge_maps(mine: dict[KeyDigest, Slot], theirs: dict[KeyDigest, Slot]) -> dict[KeyDigest, Slot]:
    """The union of two maps (either may be reused); keys in both get every record.

    The smaller map is walked, so merging n maps costs time in their total size,
    not n times the size of the growing result.
    """
    if len(theirs) > len(mine):
        mine, theirs = theirs, mine
    joined = {k: _as_list(mine[k]) + _as_list(v) for k, v in theirs.items() if k in mine}
    mine.update(theirs)
    mine.update(joined)
    return mine


def _as_list(slot: Slot) -> list[bytes]:
    return [slot] if isinstance(slot, bytes) else list(slot)


# -- moving partials between processes -------------------------------------------------

#: A key partition of one map, compact for pickling: the keys seen once with a plain
#: record as two flat byte strings (8-byte keys, REC.size records), the rest as a dict.
PackedMap = tuple[bytes, bytes, dict[KeyDigest, Slot]]


@dataclass
class SplitPartial:
    """A worker's partial on its way to the parent, its maps cut by key.

    A map of a hundred thousand small objects pickles (and unpickles) item by item,
    about as slowly as it was scanned, and the parent would then merge them all
    alone. Instead, each map travels as key partitions of flat byte strings, and
    partition j of every chunk is merged by one worker (:func:`merge_partition`),
    which then classifies and counts its duplicates
    (:func:`gcdedup.analysis_tally.merge_and_tally`): the parent gets tallies back,
    never the keys.
    """

    partial: Partial  # maps emptied; names, counts and chunk infos as scanned
    parts: list[list[PackedMap]]  # [strategy][partition]


def split_partial(partial: Partial, partitions: int) -> SplitPartial:
    parts = [_split_map(slots, partitions) for slots in partial.maps]
    partial.maps = [{} for _ in partial.maps]
    return SplitPartial(partial, parts)


def _split_map(slots: dict[KeyDigest, Slot], partitions: int) -> list[PackedMap]:
    size = REC.size
    keys: list[list[KeyDigest]] = [[] for _ in range(partitions)]
    records: list[list[bytes]] = [[] for _ in range(partitions)]
    rest: list[dict[KeyDigest, Slot]] = [{} for _ in range(partitions)]
    for kd, slot in slots.items():
        j = kd % partitions
        if type(slot) is bytes and len(slot) == size:
            keys[j].append(kd)
            records[j].append(slot)
        else:
            rest[j][kd] = slot
    return [
        (array("q", keys[j]).tobytes(), b"".join(records[j]), rest[j]) for j in range(partitions)
    ]


def merge_partition(packed: list[PackedMap]) -> dict[KeyDigest, Slot]:
    """Merge one key partition of every chunk; keep only the keys seen more than once.

    Most keys are seen once. Their digests are only counted (at C speed); records
    are sliced out for the keys seen more than once alone. (``rest`` holds the keys
    repeated inside their chunk, and records that carry their digests.)
    """
    size = REC.size
    parts: list[tuple[array[int], bytes, dict[KeyDigest, Slot]]] = []
    for keys, records, rest in packed:
        digests = array("q")
        digests.frombytes(keys)
        parts.append((digests, records, rest))
    counts = Counter(itertools.chain.from_iterable(p[0] for p in parts))
    counts.update(itertools.chain.from_iterable(p[2] for p in parts))
    repeated = {kd for kd, n in counts.items() if n > 1}
    del counts
    repeated.update(kd for p in parts for kd, slot in p[2].items() if type(slot) is list)
    slots: dict[KeyDigest, list[bytes]] = {}
    for digests, records, rest in parts:
        hits = itertools.compress(range(len(digests)), map(repeated.__contains__, digests))
        for i in hits:
            slots.setdefault(digests[i], []).append(records[i * size : (i + 1) * size])
        for kd, slot in rest.items():
            if kd in repeated:
                slots.setdefault(kd, []).extend(_as_list(slot))
    return slots  # type: ignore[return-value]


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


def event_digests(env: dict[str, Any]) -> bytes:
    """Body digest then detail+id digest (16 bytes each): what classification compares.

    Body: the canonical ``eventBody`` (the whole ``detail`` when it has no eventBody
    object); a resend keeps it. Detail+id: the canonical ``detail`` and the envelope
    ``id``; a retry keeps both.
    """
    detail = env["detail"]
    body = detail.get("eventBody")
    if type(body) is dict:
        h = hashlib.blake2b(canonical_json(body), digest_size=DIGEST)
        hb = h.digest()
        h.update(canonical_json({k: v for k, v in detail.items() if k != "eventBody"}))
    else:
        h = hashlib.blake2b(canonical_json(detail), digest_size=DIGEST)
        hb = h.digest()
    eid = env.get("id")
    h.update(b"\x00id:" + (eid.encode() if type(eid) is str else b"\x00"))
    return hb + h.digest()


def fast_genesys(env: dict[str, Any], detail: dict[str, Any]) -> str | None:
    """The ``genesys`` key body for the common shapes, or None to ask keys.py.

    Equal to :func:`gcdedup.keys.genesys_key` wherever it answers (tested); saves
    most of the per-event key cost on large inputs: no Event object, no canonical
    JSON except for the topics keyed by their body digest.
    """
    topic = detail.get("topicName")
    body = detail.get("eventBody")
    if type(topic) is not str or not topic or type(body) is not dict:
        return None
    return dict_body_key(topic, env.get("detail-type"), body)


class ChunkScanner:
    """One chunk's state while it is read (one process, no locks)."""

    def __init__(self, chunk: Chunk, makers: Sequence[KeyMaker], partial: Partial) -> None:
        self.chunk = chunk
        self.makers = list(makers)
        self.partial = partial
        self.info = ChunkInfo()
        partial.chunks[chunk.index] = self.info
        self.location = Location(chunk.path)
        #: detail-type -> family index, for detail-types that are templates themselves.
        self.family_cache: dict[str, int] = {}
        self._family_index: dict[str, int] = {}
        self.prefixes = [m.namespace + "#" if m.strategy.prefixed else "" for m in self.makers]
        self.fast = [m.strategy.name == "genesys" for m in self.makers]
        #: Plain JSON Lines may take the typed decoder (one strategy, genesys, only).
        self.decode_fast = self.fast == [True]

    def bad(self, line: int | None, offset: int | None, reason: str) -> None:
        info = self.info
        info.bad += 1
        if len(info.bad_examples) < 20:
            info.bad_examples.append((line, offset, reason))

    def family(self, detail_type: Any, topic: Any) -> int:
        """Index of the event's topic family in ``info.families`` (added when new)."""
        family = topic_family(detail_type, topic)
        index = self._family_index.get(family)
        if index is None:
            index = self._family_index[family] = len(self.info.families)
            self.info.families.append(family)
            self.info.family_events.append(0)
        if type(detail_type) is str and "{id}" in detail_type:
            self.family_cache[detail_type] = index  # the template is the family
        return index

    def key(self, i: int, env: dict[str, Any]) -> str | None:
        """Strategy ``i``'s key for ``env``; None (and counted) when it cannot key it."""
        if self.fast[i]:
            body = fast_genesys(env, env["detail"])
            if body is not None:
                key = self.prefixes[i] + body
                if len(key) * 4 <= MAX_KEY_BYTES or len(key.encode()) <= MAX_KEY_BYTES:
                    return key
        try:
            return self.makers[i](Event(env, self.location))
        except KeyStrategyError as exc:
            partial = self.partial
            partial.unkeyable[i] += 1
            if partial.unkeyable_example[i] is None:
                partial.unkeyable_example[i] = exc.message
            return None

    def repeat(self, i: int, kd: KeyDigest, prev: Slot, rec: Rec, key: str) -> None:
        """A key seen before in this chunk: keep every record; remember its name once."""
        if type(prev) is list:
            prev.append(rec)
        else:
            self.partial.maps[i][kd] = [prev, rec]  # type: ignore[list-item]
            self.partial.names[i][kd] = key

    def other_keys(self, env: dict[str, Any], rec: Rec) -> None:
        """Strategies after the first (``--compare``): the general path, per event."""
        maps = self.partial.maps
        for i in range(1, len(self.makers)):
            key = self.key(i, env)
            if key is None:
                continue
            kd = key_digest(key)
            prev = maps[i].setdefault(kd, rec)
            if prev is not rec:
                self.repeat(i, kd, prev, rec, key)


def ingest(scanner: ChunkScanner, items: Iterable[Item]) -> None:
    """The per-event loop: family, watermark, record and keys of every event of a chunk.

    Written flat with local names because it runs once per event: attribute and
    method lookups would cost as much as the work. Rare cases (a new family, a key
    shape the fast path does not know, duplicates) go through scanner methods.
    """
    info = scanner.info
    primary = scanner.partial.maps[0]
    fast = scanner.fast[0]
    prefix = scanner.prefixes[0]
    others = len(scanner.makers) > 1
    families = scanner.family_cache
    counts = info.family_events
    pack = REC.pack
    digest = key_digest
    decoded_key = analysis_decode.genesys_key
    base = scanner.chunk.index << SEQ_BITS
    seq = 0
    wm, wm_text = -1, ""
    t_min, t_max, min_text = -1, -1, "\uffff"
    env: Any  # a dict, or an Envelope from the fast path
    detail: Any
    for env, offset, length, line in items:
        decoded = type(env) is not dict
        if decoded:
            detail = env.detail
            t = env.time
            dt = env.detail_type
            replay = env.replay_name is not UNSET
            topic = detail.topicName
        else:
            detail = env["detail"]
            t = env.get("time")
            dt = env.get("detail-type")
            replay = "replay-name" in env
            topic = detail.get("topicName")
        if type(t) is str:
            if t > wm_text:
                seconds = parse_time(t)
                if seconds is not None:
                    wm_text, wm = t, seconds
                    if t_max < seconds:
                        t_max = seconds
            if t < min_text:
                seconds = parse_time(t)
                if seconds is not None:
                    min_text, t_min = t, seconds
        index = families.get(dt) if type(dt) is str else None
        if index is None:
            index = scanner.family(dt, topic)
        counts[index] += 1
        rec = pack(base | seq, wm, offset, length, index << 1 | replay)
        if not length:
            rec += event_digests(env)
        seq += 1

        if decoded:
            key = decoded_key(env, line)
        elif fast:
            key = fast_genesys(env, detail)
        else:
            key = None
        if key is not None:
            key = prefix + key
            if len(key) * 4 > MAX_KEY_BYTES and len(key.encode()) > MAX_KEY_BYTES:
                key = None
        if key is None:
            if decoded:
                env = orjson.loads(line)
            key = scanner.key(0, env)
        if key is not None:
            kd = digest(key)
            prev = primary.setdefault(kd, rec)
            if prev is not rec:
                scanner.repeat(0, kd, prev, rec, key)
        if others:
            scanner.other_keys(env, rec)
    info.events = seq
    info.watermark = wm
    info.time_min = t_min
    info.time_max = t_max


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


def jsonl_items(scanner: ChunkScanner, on_bytes: Callable[[int], None] | None) -> Iterator[Item]:
    """Events of one byte range with their line's offset and length; bad lines reported.

    A line that is one EventBridge envelope (nearly all) is yielded with its length,
    so the report can re-read it; events unwrapped from a batch line are yielded
    with length 0 and carry their digests instead.
    """
    chunk = scanner.chunk
    assert chunk.start is not None and chunk.end is not None
    limit = MAX_RECORD_BYTES
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    fast = analysis_decode.decode if scanner.decode_fast else None
    pos = chunk.start
    end = chunk.end
    reported = pos
    lineno = 0
    with open(chunk.path, "rb", buffering=0) as raw:
        raw.seek(pos)
        fh = io.BufferedReader(raw, _READ_BLOCK)
        readline = fh.readline
        while pos < end:
            if on_bytes is not None and pos - reported >= _READ_BLOCK:
                on_bytes(pos - reported)
                reported = pos
            line = readline(limit + 2)
            if not line:
                break
            start = pos
            pos += len(line)
            lineno += 1
            if start == 0 and line.startswith(_BOM):
                line = line[3:]  # the re-read strips it again (offset 0)
            if len(line) > limit:
                size, extra = _long_line(line, readline, limit)
                pos += extra
                if size > limit:
                    scanner.bad(lineno, start, oversize_reason(size, limit))
                    continue
            if fast is not None:
                env = fast(line)
                if env is not None:
                    yield env, start, pos - start, line
                    continue
            try:
                doc = loads(line)
            except decode_error as exc:
                if not line.isspace():
                    scanner.bad(lineno, start, json_reason(exc))
                continue
            if type(doc) is dict and type(doc.get("detail")) is dict:
                yield doc, start, pos - start, line
            else:
                for record in expand(doc, Location(chunk.path, lineno)):
                    if isinstance(record, Event):
                        yield record.envelope, start, 0, b""
                    else:
                        scanner.bad(lineno, start, record.reason)
    scanner.info.lines = lineno
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


def reader_items(
    scanner: ChunkScanner, fmt: str, on_bytes: Callable[[int], None] | None, stdin: Any = None
) -> Iterator[Item]:
    """Any format, through the shared reader; one record number per event, digests carried."""
    from .sources import EventReader

    reader = EventReader([scanner.chunk.path], fmt, stdin=stdin)
    seen = 0
    for number, record in enumerate(reader):
        if isinstance(record, Event):
            yield record.envelope, number, 0, b""
        else:
            loc = record.location
            scanner.bad(loc.line, loc.offset, record.reason)
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
            ingest(scanner, jsonl_items(scanner, on_bytes))
        else:
            ingest(scanner, reader_items(scanner, fmt, on_bytes, stdin))
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


# -- classifying duplicates -----------------------------------------------------------

#: Kind codes, indexes into ``KINDS``.
RETRY, REPLAY, RESEND, CONFLICT = range(4)
KINDS = ("retry", "replay", "resend", "conflict")


class KindResolver:
    """Tells the kind of every duplicate of a key, re-reading input lines only when needed.

    A duplicate is compared with the first delivery of its key (precedence replay >
    retry > resend > conflict, see :mod:`gcdedup.analysis`). Cheapest test first:

    * replays are known from their record's flag;
    * two byte-identical lines are the same envelope: a retry, without parsing;
    * otherwise both lines are parsed. Values that differ as Python objects also
      differ as canonical JSON (equal canonical JSON parses to equal values), so a
      different ``id`` or ``detail`` rules out a retry and a different content rules
      out a resend without serialising anything. Only values that compare equal are
      confirmed on canonical JSON (``1``, ``1.0`` and ``true`` are equal in Python).

    Records that cannot be re-read carry their digests; a pair with one of those is
    compared by digests.
    """

    def __init__(self, paths: dict[int, str]) -> None:
        self.paths = paths  # chunk index -> file
        self._fds: dict[str, int] = {}

    def __enter__(self) -> KindResolver:
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def line(self, rec: Rec) -> bytes:
        """The input line a re-readable record came from (without a leading BOM)."""
        pos, _, offset, length, _ = REC.unpack_from(rec)
        path = self.paths[pos >> SEQ_BITS]
        fd = self._fds.get(path)
        if fd is None:
            fd = self._fds[path] = os.open(path, os.O_RDONLY)
        data = os.pread(fd, length, offset)
        return data[3:] if offset == 0 and data.startswith(_BOM) else data

    def envelope(self, rec: Rec, line: bytes) -> dict[str, Any]:
        """The envelope parsed from a record's line, as the scan saw it."""
        try:
            env = orjson.loads(line)
        except orjson.JSONDecodeError:
            env = None
        if type(env) is not dict or type(env.get("detail")) is not dict:
            path = self.paths[REC.unpack_from(rec)[0] >> SEQ_BITS]
            raise GcdedupError(f"{path} changed while it was being analysed; run stats again")
        return env

    def kinds(self, group: list[Rec]) -> bytes:
        """One kind code per duplicate of ``group`` (records sorted, first delivery first)."""
        first = group[0]
        first_line: bytes | None = None
        first_env: dict[str, Any] | None = None
        first_digests: bytes | None = None
        out = bytearray()
        for rec in itertools.islice(group, 1, None):
            if rec[_FLAGS_LOW] & REPLAY_FLAG:
                out.append(REPLAY)
            elif len(first) == REC.size and len(rec) == REC.size:
                if first_line is None:
                    first_line = self.line(first)
                line = self.line(rec)
                if line == first_line:
                    out.append(RETRY)
                    continue
                if first_env is None:
                    first_env = self.envelope(first, first_line)
                out.append(_compare(self.envelope(rec, line), first_env))
            else:
                if first_digests is None:
                    first_digests = self.digests(first)
                out.append(_compare_digests(self.digests(rec), first_digests))
        return bytes(out)

    def digests(self, rec: Rec) -> bytes:
        """Body digest + detail-and-id digest of a record (carried, or from its line)."""
        if len(rec) > REC.size:
            return rec[REC.size :]
        return event_digests(self.envelope(rec, self.line(rec)))


def _compare(env: dict[str, Any], first: dict[str, Any]) -> int:
    """Kind of a non-replay duplicate ``env`` of ``first`` (the rules of event_digests)."""
    eid, first_id = env.get("id"), first.get("id")
    if (eid if type(eid) is str else None) == (first_id if type(first_id) is str else None):
        detail, first_detail = env["detail"], first["detail"]
        if detail == first_detail and canonical_json(detail) == canonical_json(first_detail):
            return RETRY
    content, first_content = _content(env), _content(first)
    if content == first_content and canonical_json(content) == canonical_json(first_content):
        return RESEND
    return CONFLICT


def _content(env: dict[str, Any]) -> Any:
    """What a resend keeps: the eventBody object, else the whole detail."""
    detail = env["detail"]
    body = detail.get("eventBody")
    return body if type(body) is dict else detail


def _compare_digests(mine: bytes, first: bytes) -> int:
    if mine[DIGEST:] == first[DIGEST:]:
        return RETRY
    if mine[:DIGEST] == first[:DIGEST]:
        return RESEND
    return CONFLICT


def group_kinds(paths: dict[int, str], groups: list[list[Rec]]) -> list[bytes]:
    """:meth:`KindResolver.kinds` of many groups (one task of a worker process)."""
    with KindResolver(paths) as resolver:
        return [resolver.kinds(group) for group in groups]
