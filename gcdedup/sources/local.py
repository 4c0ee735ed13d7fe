"""Local inputs: files, directories, globs and standard input (``-``).

:func:`expand_paths` resolves what the user named into a list of inputs before
anything is read, and :func:`open_input` opens one of them as a raw binary
stream. Other kinds of input (object stores, queues) would resolve and open
their own names beside these; the reader only needs a name and a stream.
"""

from __future__ import annotations

import errno
import glob
import os
import re
import stat
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from ..display import display_path
from ..errors import UsageError

if TYPE_CHECKING:
    from .window import Window
from . import s3

#: File names a directory walk picks up.
EXTENSIONS = (".json", ".jsonl", ".ndjson", ".gz", ".log", ".txt")

STDIN = "-"

_GLOB_CHARS = re.compile(r"[*?\[]")


class BadInput(str):
    """A path found in a walk or a glob that cannot be read as events, and why.

    It stays in the list of inputs (a ``str``, so every caller can carry it) and the
    reader reports it as one bad record with its path, instead of opening it: a FIFO
    inside a directory would block, a dangling link or an unreadable directory
    would fail. ``stats`` and ``process`` therefore report the same bad inputs.
    """

    reason: str

    def __new__(cls, path: str, reason: str) -> BadInput:
        self = super().__new__(cls, path)
        self.reason = reason
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (BadInput, (str(self), self.reason))


def expand_paths(paths: Sequence[str], window: Window | None = None) -> list[str]:
    """Resolve files, directories (recursively, sorted) and globs, in the given order.

    ``-`` stands for stdin; ``s3://bucket/prefix`` for the objects under it
    (:mod:`gcdedup.sources.s3`). Hidden files and directories are skipped in walks.
    Raises :class:`UsageError` for a path that does not exist or a glob that
    matches nothing, before anything is read. A file is listed once however it is
    reached in walks and globs (links, loops, overlaps: by device and inode);
    symbolic links to directories are followed, loops are not entered twice. What
    cannot be read (a dangling link, a directory that cannot be listed, a FIFO,
    socket or device inside a directory) is listed as a :class:`BadInput`. A FIFO
    named on the command line is read (``<(...)`` works).
    """
    walk = _Walk()
    for path in paths:
        if isinstance(path, BadInput):
            walk.problem(path)
        elif path == STDIN:
            walk.out.append(path)
        elif s3.is_s3(path):  # object stores: listed by their own module, same file rules
            walk.out.extend(s3.expand(path, EXTENSIONS, window=window))
        elif os.path.isdir(path):
            walk.directory(path)
        elif os.path.exists(path):
            walk.file(path, explicit=True)
        elif os.path.lexists(path):
            walk.problem(BadInput(path, _link_problem(path)))
        elif _GLOB_CHARS.search(path):
            matches = _glob(path)
            if not matches:
                raise UsageError(
                    f"no such file or directory: {display_path(path)} (the pattern matches nothing)"
                )
            for match in matches:
                if isinstance(match, BadInput):
                    walk.problem(match)
                elif os.path.isdir(match):
                    walk.directory(match)
                else:
                    walk.file(match, explicit=False)
        else:
            raise UsageError(f"no such file or directory: {display_path(path)}")
    return walk.out


def _link_problem(path: str) -> str:
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        return f"dangling symbolic link ({exc.strerror or exc})"
    return "cannot be read"  # pragma: no cover - it exists after all


