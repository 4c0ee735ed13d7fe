"""Read events from files, directories, globs and stdin, in any of the input formats.

Every parsed document goes through :func:`gcdedup.events.expand`, so SQS and SNS
wrappers are unwrapped the same way as in Lambda. Reading streams: files are
read in large binary chunks and memory stays flat in the file size. A bad
record or an unreadable file becomes a :class:`~gcdedup.events.BadRecord`;
reading always continues with what follows.

Formats (``fmt``):

* ``jsonl``: one JSON document per line (blank lines are skipped).
* ``json`` / ``concat``: a JSON array (streamed element by element), a single
  object, or objects back to back with or without whitespace between them (what
  Firehose writes to S3). Both names use the same scanner; see
  :mod:`gcdedup._scan` for how it resynchronises after a bad record.
* ``cloudwatch``: CloudWatch Logs export lines, ``<timestamp> <json>``; the
  JSON starts at the first ``{`` of the line.
* ``auto`` (default): sniffed per file from the first non-blank bytes after
  decompression: ``[`` is an array, a digit a CloudWatch export, ``{`` JSON
  Lines if the first line is a complete JSON value on its own and the scanner
  otherwise; anything else is read as JSON Lines.

Gzip is detected by its magic bytes, whatever the file is called.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import io
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from itertools import chain
from typing import Any, BinaryIO

import orjson

from gcdedup._scan import CHUNK, Scanner, json_reason, oversize_reason
from gcdedup.errors import UsageError
from gcdedup.events import MAX_RECORD_BYTES, BadRecord, Event, Location, expand

FORMATS = ("auto", "jsonl", "json", "concat", "cloudwatch")

#: File names a directory walk picks up.
EXTENSIONS = (".json", ".jsonl", ".ndjson", ".gz", ".log", ".txt")

STDIN = "-"

_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_GLOB_CHARS = re.compile(r"[*?\[]")
#: Lines a Lambda runtime writes around a function's own output; not records.
_PLATFORM_LINE = re.compile(
    rb"\s*(?:\S+\s+)?(?:START|END|REPORT|INIT_START|INIT_REPORT|EXTENSION|TELEMETRY)\b"
)
#: Errors that mean the bytes of a file cannot be read (any further).
_READ_ERRORS = (OSError, EOFError, zlib.error)

Record = Event | BadRecord


def expand_paths(paths: Sequence[str]) -> list[str]:
    """Resolve files, directories (recursively, sorted) and globs, in the given order.

    ``-`` stands for stdin. Hidden files and directories are skipped in walks.
    Raises :class:`UsageError` for a path that does not exist or a glob that
    matches nothing, before anything is read.
    """
    files: list[str] = []
    for path in paths:
        if path == STDIN:
            files.append(path)
        elif os.path.isdir(path):
            files.extend(_walk(path))
        elif os.path.exists(path):
            files.append(path)
        elif _GLOB_CHARS.search(path):
            matches = sorted(glob.glob(path, recursive=True))
            if not matches:
                raise UsageError(f"no such file or directory: {path} (the pattern matches nothing)")
            for match in matches:
                if os.path.isdir(match):
                    files.extend(_walk(match))
                else:
                    files.append(match)
        else:
            raise UsageError(f"no such file or directory: {path}")
    return files


def _walk(directory: str) -> list[str]:
    """Data files under ``directory``, sorted as a path listing (``a``, ``b/c``, ``d``)."""
    found: list[tuple[list[str], str]] = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if not name.startswith(".") and name.endswith(EXTENSIONS):
                path = os.path.join(root, name)
                found.append((os.path.relpath(path, directory).split(os.sep), path))
    found.sort()
    return [path for _, path in found]


class _Counting(io.RawIOBase):
    """A raw stream that reports how many bytes it has read, for progress."""

    def __init__(self, stream: BinaryIO, on_read: Callable[[int], None]) -> None:
        super().__init__()
        self._stream = stream
        # One read per call, so a slow pipe is handled as data arrives.
        self._readinto: Callable[[Any], int | None] = getattr(stream, "readinto1", None) or (
            stream.readinto  # type: ignore[attr-defined]
        )
        self._on_read = on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._readinto(buffer) or 0
        if n:
            self._on_read(n)
        return n


class _Gunzip(io.RawIOBase):
    """Decompressed bytes as they come, so an error loses only the last step's output."""

    def __init__(self, source: io.BufferedIOBase) -> None:
        super().__init__()
        self._gzip = gzip.GzipFile(fileobj=source, mode="rb")
        self._error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        # An error is held back until the data before it has been used: the
        # buffered reader then sees the end of input, and ``check()`` raises it.
        if self._error is not None:
            return 0
        try:
            data = self._gzip.read1(len(buffer))
        except _READ_ERRORS as exc:
            self._error = exc
            return 0
        n = len(data)
        buffer[:n] = data
        return n

    @property
    def failed(self) -> bool:
        return self._error is not None

    def check(self) -> None:
        """Raise the error that ended the stream early, if any."""
        if self._error is not None:
            raise self._error


