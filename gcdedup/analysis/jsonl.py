"""Plain JSON Lines files in byte ranges: cutting them, reading them, re-reading them.

A large uncompressed JSON Lines file is cut at line breaks into ranges that any
process can read on its own (:func:`split_ranges`). Reading a range
(:func:`range_items`) yields each event with the offset and length of its line,
so the report can re-read the few lines it has to compare; lines are read and
judged exactly as :class:`~gcdedup.sources.EventReader` reads them (same limits,
same bad-record reasons), only faster.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterator
from typing import Any

from ..events import (
    DECODE_ERRORS,
    DEEP_BYTES,
    DEEP_REASON,
    MAX_RECORD_BYTES,
    BadJSON,
    Event,
    Location,
    expand,
    fallback,
    fast_decode,
    parse,
    too_deep,
)
from ..sources.blank import blank_run
from ..sources.framing import BOM, CHUNK, line_size, oversize_reason
from .decode import Envelope
from .records import Chunk, ChunkInfo

#: What the readers hand to the scan: (envelope, offset or record number, line
#: length, line). The envelope is a dict, or an :class:`~gcdedup.analysis.decode.Envelope`
#: from the typed decoder (then the line is there for what that path cannot answer).
Item = tuple[dict[str, Any] | Envelope, int, int, bytes]


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


def range_items(
    chunk: Chunk,
    info: ChunkInfo,
    on_bytes: Callable[[int], None] | None,
    decode: Callable[[bytes], Envelope | None] | None = None,
    block: int = CHUNK,
) -> Iterator[Item]:
    """Events of one byte range with their line's offset and length; bad lines counted.

    A line that is one EventBridge envelope (nearly all) is yielded with its length,
    so the report can re-read it; events unwrapped from a batch line are yielded
    with length 0 and carry their digests instead. ``decode``: the typed decoder,
    tried first on every line nested no deeper than the contract allows (checked
    here, once per line; None: parse every line whole). ``block``: bytes per
    read, and per progress report.
    """
    assert chunk.start is not None and chunk.end is not None
    limit = MAX_RECORD_BYTES
    loads = fast_decode
    decode_errors = DECODE_ERRORS
    bad = info.add_bad
    pos = chunk.start
    end = chunk.end
    reported = pos
    lineno = 0
    with open(chunk.path, "rb", buffering=0) as raw:
        raw.seek(pos - chunk.base)
        fh = io.BufferedReader(raw, block)
        readline = fh.readline
        while pos < end:
            if on_bytes is not None and pos - reported >= block:
                on_bytes(pos - reported)
                reported = pos
            line = readline(limit + 2)
            if not line:
                break
            start = pos
            pos += len(line)
            lineno += 1
            if start == 0 and line.startswith(BOM):
                line = line[len(BOM) :]  # the re-read strips it again (offset 0)
            if len(line) > DEEP_BYTES:  # (< limit): short lines pay one comparison
                if len(line) > limit:
                    size, extra = line_size(line, readline, limit)
                    pos += extra
                    if size > limit:
                        bad(lineno, start, oversize_reason(size, limit))
                        continue
                if too_deep(line):
                    bad(lineno, start, DEEP_REASON)
                    continue
            if decode is not None:
                env = decode(line)
                if env is not None:
                    yield env, start, pos - start, line
                    continue
            try:
                doc = loads(line)
            except decode_errors:
                try:
                    doc = fallback(line)
                except BadJSON as exc:
                    if not line.isspace():
                        bad(lineno, start, exc.reason)
                    else:  # the blank lines after it, in bulk
                        for piece in blank_run(fh, end - pos):
                            lineno += piece.count(b"\n")
                            pos += len(piece)
                    continue
            if type(doc) is dict and type(doc.get("detail")) is dict:
                yield doc, start, pos - start, line
            else:
                for record in expand(doc, Location(chunk.name, lineno)):
                    if isinstance(record, Event):
                        yield record.envelope, start, 0, b""
                    else:
                        bad(lineno, start, record.reason)
    info.lines = lineno
    if on_bytes is not None and end > reported:
        on_bytes(end - reported)


def range_envelopes(chunk: Chunk) -> Iterator[tuple[int, dict[str, Any]]]:
    """Re-read a byte range's events as (line offset, envelope), in scan order."""
    assert chunk.start is not None and chunk.end is not None
    with open(chunk.path, "rb") as fh:
        fh.seek(chunk.start - chunk.base)
        pos = chunk.start
        while pos < chunk.end:
            line = fh.readline(MAX_RECORD_BYTES + 2)
            if not line:
                return
            start, pos = pos, pos + len(line)
            if line.isspace():
                for piece in blank_run(fh, chunk.end - pos):
                    pos += len(piece)
                continue
            if len(line) > MAX_RECORD_BYTES:
                pos += line_size(line, fh.readline, MAX_RECORD_BYTES)[1]
                continue
            if start == 0 and line.startswith(BOM):
                line = line[len(BOM) :]
            try:
                doc = parse(line)
            except BadJSON:
                continue
            for record in expand(doc, Location(chunk.name)):
                if isinstance(record, Event):
                    yield start, record.envelope
