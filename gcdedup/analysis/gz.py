"""Gzip JSON Lines files, inflated once into a plain file the byte-range scan can cut.

A line inside a gzip stream cannot be read again by offset, and a gzip stream
cannot be cut for several processes. So a gzip file the reader would read as JSON
Lines is inflated once (:class:`Inflation`) into a temporary plain file (a
*spill*); from then on it is scanned, classified and named exactly like a plain
JSON Lines file, under the gzip file's name: byte ranges in the worker processes,
the typed fast path, duplicates compared by re-reading their lines. Every other
gzip input (arrays, back-to-back objects, CloudWatch exports) still goes through
the general reader. Ranges are handed out while the file is still being inflated,
so the workers scan the start of a large file while the rest is inflated (see
:mod:`gcdedup.analysis.run` for who inflates what).

The fast path inflates in 1 MB steps with ISA-L (the optional ``isal`` package,
``pip install '.[fast-gzip]'`` in the checkout) when it is installed, with zlib otherwise.
It handles well-formed files only (any number of members, zero padding between
them); at the first sign of damage the file is inflated again through the general
reader's own stream (:class:`~gcdedup.sources.compression.Gunzip`), so a truncated
or corrupt file keeps exactly the lines, and gets exactly the error, that
``gcdedup process`` reports.

Cost: the spill takes disk space (in ``TMPDIR``) as large as the inflated input
while ``stats`` runs; it is deleted at the end. Memory does not grow with it. A limit
on that space (``--temp-limit``, :func:`within_limit`) sends the gzip files that do
not fit to the general reader instead: no copy, more CPU per event (each event then
carries its content digests), one process per file.
"""

from __future__ import annotations

import importlib
import io
import os
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import BinaryIO

from ..events import MAX_RECORD_BYTES, BadJSON, parse
from ..sources.compression import GZIP_MAGIC, READ_ERRORS, Gunzip, looks_gzip, read_reason
from ..sources.framing import CHUNK
from ..sources.local import is_regular
from ..sources.sniff import sniff_format


def _fastest_inflate() -> ModuleType:
    """ISA-L's zlib-compatible module when installed (about twice as fast), else zlib."""
    try:
        return importlib.import_module("isal.isal_zlib")
    except ImportError:  # pragma: no cover - depends on the environment
        return zlib


#: The inflate implementation of the fast path (tests switch it to zlib).
INFLATE: ModuleType = _fastest_inflate()
#: Compressed bytes read, and most inflated bytes made, per step of the fast path
#: (larger blocks measured slower: fresh memory for every one).
BLOCK = CHUNK
#: Inflated bytes after which the fast path leaves sniffing the format to the
#: reference path (only megabytes of blank lines get there).
SNIFF_BYTES = 2 * (MAX_RECORD_BYTES + 2) + 3 * CHUNK


class _Damaged(Exception):
    """The fast path met something it does not handle; the reference path takes over."""


@dataclass(frozen=True)
class Spill:
    """A gzip file inflated to ``path``. ``error``: why the stream ended early, if it did
    (reported as a bad record after the last line, as the reader does)."""

    source: str
    path: str
    size: int  # compressed bytes, for progress
    error: str | None = None


class _NotJsonLines(Exception):
    """The file is not gzip JSON Lines: the general reader reads it."""


def spillable(name: str, fmt: str) -> bool:
    """A regular file starting with the gzip magic, read as JSON Lines or sniffed."""
    if fmt not in ("auto", "jsonl") or not is_regular(name):
        return False
    try:
        with open(name, "rb") as fh:
            return fh.read(len(GZIP_MAGIC)) == GZIP_MAGIC
    except OSError:
        return False


def inflated_size(name: str, ratio: int) -> int:
    """About how large ``name`` is inflated: the size its last member records when that
    is plausible, else ``ratio`` times its size (for planning only)."""
    try:
        size = os.path.getsize(name)
        with open(name, "rb") as fh:
            fh.seek(max(0, size - 4))
            recorded = int.from_bytes(fh.read(4), "little")
    except OSError:
        return 0
    return recorded if recorded >= size else size * ratio