def _looks_gzip(head: bytes) -> bool:
    """The gzip magic, and the first bytes really inflate.

    The magic alone is two bytes a text file may start with by accident; such a
    file is read as text (its first line then is a bad record, not the whole file).
    """
    if head[:2] != _GZIP_MAGIC:
        return False
    try:
        zlib.decompressobj(wbits=31).decompress(head[:CHUNK], 1)
    except zlib.error:
        return False
    return True


class EventReader:
    """Stream Events and BadRecords from paths; memory flat in file size.

    Paths are resolved eagerly (so a typo fails before any work); files are
    opened one at a time while iterating. ``bytes_read`` counts on-disk
    (compressed) bytes so a progress bar can compare it with ``total_bytes``.
    """

    def __init__(
        self,
        paths: Sequence[str],
        fmt: str = "auto",
        *,
        max_record_bytes: int = MAX_RECORD_BYTES,
        stdin: BinaryIO | None = None,
    ) -> None:
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
        if max_record_bytes < 1:
            raise UsageError(f"max_record_bytes must be positive, got {max_record_bytes}")
        self.fmt = fmt
        self.max_record_bytes = max_record_bytes
        self.files: list[str] = expand_paths(paths)
        self._stdin = stdin
        self.total_bytes: int | None = None
        if STDIN not in self.files:
            total = 0
            for name in self.files:
                with contextlib.suppress(OSError):  # reported when it is read
                    total += os.path.getsize(name)
            self.total_bytes = total
        self.bytes_read = 0

    def _count(self, n: int) -> None:
        self.bytes_read += n

    def __iter__(self) -> Iterator[Record]:
        for name in self.files:
            before = self.bytes_read
            yield from self._read_file(name)
            if name != STDIN:
                # Keep progress exact even if a read stopped early.
                with contextlib.suppress(OSError):
                    self.bytes_read = before + os.path.getsize(name)

    # -- one file -------------------------------------------------------------

    def _read_file(self, name: str) -> Iterator[Record]:
        try:
            if name == STDIN:
                source: BinaryIO = self._stdin or sys.stdin.buffer
                handle = None
            else:
                handle = open(name, "rb", buffering=0)  # noqa: SIM115 - closed below
                source = handle
        except OSError as exc:
            yield BadRecord(Location(name), f"cannot open: {exc.strerror or exc}")
            return
        try:
            buffered = io.BufferedReader(_Counting(source, self._count), CHUNK)
            try:
                head = buffered.peek(CHUNK)
            except _READ_ERRORS as exc:
                yield BadRecord(Location(name), _read_reason(exc))
                return
            stream: io.BufferedIOBase = buffered
            gunzip = None
            if _looks_gzip(head):
                gunzip = _Gunzip(buffered)
                stream = io.BufferedReader(gunzip, CHUNK)
            yield from self._read_stream(name, stream, gunzip)
        finally:
            if handle is not None:
                handle.close()

    def _read_stream(
        self, name: str, stream: io.BufferedIOBase, gunzip: _Gunzip | None
    ) -> Iterator[Record]:
        fmt = self.fmt
        head: list[bytes] = []
        if fmt == "auto":
            try:
                fmt = self._sniff(stream, head)
            except _READ_ERRORS as exc:
                yield BadRecord(Location(name, len(head) + 1), _read_reason(exc))
                return
        if fmt in ("json", "concat"):
            yield from self._read_scanned(name, stream, b"".join(head), gunzip)
        else:
            yield from self._read_lines(name, stream, head, fmt == "cloudwatch", gunzip)

    def _sniff(self, stream: io.BufferedIOBase, head: list[bytes]) -> str:
        """Pick a format from the first non-blank line, keeping the lines read in ``head``.

        A first line that opens an object but is not complete JSON is either the
        start of a pretty-printed object or a cut-off JSON Lines record; the next
        non-blank line tells them apart: a complete JSON value on its own means
        JSON Lines.
        """
        text = self._next_line(stream, head)
        if not text:
            return "jsonl"
        first = text[0]
        if first == 0x5B:  # '['
            return "json"
        if 0x30 <= first <= 0x39:
            return "cloudwatch"
        if first == 0x7B:  # '{'
            try:
                orjson.loads(text)
            except orjson.JSONDecodeError:
                if not head[-1].endswith(b"\n"):
                    return "concat"  # longer than a record may be, or the only line
                second = self._next_line(stream, head)
                try:
                    orjson.loads(second)
                except orjson.JSONDecodeError:
                    return "concat"
                return "jsonl"
        return "jsonl"

    def _next_line(self, stream: io.BufferedIOBase, head: list[bytes]) -> bytes:
        """The next non-blank line without leading blanks (b"" at the end), kept in ``head``."""
        limit = self.max_record_bytes + 2
        while True:
            line = stream.readline(limit)
            if not line:
                return b""
            head.append(line)
            text = line[3:] if len(head) == 1 and line.startswith(_BOM) else line
            text = text.lstrip()
            if text:
                return text

    def _read_lines(
        self,
        name: str,
        stream: io.BufferedIOBase,
        head: list[bytes],
        cloudwatch: bool,
        gunzip: _Gunzip | None,
    ) -> Iterator[Record]:
        """JSON Lines and CloudWatch exports; the hot path of ``process`` and ``stats``."""
        limit = self.max_record_bytes
        readline = stream.readline
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        lines = iter(partial(readline, limit + 2), b"")
        if head:
            if head[0].startswith(_BOM):
                head[0] = head[0][3:]
            lines = chain(head, lines)
        lineno = 0
        try:
            for line in lines:
                lineno += 1
                if len(line) > limit:
                    size = _line_size(line, readline, limit)
                    if size > limit:
                        yield BadRecord(Location(name, lineno), oversize_reason(size, limit))
                        continue
                if cloudwatch:
                    start = line.find(b"{")
                    if start < 0:
                        if not line.isspace() and not _PLATFORM_LINE.match(line):
                            yield BadRecord(Location(name, lineno), "no JSON object on the line")
                        continue
                    if start:
                        line = line[start:]
                try:
                    document = loads(line)
                except decode_error as exc:
                    if gunzip is not None and gunzip.failed and not line.endswith(b"\n"):
                        lineno -= 1  # cut short by the gzip error reported below
                        break
                    if not line.isspace():
                        yield BadRecord(Location(name, lineno), json_reason(exc))
                    continue
                yield from expand(document, Location(name, lineno))
            if gunzip is not None:
                gunzip.check()
        except _READ_ERRORS as exc:
            yield BadRecord(Location(name, lineno + 1), _read_reason(exc))

    def _read_scanned(
        self, name: str, stream: io.BufferedIOBase, head: bytes, gunzip: _Gunzip | None
    ) -> Iterator[Record]:
        """Arrays, single objects and back-to-back objects, located by byte offset."""
        scanner = Scanner(stream.read1, self.max_record_bytes, head)
        cut: int | None = None
        try:
            for offset, document, reason in scanner:
                if reason is None:
                    yield from expand(document, Location(name, offset=offset))
                elif gunzip is not None and gunzip.failed and reason.startswith("truncated"):
                    # Cut short by the gzip error: report that error, once, here.
                    cut = offset if cut is None else cut
                else:
                    yield BadRecord(Location(name, offset=offset), reason)
            if gunzip is not None:
                gunzip.check()
        except _READ_ERRORS as exc:
            where = scanner.offset if cut is None else cut
            yield BadRecord(Location(name, offset=where), _read_reason(exc))


