"""Gzip JSON Lines files, inflated once into a plain file the byte-range scan can cut.

A line inside a gzip stream cannot be read again by offset, and a gzip stream
cannot be cut for several processes. So a gzip file the reader would read as JSON
Lines is inflated once (:func:`spill`) into a temporary plain file (a *spill*);
from then on it is scanned, classified and named exactly like a plain JSON Lines
file, under the gzip file's name: byte ranges in the worker processes, the typed
fast path, duplicates compared by re-reading their lines. Every other gzip input
(arrays, back-to-back objects, CloudWatch exports) still goes through the general
reader.

Inflating is done in large blocks by ISA-L (the optional ``isal`` package,
``pip install 'gcdedup[fast-gzip]'``) when it is installed, by zlib otherwise.
That fast path handles well-formed files only (any number of members, zero
padding between them); at the first sign of damage the file is inflated again
through the general reader's own stream (:class:`~gcdedup.sources.compression.Gunzip`),
so a truncated or corrupt file keeps exactly the lines, and gets exactly the
error, that ``gcdedup process`` reports.

Cost: the spill takes disk space (in ``TMPDIR``) as large as the inflated input
while ``stats`` runs; it is deleted at the end. Memory does not grow with it.
"""

from __future__ import annotations

import importlib
import io
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import BinaryIO

from ..events import DECODE_ERRORS, MAX_RECORD_BYTES, BadJSON, fallback, fast_decode
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
#: Compressed bytes per step of the fast path.
BLOCK = 4 * CHUNK
#: Inflated bytes the fast path reads ahead before it sniffs the format.
SNIFF_BYTES = 3 * (MAX_RECORD_BYTES + 2)


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


def spillable(name: str, fmt: str) -> bool:
    """A regular file starting with the gzip magic, read as JSON Lines or sniffed."""
    if fmt not in ("auto", "jsonl") or not is_regular(name):
        return False
    try:
        with open(name, "rb") as fh:
            return fh.read(len(GZIP_MAGIC)) == GZIP_MAGIC
    except OSError:
        return False


def spill(task: tuple[str, str, str]) -> Spill | None:
    """Inflate ``source`` into ``target`` when it is gzip JSON Lines; None (and no
    file) when it is anything else, which the general reader then reads."""
    source, fmt, target = task
    try:
        size = os.path.getsize(source)
        with open(source, "rb") as raw, open(target, "wb") as out:
            try:
                return _fast(source, fmt, raw, out, size)
            except _Damaged:
                pass
            raw.seek(0)
            out.seek(0)
            out.truncate()
            return _reference(source, fmt, raw, out, size)
    except OSError:
        pass  # unreadable: the general reader reports it
    if os.path.exists(target):
        os.unlink(target)
    return None


def _sniffed_jsonl(fmt: str, head: bytes, complete: bool) -> bool:
    if fmt == "jsonl":
        return True
    stream = io.BytesIO(head)
    found = sniff_format(stream.readline, MAX_RECORD_BYTES, [])
    if not complete and stream.tell() >= len(head):
        raise _Damaged  # the sniff needs more than was read ahead
    return found == "jsonl"


def _fast(source: str, fmt: str, raw: BinaryIO, out: BinaryIO, size: int) -> Spill | None:
    """Inflate a well-formed gzip file in large blocks; raise _Damaged on anything else."""
    first = raw.read(CHUNK)
    if not looks_gzip(first):
        return None  # text that starts with the magic by accident
    head = bytearray()
    pieces = _inflate(raw, first)
    for piece in pieces:
        head += piece
        if len(head) >= SNIFF_BYTES:
            break
    else:
        if not _sniffed_jsonl(fmt, bytes(head), True):
            return None
        out.write(head)
        return Spill(source, _name(out), size)
    if not _sniffed_jsonl(fmt, bytes(head), False):
        return None
    out.write(head)
    for piece in pieces:
        out.write(piece)
    return Spill(source, _name(out), size)


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


def _name(out: BinaryIO) -> str:
    return str(out.name)


def _reference(source: str, fmt: str, raw: BinaryIO, out: BinaryIO, size: int) -> Spill | None:
    """Inflate through the general reader's stream, so damage is met where it meets it."""
    buffered = io.BufferedReader(raw, CHUNK)  # type: ignore[type-var]
    try:
        if not looks_gzip(buffered.peek(CHUNK)):
            return None
    except READ_ERRORS:
        return None
    gunzip = Gunzip(buffered)
    stream = io.BufferedReader(gunzip, CHUNK)
    head: list[bytes] = []
    if fmt == "auto" and sniff_format(stream.readline, MAX_RECORD_BYTES, head) != "jsonl":
        return None
    written = 0
    line_start = 0  # offset of the line the stream may have cut short
    for data in [b"".join(head), *iter(lambda: stream.read1(CHUNK), b"")]:
        if not data:
            continue
        out.write(data)
        nl = data.rfind(b"\n")
        if nl >= 0:
            line_start = written + nl + 1
        written += len(data)
    error: str | None = None
    try:
        gunzip.check()
    except READ_ERRORS as exc:
        error = read_reason(exc)
        if written > line_start:
            out.flush()
            with open(out.name, "rb") as fh:
                fh.seek(line_start)
                tail = fh.read()
            if not _kept(tail):
                out.truncate(line_start)
    return Spill(source, _name(out), size, error)


def _kept(tail: bytes) -> bool:
    """Whether the reader keeps a last line the stream cut short: an over-long line is
    reported as such, a line that still parses is read; anything else is dropped."""
    if len(tail.rstrip(b"\r")) > MAX_RECORD_BYTES:
        return True
    try:
        fast_decode(tail)
    except DECODE_ERRORS:
        try:
            fallback(tail)
        except BadJSON:
            return False
    return True
