"""Gzip JSON Lines files, inflated into a bounded window of chunk files the scan can cut.

A line inside a gzip stream cannot be read again by offset, and a gzip stream
cannot be cut for several processes. So a gzip file the reader would read as JSON
Lines is inflated (:class:`Inflation`) into a sequence of temporary chunk files of
bounded size, each holding whole lines; each chunk is handed to a worker as a byte
range and deleted as soon as it is scanned. Offsets stay positions in the whole
inflated stream (a chunk file holds its bytes from ``Chunk.base`` on), so the file is
scanned and named exactly like a plain JSON Lines file, under the gzip file's name:
byte ranges in the worker processes, the typed fast path. Every other gzip input
(arrays, back-to-back objects, CloudWatch exports) still goes through the general
reader.

The window (:class:`Window`) bounds the temporary disk: inflating waits while as
many chunks as there are workers, plus one, are out and not yet scanned
(back-pressure), so the files never hold more than ``--temp-limit`` (default
:data:`WINDOW_BYTES`, 128 MiB; :func:`chunk_step` sizes the chunks for it), however
large the input. Its high-water mark is logged at debug level (``gcdedup -vv``).
The one exception: a chunk ends at a line end, so a single line longer than
:data:`LINE_SLACK` (a bad record anyway) takes that much more room while it is out.

Duplicates are classified by comparing their lines, which are gone by then. Once the
duplicate groups are known, the lines classification needs (the first delivery and
every duplicate that is not a replay, of keys seen more than once) are fetched by a
second sequential inflation of the file that cuts out just those lines
(:func:`pick_lines`); their content digests and key names are computed from them
(:mod:`gcdedup.analysis.refetch`) and nothing else is kept. Files without such lines
are not inflated again.

The fast path inflates in 1 MB steps with ISA-L (the optional ``isal`` package,
``pip install '.[fast-gzip]'`` in the checkout) when it is installed, with zlib otherwise.
It handles well-formed files only (any number of members, zero padding between
them); at the first sign of damage the file is inflated again through the general
reader's own stream (:class:`~gcdedup.sources.compression.Gunzip`), from the first
chunk not handed out yet, so a truncated or corrupt file keeps exactly the lines,
and gets exactly the error, that ``gcdedup process`` reports. The second pass
inflates the same way.

Cost: about one more inflation of the file (on one core, while the workers compute
digests), and memory for the duplicate groups and 32 bytes per fetched line. A
``--temp-limit`` too small for a window (under about 4 MB) sends the gzip files to
the general reader instead: no copy at all, more CPU per event (each event then
carries its content digests), one process per file.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import BinaryIO

from ..events import MAX_RECORD_BYTES, BadJSON, parse
from ..sources.compression import GZIP_MAGIC, READ_ERRORS, Gunzip, looks_gzip, read_reason
from ..sources.framing import BOM, CHUNK
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
#: Temporary disk for inflated gzip input when ``--temp-limit`` does not say (see Window).
WINDOW_BYTES = 128 * 1024 * 1024
#: A chunk ends at the first line end after its size: room left for that line.
LINE_SLACK = 64 * 1024
#: Chunks smaller than this would cost more in hand-offs than they save in disk.
MIN_STEP = 64 * 1024


class _Damaged(Exception):
    """The fast path met something it does not handle; the reference path takes over."""


@dataclass(frozen=True)
class Spill:
    """A gzip file inflated into chunk files. ``error``: why the stream ended early, if
    it did (reported as a bad record after the last line, as the reader does)."""

    source: str
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


def chunk_step(limit: int, live: int) -> int | None:
    """Bytes of inflated input per chunk file so that ``live`` chunks handed out, the
    one being written and the fast path's margin fit in ``limit`` (see :class:`Window`);
    None when ``limit`` is too small for a window (the general reader then reads the
    gzip files, without any copy)."""
    step = (limit - Inflation.MARGIN - BLOCK) // (live + 1) - LINE_SLACK
    return step if step >= MIN_STEP else None


class Window:
    """The temporary chunk files of inflated gzip input, at most ``live`` handed out.

    :meth:`hand_out` waits while ``live`` chunks are out and not yet released: the
    inflation stops there (back-pressure), so the files on disk stay within the bound
    :func:`chunk_step` sizes them for. :attr:`high_water` is the most bytes the files
    held at once (counted as they are written, until they are released). Shared by the
    pool's task thread (which writes and hands out) and the main thread (which releases).
    """

    def __init__(self, directory: str, live: int) -> None:
        self.directory = directory
        self.live = max(1, live)
        self.used = 0
        self.high_water = 0
        self._cond = threading.Condition()
        self._sizes: dict[str, int] = {}
        self._out: set[str] = set()
        self._made = 0
        self._closed = False

    def create(self) -> tuple[str, BinaryIO]:
        with self._cond:
            self._made += 1
            path = os.path.join(self.directory, f"{self._made}.jsonl")
            self._sizes[path] = 0
        return path, open(path, "wb")  # closed by the cutter

    def wrote(self, path: str, size: int) -> None:
        """``path`` is now ``size`` bytes long."""
        with self._cond:
            self.used += size - self._sizes[path]
            self._sizes[path] = size
            self.high_water = max(self.high_water, self.used)

    def hand_out(self, path: str) -> None:
        with self._cond:
            while len(self._out) >= self.live and not self._closed:
                self._cond.wait()
            if self._closed:
                raise OSError("the analysis stopped")  # nobody will release a chunk now
            self._out.add(path)

    def close(self) -> None:
        """Stop waiting: the run ended (a worker failed, or it was interrupted)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def release(self, path: str) -> None:
        """``path`` was scanned (or is not needed): delete it, let the next one out."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        with self._cond:
            self.used -= self._sizes.pop(path, 0)
            self._out.discard(path)
            self._cond.notify_all()


class Inflation:
    """Inflates one gzip file into chunk files of ``window``, handing each out when final.

    :meth:`ranges` yields ``(path, start, end)``: the file ``path`` holds the inflated
    bytes ``[start, end)`` (offsets in the whole inflated stream), cut at line starts
    about ``step`` bytes apart, each as soon as it is written and final, so worker
    processes scan the start of the file while the rest is inflated. At most
    ``pieces`` are made (the last runs to the end). Whoever scans a chunk releases it
    (:meth:`Window.release`). It yields nothing when the file is not gzip JSON Lines
    (or cannot be read). :attr:`spill` is set once every range is out.

    The fast path's bytes are final a margin behind what it has inflated: if it
    later meets damage, the file is inflated again by the reference path, which may
    lose up to one read (``CHUNK``) before the damage, never more; the bytes before
    the first chunk not handed out yet are skipped.
    """

    MARGIN = 2 * CHUNK

    def __init__(self, source: str, fmt: str, window: Window, step: int, pieces: int) -> None:
        self.source = source
        self.fmt = fmt
        self.window = window
        self.step = max(1, step)
        self.pieces = max(1, pieces)
        self.spill: Spill | None = None
        self._cutter: _Cutter | None = None

    def ranges(self) -> Iterator[tuple[str, int, int]]:
        cutter: _Cutter | None = None
        try:
            size = os.path.getsize(self.source)
            with open(self.source, "rb") as raw:
                cutter = self._cutter = _Cutter(self.window, self.step, self.pieces)
                error: str | None = None
                try:
                    for piece in _fast(self.fmt, raw):
                        cutter.write(piece)
                        yield from cutter.ready(cutter.written - self.MARGIN)
                except _Damaged:
                    raw.seek(0)
                    skip = cutter.rewind()
                    reference = _Reference(self.fmt, raw)
                    for piece in _skipped(reference.pieces(), skip):
                        cutter.write(piece)
                        yield from cutter.ready(cutter.written)
                    error = reference.error
                    cut_short = error is not None and cutter.written > cutter.line_start
                    if cut_short and not _kept(cutter.tail()):
                        cutter.truncate(cutter.line_start)
                yield from cutter.finish()
                self.spill = Spill(self.source, size, error)
        except (_NotJsonLines, OSError):
            if self.handed:
                raise  # ranges were handed out: the file changed while it was read
            return
        finally:
            if cutter is not None:
                cutter.drop()

    @property
    def handed(self) -> int:
        return self._cutter.handed if self._cutter is not None else 0


def _skipped(pieces: Iterator[bytes], skip: int) -> Iterator[bytes]:
    """``pieces`` without their first ``skip`` bytes."""
    for piece in pieces:
        if skip >= len(piece):
            skip -= len(piece)
            continue
        yield piece[skip:] if skip else piece
        skip = 0


class _Cutter:
    """Writes inflated bytes into chunk files cut at line starts about ``step`` apart."""

    def __init__(self, window: Window, step: int, pieces: int) -> None:
        self.window = window
        self.step = step
        self.pieces = pieces
        self.written = 0
        self.line_start = 0  # start of the last line (which may not be complete)
        self.start = 0  # start of the first chunk not handed out
        self.cut = 0  # start of the chunk being written
        self.handed = 0
        self.done: list[tuple[str, int, int]] = []  # complete, not handed out yet
        self.path: str | None = None
        self.fh: BinaryIO | None = None
        self.target = step

    def _put(self, data: memoryview) -> None:
        if self.fh is None:
            self.path, self.fh = self.window.create()
        assert self.path is not None
        self.fh.write(data)
        self.window.wrote(self.path, self.fh.tell())

    def _close(self, end: int) -> None:
        if self.fh is None:
            self.path, self.fh = self.window.create()  # an empty chunk
        assert self.path is not None
        self.fh.close()
        self.done.append((self.path, self.cut, end))
        self.fh = self.path = None
        self.cut = end

    def write(self, data: bytes) -> None:
        base = self.written
        view = memoryview(data)
        pos = 0
        while self.handed + len(self.done) < self.pieces - 1 and self.target < base + len(data):
            nl = data.find(b"\n", max(self.target - base, pos))
            if nl < 0:
                break  # the next write goes on looking
            self._put(view[pos : nl + 1])
            self._close(base + nl + 1)
            pos = nl + 1
            self.target = base + pos + self.step
        if pos < len(data):
            self._put(view[pos:])
        self.written = base + len(data)
        nl = data.rfind(b"\n")
        if nl >= 0:
            self.line_start = base + nl + 1

    def ready(self, final: int) -> Iterator[tuple[str, int, int]]:
        """Complete chunks whose bytes are all below ``final``; waits for room first."""
        while self.done and self.done[0][2] <= final:
            path, start, end = self.done[0]
            self.window.hand_out(path)
            self.done.pop(0)
            self.handed += 1
            self.start = end
            yield path, start, end

    def rewind(self) -> int:
        """Drop what was not handed out; returns where writing starts again (the bytes
        before it are in chunks already handed out, and stay valid)."""
        self.drop()
        self.written = self.line_start = self.cut = self.start
        self.target = self.start + self.step
        return self.start

    def tail(self) -> bytes:
        """The last line written, complete or not (it is in the chunk being written)."""
        assert self.fh is not None and self.path is not None
        self.fh.flush()
        with open(self.path, "rb") as fh:
            fh.seek(self.line_start - self.cut)
            return fh.read()

    def truncate(self, size: int) -> None:
        """Forget the bytes from ``size`` on (all in the chunk being written)."""
        assert self.fh is not None and self.path is not None
        self.fh.truncate(size - self.cut)
        self.fh.seek(size - self.cut)
        self.window.wrote(self.path, size - self.cut)
        self.written = size

    def finish(self) -> Iterator[tuple[str, int, int]]:
        if self.fh is not None or not (self.handed or self.done):
            self._close(self.written)
        yield from self.ready(self.written)

    def drop(self) -> None:
        """Delete the chunk files not handed out."""
        if self.fh is not None and self.path is not None:
            self.fh.close()
            self.window.release(self.path)
        self.fh = self.path = None
        for path, _, _ in self.done:
            self.window.release(path)
        self.done.clear()


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


def pick_lines(
    source: str, fmt: str, wanted: Sequence[tuple[int, int]]
) -> Iterator[tuple[int, bytes]]:
    """The second pass: ``(offset, line)`` for each ``(offset, length)`` of ``wanted``
    (sorted by offset) in the inflated stream of ``source``, inflated again the way
    :class:`Inflation` inflated it (the reference path from the first sign of damage).
    A line at offset 0 loses its BOM. Raises :class:`OSError` when the stream ends
    before the last wanted line (the file changed since it was scanned)."""
    picker = _Picker(wanted)
    with open(source, "rb") as raw:
        try:
            yield from picker.pick(_fast(fmt, raw))
        except _Damaged:
            raw.seek(0)
            yield from picker.pick(_Reference(fmt, raw).pieces())
        except _NotJsonLines as exc:
            raise OSError(f"{source}: not the file that was scanned") from exc
    if picker.next < len(wanted):
        raise OSError(f"{source}: shorter than when it was scanned")


class _Picker:
    """Cuts wanted lines out of inflated pieces; can start over on a new stream."""

    def __init__(self, wanted: Sequence[tuple[int, int]]) -> None:
        self.wanted = wanted
        self.next = 0

    def pick(self, pieces: Iterator[bytes]) -> Iterator[tuple[int, bytes]]:
        wanted = self.wanted
        count = len(wanted)
        base = 0  # stream offset of the piece after this one
        carry = b""  # the start of a wanted line that runs on into the next piece
        carry_start = 0
        for piece in pieces:
            start = base
            base += len(piece)
            if self.next >= count:
                return
            if carry:
                offset, length = wanted[self.next]
                if length < 0:  # its end is still to be found
                    data, first = carry + piece, carry_start
                elif offset + length > base:
                    carry += piece  # a line longer than a piece
                    continue
                else:  # complete it from the start of this piece; the rest as usual
                    line = carry + piece[: offset + length - start]
                    yield offset, _unmarked(offset, line) if offset == 0 else line
                    self.next += 1
                    data, first = piece, start
                carry = b""
            elif wanted[self.next][0] >= base:
                continue
            else:
                data, first = piece, start
            while self.next < count:
                offset, length = wanted[self.next]
                if length < 0:  # up to the end of the line
                    nl = data.find(b"\n", offset - first)
                    if nl < 0:
                        break
                    length = first + nl + 1 - offset
                if offset + length > base:
                    break
                line = data[offset - first : offset - first + length]
                yield offset, _unmarked(offset, line) if offset == 0 else line
                self.next += 1
            if self.next < count and wanted[self.next][0] < base:
                carry_start = wanted[self.next][0]
                carry = data[carry_start - first :]
            else:
                carry = b""
        if carry and wanted[self.next][1] < 0:  # a last line without a line break
            yield carry_start, _unmarked(carry_start, carry)
            self.next += 1


def _unmarked(offset: int, line: bytes) -> bytes:
    """A line without the BOM the file may start with."""
    return line[len(BOM) :] if offset == 0 and line.startswith(BOM) else line
