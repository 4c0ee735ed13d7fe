"""The event reader: events and bad records from any input, in any input format.

Every parsed document goes through :func:`gcdedup.events.expand`, so SQS and SNS
wrappers are unwrapped the same way as in Lambda. Reading streams: inputs are
read in large binary chunks and memory stays flat in their size. A bad record
or an unreadable input becomes a :class:`~gcdedup.events.BadRecord`; reading
always continues with what follows.

Formats (``fmt``):

* ``jsonl``: one JSON document per line (blank lines are skipped).
* ``json`` / ``concat``: a JSON array (streamed element by element), a single
  object, or objects back to back with or without whitespace between them (what
  Firehose writes to S3). Both names use the same splitter; see
  :mod:`gcdedup.sources.splitter` for how it resynchronises after a bad record.
* ``cloudwatch``: CloudWatch Logs export lines, ``<timestamp> <json>``; the
  JSON starts at the first ``{`` of the line.
* ``auto`` (default): sniffed per input after decompression
  (:mod:`gcdedup.sources.sniff`).

Gzip is detected by its magic bytes, whatever the file is called
(:mod:`gcdedup.sources.compression`).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from itertools import chain
from typing import TYPE_CHECKING, Any, BinaryIO

from ..display import display_path
from ..errors import UsageError
from ..events import (
    DECODE_ERRORS,
    DEEP_BYTES,
    DEEP_REASON,
    MAX_RECORD_BYTES,
    BadJSON,
    BadRecord,
    Event,
    Location,
    expand,
    fallback,
    fast_decode,
    too_deep,
)
from .blank import blank_run
from .compression import READ_ERRORS, Gunzip, looks_gzip, read_reason
from .framing import BOM, CHUNK, line_size, oversize_reason
from .local import STDIN, BadInput, expand_paths, input_size, open_input
from .sniff import sniff_format
from .splitter import JsonSplitter

if TYPE_CHECKING:
    from .window import Window

FORMATS = ("auto", "jsonl", "json", "concat", "cloudwatch")

#: Lines a Lambda runtime writes around a function's own output; not records.
_PLATFORM_LINE = re.compile(
    rb"\s*(?:\S+\s+)?(?:START|END|REPORT|INIT_START|INIT_REPORT|EXTENSION|TELEMETRY)\b"
)

Record = Event | BadRecord


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
        window: Window | None = None,
    ) -> None:
        """``window``: the run's time window; ``s3://`` listings skip the objects that
        cannot hold an event of it (the events themselves are windowed by the source)."""
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
        if max_record_bytes < 1:
            raise UsageError(f"max_record_bytes must be positive, got {max_record_bytes}")
        self.fmt = fmt
        self.max_record_bytes = max_record_bytes
        self.files: list[str] = expand_paths(paths, window)
        self._stdin = stdin
        self.total_bytes: int | None = None
        if STDIN not in self.files:
            # A file that cannot be read counts 0 here; it is reported when it is read.
            self.total_bytes = sum(input_size(name) or 0 for name in self.files)
        self.bytes_read = 0

    def _count(self, n: int) -> None:
        self.bytes_read += n

    def __iter__(self) -> Iterator[Record]:
        for name in self.files:
            before = self.bytes_read
            yield from self._read_file(name)
            size = input_size(name)
            if size is not None:
                self.bytes_read = before + size  # exact even if a read stopped early

    # -- one input ------------------------------------------------------------

    def _read_file(self, path: str) -> Iterator[Record]:
        name = display_path(str(path))  # what reports show; the file is opened by ``path``
        if isinstance(path, BadInput):
            yield BadRecord(Location(name), path.reason)
            return
        try:
            source, handle = open_input(path, self._stdin)
        except OSError as exc:
            yield BadRecord(Location(name), f"cannot open: {exc.strerror or exc}")
            return
        try:
            buffered = io.BufferedReader(_Counting(source, self._count), CHUNK)
            try:
                head = buffered.peek(CHUNK)
            except READ_ERRORS as exc:
                yield BadRecord(Location(name), read_reason(exc))
                return
            stream: io.BufferedIOBase = buffered
            gunzip = None
            if looks_gzip(head):
                gunzip = Gunzip(buffered)
                stream = io.BufferedReader(gunzip, CHUNK)
            yield from self._read_stream(name, stream, gunzip)
        finally:
            if handle is not None:
                handle.close()

    def _read_stream(
        self, name: str, stream: io.BufferedIOBase, gunzip: Gunzip | None
    ) -> Iterator[Record]:
        fmt = self.fmt
        head: list[bytes] = []
        if fmt == "auto":
            try:
                fmt = sniff_format(stream.readline, self.max_record_bytes, head, stream)  # type: ignore[arg-type]
            except READ_ERRORS as exc:
                yield BadRecord(Location(name, len(head) + 1), read_reason(exc))
                return
        if fmt in ("json", "concat"):
            yield from self._read_scanned(name, stream, b"".join(head), gunzip)
        else:
            yield from self._read_lines(name, stream, head, fmt == "cloudwatch", gunzip)

    def _read_lines(
        self,
        name: str,
        stream: io.BufferedIOBase,
        head: list[bytes],
        cloudwatch: bool,
        gunzip: Gunzip | None,
    ) -> Iterator[Record]:
        """JSON Lines and CloudWatch exports; the hot path of ``process`` and ``stats``."""
        limit = self.max_record_bytes
        readline = stream.readline
        loads = fast_decode
        decode_errors = DECODE_ERRORS
        lines = iter(partial(readline, limit + 2), b"")
        # Lines in the sniffed head; a blank line after them starts a run to skip in
        # bulk (the sniffer already took the runs inside the head in bulk).
        in_head = 0
        if head:
            if head[0].startswith(BOM):
                head[0] = head[0][len(BOM) :]
            lines = chain(head, lines)
            in_head = sum(h.count(b"\n") for h in head) + (not head[-1].endswith(b"\n"))
        # Lines up to this long need neither the size check nor the depth check.
        short = min(limit, DEEP_BYTES)
        lineno = 0
        try:
            for line in lines:
                lineno += 1
                deep = False
                if len(line) > short:
                    if len(line) > limit and not line.isspace():
                        size = line_size(line, readline, limit)[0]
                        if size > limit:
                            yield BadRecord(Location(name, lineno), oversize_reason(size, limit))
                            continue
                    deep = True  # checked once the JSON is cut out of the line
                if cloudwatch:
                    start = line.find(b"{")
                    if start < 0:
                        if line.isspace():
                            lineno = _skip_blank(line, lineno, in_head, stream)
                        elif not _PLATFORM_LINE.match(line):
                            yield BadRecord(Location(name, lineno), "no JSON object on the line")
                        continue
                    if start:
                        line = line[start:]
                try:
                    if deep and too_deep(line):
                        raise BadJSON(DEEP_REASON)
                    try:
                        document = loads(line)
                    except decode_errors:
                        document = fallback(line)
                except BadJSON as exc:
                    if gunzip is not None and gunzip.failed and not line.endswith(b"\n"):
                        lineno -= 1  # cut short by the gzip error reported below
                        break
                    if not line.isspace():
                        yield BadRecord(Location(name, lineno), exc.reason)
                    else:
                        lineno = _skip_blank(line, lineno, in_head, stream)
                    continue
                yield from expand(document, Location(name, lineno))
            if gunzip is not None:
                gunzip.check()
        except READ_ERRORS as exc:
            yield BadRecord(Location(name, lineno + 1), read_reason(exc))

    def _read_scanned(
        self, name: str, stream: io.BufferedIOBase, head: bytes, gunzip: Gunzip | None
    ) -> Iterator[Record]:
        """Arrays, single objects and back-to-back objects, located by byte offset."""
        splitter = JsonSplitter(stream.read1, self.max_record_bytes, head)
        cut: int | None = None
        try:
            for offset, document, reason in splitter:
                if reason is None:
                    yield from expand(document, Location(name, offset=offset))
                elif gunzip is not None and gunzip.failed and reason.startswith("truncated"):
                    # Cut short by the gzip error: report that error, once, here.
                    cut = offset if cut is None else cut
                else:
                    yield BadRecord(Location(name, offset=offset), reason)
            if gunzip is not None:
                gunzip.check()
        except READ_ERRORS as exc:
            where = splitter.offset if cut is None else cut
            yield BadRecord(Location(name, offset=where), read_reason(exc))


def _skip_blank(line: bytes, lineno: int, in_head: int, stream: io.BufferedIOBase) -> int:
    """The line number after a blank ``line`` (number ``lineno``) and the blank lines
    that follow it in ``stream``, consumed in bulk (see :mod:`.blank`)."""
    lineno += line.count(b"\n", 0, len(line) - 1)  # a run the sniffer took in bulk
    if lineno >= in_head:
        for piece in blank_run(stream):  # type: ignore[arg-type]
            lineno += piece.count(b"\n")
    return lineno


def read_events(
    paths: Sequence[str],
    fmt: str = "auto",
    *,
    max_record_bytes: int = MAX_RECORD_BYTES,
    stdin: BinaryIO | None = None,
) -> Iterator[Record]:
    """Convenience: iterate an :class:`EventReader` over ``paths``."""
    return iter(EventReader(paths, fmt, max_record_bytes=max_record_bytes, stdin=stdin))


__all__ = ["FORMATS", "EventReader", "Record", "read_events"]
