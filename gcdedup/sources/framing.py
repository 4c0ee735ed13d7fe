"""How records sit in bytes: the read size, the UTF-8 BOM, over-long lines, and the
reasons a record is bad. Shared by every reader of event bytes (the event reader,
the JSON stream splitter, and the ``stats`` scan of plain JSON Lines)."""

from __future__ import annotations

from collections.abc import Callable

from ..events import json_reason

__all__ = ["BOM", "CHUNK", "json_reason", "line_size", "oversize_reason"]

#: How many bytes to read at a time.
CHUNK = 1 << 20
#: The UTF-8 byte order mark; skipped at the start of an input.
BOM = b"\xef\xbb\xbf"


def line_size(line: bytes, readline: Callable[[int], bytes], limit: int) -> tuple[int, int]:
    """Size of a long line without its line break, and the bytes read past ``line``.

    ``line`` came from ``readline(limit + 2)``; when it holds no line break and is
    that long, the rest of the line is read (and dropped) in chunks.
    """
    if line.endswith(b"\n"):
        return len(line.rstrip(b"\r\n")), 0
    if len(line) < limit + 2:  # end of input
        return len(line.rstrip(b"\r")), 0
    size, extra = len(line), 0
    while True:
        more = readline(CHUNK)
        if not more:
            return size, extra
        extra += len(more)
        if more.endswith(b"\n"):
            return size + len(more.rstrip(b"\r\n")), extra
        size += len(more)


def oversize_reason(size: int, limit: int, *, at_least: bool = False) -> str:
    qualifier = "at least " if at_least else ""
    return f"record is {qualifier}{size} bytes, over the limit of {limit} bytes"
