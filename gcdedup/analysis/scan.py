"""The hot half of ``gcdedup stats``: read chunks of input into mergeable partial results.

A chunk (:class:`~gcdedup.analysis.records.Chunk`) is a byte range of a plain JSON
Lines file (read by :mod:`gcdedup.analysis.jsonl`) or a whole file of any other
format (read through :class:`~gcdedup.sources.EventReader`). Scanning a chunk
(:func:`scan_chunk`) yields a :class:`~gcdedup.analysis.records.Partial`. Nothing is
classified here: the first occurrence of a key is only known once all partials are
merged (see :mod:`gcdedup.analysis.tally`).

Per event the scan only parses the line and computes what every event needs: its
key digest, topic family, arrival watermark and a small packed record. With the
default key strategy, a plain JSON Lines line is decoded into the few fields that
needs (:mod:`gcdedup.analysis.decode`); any other line, and any line that path
cannot answer exactly, is parsed whole. The content digests that tell a retry from
a resend or a conflict are needed for duplicates only (a small fraction), so a JSON
Lines event stores where its line is (offset and length) instead, and the report
re-reads the few lines it has to compare. Events read any other way (gzip, arrays,
stdin, SQS batches) cannot be re-read cheaply and carry their digests in the record
(:func:`~gcdedup.analysis.classify.event_digests`).
"""

from __future__ import annotations

import calendar
import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ..errors import KeyStrategyError
from ..events import Event, Location, parse, topic_family
from ..keys import MAX_KEY_BYTES, KeyMaker, bounded_key, genesys_envelope_key
from ..sources import EventReader
from ..sources.framing import CHUNK
from . import decode as typed
from .classify import event_digests
from .jsonl import Item, range_envelopes, range_items
from .records import REC, SEQ_BITS, Chunk, ChunkInfo, KeyDigest, Partial, Rec, Slot, empty_partial


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


def _genesys_body(env: dict[str, Any]) -> str | None:
    """The ``genesys`` key body of an envelope dict without building an Event; None if
    the rules raised (the general path then reports the event as unkeyable)."""
    try:
        return genesys_envelope_key(env)
    except Exception:
        return None


class ChunkScanner:
    """One chunk's state while it is read (one process, no locks).

    ``digest``: the key digest of the run (see
    :func:`~gcdedup.analysis.records.key_digest_for`); ``decode_fast``: whether plain
    JSON Lines may take the typed decoder (used with one strategy, genesys, only).
    """

    def __init__(
        self,
        chunk: Chunk,
        makers: Sequence[KeyMaker],
        partial: Partial,
        digest: Callable[[str], KeyDigest] = hash,
        decode_fast: bool = True,
    ) -> None:
        self.chunk = chunk
        self.makers = list(makers)
        self.partial = partial
        self.digest = digest
        self.info = ChunkInfo()
        partial.chunks[chunk.index] = self.info
        self.location = Location(chunk.name)
        #: detail-type -> family index, for detail-types that are templates themselves.
        self.family_cache: dict[str, int] = {}
        self._family_index: dict[str, int] = {}
        self.prefixes = [m.namespace + "#" if m.strategy.prefixed else "" for m in self.makers]
        self.fast = [m.strategy.name == "genesys" for m in self.makers]
        self.decode_fast = decode_fast and self.fast == [True]

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
            body = _genesys_body(env)
            if body is not None:
                return bounded_key(self.prefixes[i], body)
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
            kd = self.digest(key)
            prev = maps[i].setdefault(kd, rec)
            if prev is not rec:
                self.repeat(i, kd, prev, rec, key)


def ingest(scanner: ChunkScanner, items: Iterable[Item]) -> None:
    """The per-event loop: family, watermark, record and keys of every event of a chunk.

    Written flat with local names because it runs once per event: attribute and
    method lookups would cost as much as the work. Rare cases (a new family, a key
    the fast paths cannot give, duplicates) go through scanner methods.
    """
    info = scanner.info
    primary = scanner.partial.maps[0]
    fast = scanner.fast[0]
    prefix = scanner.prefixes[0]
    others = len(scanner.makers) > 1
    families = scanner.family_cache
    counts = info.family_events
    pack = REC.pack
    digest = scanner.digest
    decoded_key = typed.genesys_key
    dict_key = _genesys_body
    unset = typed.UNSET
    base = scanner.chunk.index << SEQ_BITS
    seq = 0
    wm, wm_text = -1, ""
    t_min, t_max, min_text = -1, -1, "\uffff"
    env: Any  # a dict, or an Envelope from the typed decoder
    detail: Any
    for env, offset, length, line in items:
        decoded = type(env) is not dict
        if decoded:
            detail = env.detail
            t = env.time
            dt = env.detail_type
            replay = env.replay_name is not unset
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
            key = dict_key(env)
        else:
            key = None
        if key is not None:
            body = key
            key = prefix + body
            if len(key) * 4 > MAX_KEY_BYTES:  # maybe over the limit: keys.py decides
                key = bounded_key(prefix, body)
        else:
            if decoded:
                env = parse(line)
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


def reader_items(
    chunk: Chunk,
    info: ChunkInfo,
    fmt: str,
    on_bytes: Callable[[int], None] | None,
    stdin: Any = None,
) -> Iterator[Item]:
    """Any format, through the shared reader; one record number per event, digests carried."""
    reader = EventReader([chunk.path], fmt, stdin=stdin)
    seen = 0
    for number, record in enumerate(reader):
        if isinstance(record, Event):
            yield record.envelope, number, 0, b""
        else:
            loc = record.location
            info.add_bad(loc.line, loc.offset, record.reason)
        if on_bytes is not None and reader.bytes_read - seen >= CHUNK:
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
    *,
    digest: Callable[[str], KeyDigest] = hash,
    decode_fast: bool = True,
    block: int = CHUNK,
) -> Partial:
    """Scan one chunk into a fresh Partial (what each worker process runs).

    ``digest``: the run's key digest; ``decode_fast=False`` parses every line whole
    (the typed decoder must give the same result); ``block``: bytes per read of a
    byte range.
    """
    partial = empty_partial(len(makers))
    scanner = ChunkScanner(chunk, makers, partial, digest, decode_fast)
    # The maps hold only bytes; the cyclic collector would walk the parsed dicts for nothing.
    enabled = gc.isenabled()
    gc.disable()
    try:
        if chunk.start is not None:
            decode = typed.decode_shallow if scanner.decode_fast else None  # depth: range_items
            ingest(scanner, range_items(chunk, scanner.info, on_bytes, decode, block))
        else:
            ingest(scanner, reader_items(chunk, scanner.info, fmt, on_bytes, stdin))
    finally:
        if enabled:
            gc.enable()
    return partial


def iter_records(chunk: Chunk, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Re-read a chunk's events as (offset or record number, envelope), in scan order;
    used to name the few keys a report shows."""
    if chunk.start is not None:
        yield from range_envelopes(chunk)
        return
    for number, record in enumerate(EventReader([chunk.path], fmt)):
        if isinstance(record, Event):
            yield number, record.envelope