def _kind(mode: int) -> str | None:
    """What a non-regular file is, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


class _Walk:
    """Inputs found so far, and what has been seen (files and directories by inode)."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.files: set[tuple[int, int]] = set()
        self.bad: set[str] = set()

    def problem(self, path: BadInput) -> None:
        if path not in self.bad:
            self.bad.add(path)
            self.out.append(path)

    def file(self, path: str, *, explicit: bool) -> None:
        try:
            st = os.stat(path)
        except OSError as exc:
            self.problem(BadInput(path, f"cannot open: {exc.strerror or exc}"))
            return
        kind = _kind(st.st_mode)
        if kind is not None:
            if explicit:
                self.out.append(path)  # a FIFO or device named on purpose: read it
            else:
                self.problem(BadInput(path, f"not a regular file ({kind}); skipped"))
            return
        ident = (st.st_dev, st.st_ino)
        if explicit or ident not in self.files:  # a file named twice is read twice
            self.files.add(ident)
            self.out.append(path)

    def directory(self, directory: str) -> None:
        """Data files under ``directory``, sorted as a path listing (``a``, ``b/c``, ``d``)."""
        found: list[tuple[list[str], str]] = []
        for path in _tree(directory, set()):
            rel = os.path.relpath(path, directory).split(os.sep)
            found.append((rel, path))
        found.sort()
        for _, path in found:
            if isinstance(path, BadInput):
                self.problem(path)
            else:
                self.file(path, explicit=False)


def _tree(directory: str, ancestors: set[tuple[int, int]], every: bool = False) -> list[str]:
    """Paths under ``directory`` (data files, or with ``every`` all non-hidden entries).

    Symbolic links to directories are followed unless they lead back to a directory
    being walked (a loop); problems come back as :class:`BadInput`.
    """
    try:
        st = os.stat(directory)
        ident = (st.st_dev, st.st_ino)
        if ident in ancestors:
            return []  # a loop: this directory is being walked already
        with os.scandir(directory) as it:
            entries = list(it)
    except OSError as exc:
        return [BadInput(directory, f"cannot read directory: {exc.strerror or exc}")]
    ancestors = ancestors | {ident}
    out: list[str] = []
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        path = entry.path
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            if every:
                out.append(path)
            out.extend(_tree(path, ancestors, every))
            continue
        if not (every or name.endswith(EXTENSIONS)):
            continue
        if entry.is_symlink() and not os.path.exists(path):
            out.append(BadInput(path, _link_problem(path)))
        else:
            out.append(path)
    return out


def _glob(pattern: str) -> list[str]:
    """Matches of a glob, sorted; ``**`` walks as :func:`_tree` does (loops entered once)."""
    if "**" not in pattern:
        return sorted(glob.glob(pattern))
    parts = pattern.split(os.sep)
    fixed = next(i for i, part in enumerate(parts) if _GLOB_CHARS.search(part))
    root = os.sep.join(parts[:fixed]) or ("." if not pattern.startswith(os.sep) else os.sep)
    rest = parts[fixed:]
    regex = re.compile(_translate(rest))
    matches: list[str] = []
    for path in _tree(root, set(), every=True):
        rel = os.path.relpath(path, root).replace(os.sep, "/")
        if regex.fullmatch(rel):
            matches.append(path)
    if root == "." and not pattern.startswith("." + os.sep):
        matches = [os.path.relpath(m) if not isinstance(m, BadInput) else m for m in matches]
    return sorted(matches)


def _translate(parts: list[str]) -> str:
    """A regex for path components of a glob (``**``: any number of directories)."""
    out = ""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out += r"(?:[^/.][^/]*(?:/|$))*" if last else r"(?:[^/.][^/]*/)*"
            continue
        hidden = "" if part.startswith(".") else r"(?!\.)"
        out += hidden + _component(part) + ("" if last else "/")
    return out


def _component(part: str) -> str:
    """One glob component as a regex: ``*`` and ``?`` never cross a ``/``."""
    out, i = "", 0
    while i < len(part):
        c = part[i]
        close = part.find("]", i + 2) if c == "[" else -1
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif close > 0:
            body = part[i + 1 : close].replace("\\", "\\\\")
            out += "[" + ("^" + body[1:] if body.startswith("!") else body) + "]"
            i = close
        else:
            out += re.escape(c)
        i += 1
    return out


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


def is_regular(name: str) -> bool:
    """A regular file that can be opened again by another process (not a BadInput)."""
    return name != STDIN and not isinstance(name, BadInput) and os.path.isfile(name)


def input_size(name: str) -> int | None:
    """Bytes on disk of a file; None for standard input or what cannot be read."""
    if name == STDIN or isinstance(name, BadInput):
        return None
    if s3.is_s3(name):
        return s3.size(name)
    try:
        return os.path.getsize(name)
    except OSError:
        return None
