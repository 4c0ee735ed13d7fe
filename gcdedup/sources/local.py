"""Local inputs: files, directories, globs and standard input (``-``).

:func:`expand_paths` resolves what the user named into a list of inputs before
anything is read, and :func:`open_input` opens one of them as a raw binary
stream. Other kinds of input (object stores, queues) would resolve and open
their own names beside these; the reader only needs a name and a stream.
"""

from __future__ import annotations

import glob
import os
import re
import sys
from collections.abc import Sequence
from typing import BinaryIO

from ..errors import UsageError
from . import s3

#: File names a directory walk picks up.
EXTENSIONS = (".json", ".jsonl", ".ndjson", ".gz", ".log", ".txt")

STDIN = "-"

_GLOB_CHARS = re.compile(r"[*?\[]")


def expand_paths(paths: Sequence[str]) -> list[str]:
    """Resolve files, directories (recursively, sorted) and globs, in the given order.

    ``-`` stands for stdin; ``s3://bucket/prefix`` for the objects under it
    (:mod:`gcdedup.sources.s3`). Hidden files and directories are skipped in walks.
    Raises :class:`UsageError` for a path that does not exist or a glob that
    matches nothing, before anything is read.
    """
    files: list[str] = []
    for path in paths:
        if path == STDIN:
            files.append(path)
        elif s3.is_s3(path):  # object stores: listed by their own module, same file rules
            files.extend(s3.expand(path, EXTENSIONS))
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


def open_input(name: str, stdin: BinaryIO | None = None) -> tuple[BinaryIO, BinaryIO | None]:
    """(stream to read, handle to close or None) for one input; raises OSError.

    Files are opened unbuffered: the reader buffers them itself. ``-`` is
    ``stdin`` when given, else the process's standard input (never closed here).
    """
    if name == STDIN:
        return stdin or sys.stdin.buffer, None
    if s3.is_s3(name):
        stream = s3.open_object(name)
        return stream, stream
    handle = open(name, "rb", buffering=0)  # noqa: SIM115 - the caller closes it
    return handle, handle


def input_size(name: str) -> int | None:
    """Bytes on disk of a file; None for standard input or what cannot be read."""
    if name == STDIN:
        return None
    if s3.is_s3(name):
        return s3.size(name)
    try:
        return os.path.getsize(name)
    except OSError:
        return None
