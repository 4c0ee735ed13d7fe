"""Runs of blank lines, consumed in bulk.

A blank line (only spaces, tabs, ``\\r``, ``\\v``, ``\\f``) is no record, and every
reader skips it. One by one that costs a ``readline`` and a failed parse each (6-8 us):
a few kilobytes of gzip can inflate to millions of them. So when a reader meets a
blank line it hands its stream to :func:`blank_run`, which consumes the whole lines
of whitespace that follow with one regular-expression search per buffer, and the
reader counts their newlines so the line numbers of later records stay exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol

#: The first byte that is not whitespace as ``bytes.isspace`` defines it.
_NOT_SPACE = re.compile(rb"[^ \t\n\r\x0b\x0c]")


class Peekable(Protocol):
    """A buffered binary stream (``io.BufferedReader``)."""

    def peek(self, size: int = ..., /) -> bytes: ...

    def read(self, size: int | None = ..., /) -> bytes: ...


def blank_run(stream: Peekable, max_bytes: int | None = None) -> Iterator[bytes]:
    """Consume the whole blank lines at ``stream``'s position, yielding them in pieces.

    Each piece ends with a newline and is at most one buffer long. Stops before the
    first line that holds anything else, before a line whose end is not in the
    buffer yet (the caller reads that one as usual), and after ``max_bytes``.
    """
    while max_bytes is None or max_bytes > 0:
        buf = stream.peek(1)
        if max_bytes is not None and len(buf) > max_bytes:
            buf = buf[:max_bytes]
        found = _NOT_SPACE.search(buf)
        stop = found.start() if found is not None else len(buf)
        nl = buf.rfind(b"\n", 0, stop)
        if nl < 0:
            return
        piece = stream.read(nl + 1)
        yield piece
        if max_bytes is not None:
            max_bytes -= len(piece)
        if found is not None:
            return