def parse_size(text: str) -> int:
    """Bytes from ``0``, ``500000``, ``200K``, ``500M``, ``2G`` (powers of 1024)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if match is None:
        raise ValueError(f"not a size: {text!r} (use e.g. 0, 500M, 2G)")
    power = "_KMGT".index(match[2].upper()) if match[2] else 0
    return int(float(match[1]) * 1024**power)


def within_limit(
    files: Sequence[str], gz: Sequence[int], limit: int | None, ratio: int
) -> tuple[list[int], list[int]]:
    """Which gzip files (indexes into ``files``) get a temporary plain copy and which
    are read without one: in input order, while their inflated sizes (as the gzip
    trailers record them: see :func:`inflated_size`) add up to at most ``limit``."""
    if limit is None:
        return list(gz), []
    spilled: list[int] = []
    streamed: list[int] = []
    used = 0
    for n in gz:
        size = inflated_size(files[n], ratio)
        if used + size <= limit:
            spilled.append(n)
            used += size
        else:
            streamed.append(n)
    return spilled, streamed


class Inflation:
    """Inflates one gzip file into ``target``, handing out byte ranges as they are final.

    :meth:`ranges` yields up to ``pieces`` ranges that start at line starts, about
    ``step`` bytes apart, each as soon as its bytes are written and final, so worker
    processes scan the start of the file while the rest is inflated; the last range
    runs to the end. It yields nothing when the file is not gzip JSON Lines (or
    cannot be read). :attr:`spill` is set once every range is out.

    The fast path's bytes are final a margin behind what it has inflated: if it
    later meets damage, the file is inflated again by the reference path, which may
    lose up to one read (``CHUNK``) before the damage, never more.
    """

    MARGIN = 2 * CHUNK

    def __init__(self, source: str, fmt: str, target: str, step: int, pieces: int) -> None:
        self.source = source
        self.fmt = fmt
        self.target = target
        self.step = max(1, step)
        self.pieces = max(1, pieces)
        self.spill: Spill | None = None
        self._cutter: _Cutter | None = None

    def ranges(self) -> Iterator[tuple[int, int]]:
        try:
            size = os.path.getsize(self.source)
            with open(self.source, "rb") as raw, open(self.target, "wb") as out:
                cutter = self._cutter = _Cutter(out, self.step, self.pieces)
                error: str | None = None
                try:
                    for piece in _fast(self.fmt, raw):
                        cutter.write(piece)
                        yield from cutter.ready(cutter.written - self.MARGIN)
                except _Damaged:
                    raw.seek(0)
                    out.seek(0)
                    cutter.rewind()
                    reference = _Reference(self.fmt, raw)
                    for piece in reference.pieces():
                        cutter.write(piece)
                        yield from cutter.ready(cutter.written)
                    error = reference.error
                    if error is not None and cutter.written > cutter.line_start:
                        out.flush()
                        with open(self.target, "rb") as fh:
                            fh.seek(cutter.line_start)
                            if not _kept(fh.read()):
                                cutter.written = cutter.line_start
                out.flush()
                out.truncate(cutter.written)
                yield from cutter.finish()
                self.spill = Spill(self.source, self.target, size, error)
        except (_NotJsonLines, OSError):
            if self.handed:
                raise  # ranges were handed out: the file changed while it was read
            return

    @property
    def handed(self) -> int:
        return self._cutter.handed if self._cutter is not None else 0


class _Cutter:
    """Writes inflated bytes and finds cut points at line starts about ``step`` apart."""

    def __init__(self, out: BinaryIO, step: int, pieces: int) -> None:
        self.out = out
        self.step = step
        self.pieces = pieces
        self.written = 0
        self.line_start = 0  # start of the last line (which may not be complete)
        self.start = 0  # start of the next range to hand out
        self.handed = 0
        self.cuts: list[int] = []
        self.target = step

    def write(self, data: bytes) -> None:
        base = self.written
        self.out.write(data)
        self.written += len(data)
        nl = data.rfind(b"\n")
        if nl >= 0:
            self.line_start = base + nl + 1
        while self.handed + len(self.cuts) < self.pieces - 1 and self.target < self.written:
            nl = data.find(b"\n", max(self.target, base) - base)
            if nl < 0:
                break  # the next write goes on looking
            cut = base + nl + 1
            self.cuts.append(cut)
            self.target = cut + self.step

    def ready(self, final: int) -> Iterator[tuple[int, int]]:
        """Ranges whose bytes are all below ``final``, written through to the file."""
        if self.cuts and self.cuts[0] <= final:
            self.out.flush()  # other processes read the range from the file
        while self.cuts and self.cuts[0] <= final:
            cut = self.cuts.pop(0)
            yield self.start, cut
            self.start = cut
            self.handed += 1

    def rewind(self) -> None:
        """Start writing again from the beginning (the ranges handed out stay valid)."""
        self.written = self.line_start = 0
        self.cuts.clear()
        self.target = self.start + self.step

    def finish(self) -> Iterator[tuple[int, int]]:
        yield from self.ready(self.written)
        yield self.start, self.written


def _fast(fmt: str, raw: BinaryIO) -> Iterator[bytes]:
    """The inflated bytes of a well-formed gzip JSON Lines file; _Damaged on anything
    else it meets, _NotJsonLines when the file is something else."""
    first = raw.read(CHUNK)
    if not looks_gzip(first):
        raise _NotJsonLines  # text that starts with the magic by accident
    pieces = _inflate(raw, first)
    head: list[bytes] = []
    for piece in pieces:
        head.append(piece)
        if _sniffed(fmt, head, False) is not None:
            break
    else:
        if not _sniffed(fmt, head, True):
            raise _NotJsonLines
        yield from head
        return
    if not _sniffed(fmt, head, False):
        raise _NotJsonLines
    yield from head
    yield from pieces


def _sniffed(fmt: str, head: list[bytes], complete: bool) -> bool | None:
    """Whether the inflated ``head`` of a file is read as JSON Lines; None when the
    answer could depend on bytes near its end (which damage further on could take).
    Usually the first piece answers, without copying anything."""
    if fmt == "jsonl":
        return True
    data = head[0] if len(head) == 1 else b"".join(head)
    stream = io.BufferedReader(io.BytesIO(data), CHUNK)  # peek: blank runs in bulk
    found = sniff_format(stream.readline, MAX_RECORD_BYTES, [], stream)
    if not complete and stream.tell() + CHUNK >= len(data):
        if len(data) >= SNIFF_BYTES:
            raise _Damaged  # blank lines by the megabyte: the reference path decides
        return None
    return found == "jsonl"


def _inflate(raw: BinaryIO, first: bytes) -> Iterator[bytes]:
    """The inflated bytes of every member, in pieces of at most BLOCK bytes."""
    inflate = INFLATE
    d = inflate.decompressobj(wbits=31)
    pending = first
    try:
        while True:
            data = pending or raw.read(BLOCK)
            if not data:
                break
            if d.eof:
                data = data.lstrip(b"\x00")  # zero padding between members
                if not data:
                    pending = b""
                    continue
                if not data.startswith(GZIP_MAGIC):
                    raise _Damaged  # trailing garbage, or a magic cut by a block
                d = inflate.decompressobj(wbits=31)
            piece = d.decompress(data, BLOCK)
            pending = d.unused_data if d.eof else d.unconsumed_tail
            if piece:
                yield piece
    except _Damaged:
        raise
    except Exception as exc:  # zlib.error, isal's IsalError, EOFError, ...
        raise _Damaged from exc
    if not d.eof:
        raise _Damaged  # truncated


class _Reference:
    """Inflates through the general reader's own stream, so damage is met where the
    reader meets it: the same lines before it, the same error."""

    def __init__(self, fmt: str, raw: BinaryIO) -> None:
        self.fmt = fmt
        self.raw = raw
        self.error: str | None = None

    def pieces(self) -> Iterator[bytes]:
        buffered = io.BufferedReader(self.raw, CHUNK)  # type: ignore[type-var]
        try:
            if not looks_gzip(buffered.peek(CHUNK)):
                raise _NotJsonLines
        except READ_ERRORS as exc:
            raise _NotJsonLines from exc
        gunzip = Gunzip(buffered)
        stream = io.BufferedReader(gunzip, CHUNK)
        head: list[bytes] = []
        auto = self.fmt == "auto"
        if auto and sniff_format(stream.readline, MAX_RECORD_BYTES, head, stream) != "jsonl":
            raise _NotJsonLines
        yield from head
        yield from iter(lambda: stream.read1(CHUNK), b"")
        try:
            gunzip.check()
        except READ_ERRORS as exc:
            self.error = read_reason(exc)


def _kept(tail: bytes) -> bool:
    """Whether the reader keeps a last line the stream cut short: an over-long line is
    reported as such, a line that still parses is read; anything else is dropped."""
    if len(tail.rstrip(b"\r")) > MAX_RECORD_BYTES:
        return True
    try:
        parse(tail)
    except BadJSON:
        return False
    return True
