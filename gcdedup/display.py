"""Paths as text: the one escaping for names whose bytes are not UTF-8.

On POSIX a file name is bytes; Python hands names that are not valid UTF-8 over as
``str`` with lone surrogates (``surrogateescape``: the byte ``0xff`` becomes
``'\\udcff'``), which no UTF-8 encoder (orjson, a file opened as UTF-8, a terminal)
accepts. Every place that shows or writes a path (JSON, CSV, ``--out``, HTML, tables,
logs, bad-record locations) takes it through :func:`display_path`: each byte that is
not part of valid UTF-8 is written as ``\\xNN`` (``ev\\xff.jsonl``), every other
character as it is. The file itself is always opened by its real name; the display
text is only for people and reports (a name that really holds a backslash followed by
``xff`` looks the same: rare, and said so in docs/hostile-inputs.md).
"""

from __future__ import annotations

import os


def display_path(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    """``path`` as valid text: bytes that are not UTF-8 as ``\\xNN``, the rest unchanged."""
    name = os.fsdecode(path)
    if name.isascii():
        return name
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        return name
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that stands for no byte: name it
        return name.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")
