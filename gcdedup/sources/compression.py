"""Gzip input: detection by magic bytes, streaming decompression, and naming read errors.

Gzip is detected by its content, whatever the file is called. Decompression is
streamed (memory flat in the file size), and an error in the middle of a stream
is held back until the data before it has been used, so only what follows the
damage is lost.
"""

from __future__ import annotations

import gzip
import io
import zlib
from typing import Any

from .framing import CHUNK

#: The first two bytes of every gzip stream.
GZIP_MAGIC = b"\x1f\x8b"
#: Errors that mean the bytes of a file cannot be read (any further).
READ_ERRORS = (OSError, EOFError, zlib.error)


def has_gzip_magic(path: str) -> bool:
    """Whether the file at ``path`` starts with the gzip magic (False if unreadable).

    Cheap, for planning; :func:`looks_gzip` decides how the reader reads it.
    """
    try:
        with open(path, "rb") as fh:
            return fh.read(len(GZIP_MAGIC)) == GZIP_MAGIC
    except OSError:
        return False


def looks_gzip(head: bytes) -> bool:
    """The gzip magic, and the first bytes really inflate.

    The magic alone is two bytes a text file may start with by accident; such a
    file is read as text (its first line then is a bad record, not the whole file).
    """
    if head[: len(GZIP_MAGIC)] != GZIP_MAGIC:
        return False
    try:
        zlib.decompressobj(wbits=31).decompress(head[:CHUNK], 1)
    except zlib.error:
        return False
    return True


class Gunzip(io.RawIOBase):
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
        except READ_ERRORS as exc:
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


def read_reason(exc: BaseException) -> str:
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