def _line_size(line: bytes, readline: Callable[[int], bytes], limit: int) -> int:
    """Size of a long line without its line break, reading past it in chunks if needed."""
    if line.endswith(b"\n"):
        return len(line.rstrip(b"\r\n"))
    if len(line) < limit + 2:  # end of input
        return len(line.rstrip(b"\r"))
    size = len(line)
    while True:
        chunk = readline(CHUNK)
        if not chunk:
            return size
        if chunk.endswith(b"\n"):
            return size + len(chunk.rstrip(b"\r\n"))
        size += len(chunk)


def _read_reason(exc: BaseException) -> str:
    """Name what stopped a read: a corrupt or truncated gzip stream, or an I/O error."""
    if isinstance(exc, EOFError):
        return "truncated gzip stream: the rest of the file is missing"
    if isinstance(exc, zlib.error):
        return f"corrupt gzip data ({exc}); the rest of the file is skipped"
    if isinstance(exc, gzip.BadGzipFile):
        return f"corrupt gzip data ({exc}); the rest of the file is skipped"
    if isinstance(exc, OSError) and exc.strerror:
        return f"read error ({exc.strerror}); the rest of the file is skipped"
    return f"read error ({exc}); the rest of the file is skipped"


def read_events(
    paths: Sequence[str],
    fmt: str = "auto",
    *,
    max_record_bytes: int = MAX_RECORD_BYTES,
    stdin: BinaryIO | None = None,
) -> Iterator[Record]:
    """Convenience: iterate an :class:`EventReader` over ``paths``."""
    return iter(EventReader(paths, fmt, max_record_bytes=max_record_bytes, stdin=stdin))


__all__ = [
    "EXTENSIONS",
    "FORMATS",
    "STDIN",
    "EventReader",
    "expand_paths",
    "read_events",
]
