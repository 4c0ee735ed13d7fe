"""Tell the format of an input from its first non-blank lines (``--format auto``).

``[`` opens a JSON array, a digit starts a CloudWatch Logs export line, ``{``
starts JSON Lines when the first line is a complete JSON value on its own, and
the JSON stream splitter's input (a pretty-printed or back-to-back object)
otherwise; anything else is read as JSON Lines. The event reader sniffs every
stream this way, and the ``stats`` planner asks the same question of a file
before cutting it into byte ranges (:func:`is_plain_jsonl`).
"""

from __future__ import annotations

from collections.abc import Callable

from ..events import MAX_RECORD_BYTES, BadJSON, parse
from .blank import Peekable, blank_run
from .compression import GZIP_MAGIC
from .framing import BOM
from .local import is_regular


def next_line(
    readline: Callable[[int], bytes],
    limit: int,
    head: list[bytes],
    stream: Peekable | None = None,
) -> bytes:
    """The next non-blank line without leading blanks (b"" at the end), kept in ``head``.

    A BOM at the very start of the input (the first line of ``head``) is skipped.
    With ``stream`` (the one ``readline`` reads), a run of blank lines is taken in
    bulk and kept in ``head`` as pieces of many lines each (see :mod:`.blank`).
    """
    while True:
        line = readline(limit + 2)
        if not line:
            return b""
        head.append(line)
        text = line[len(BOM) :] if len(head) == 1 and line.startswith(BOM) else line
        text = text.lstrip()
        if text:
            return text
        if stream is not None and line.endswith(b"\n"):
            head.extend(blank_run(stream))


def sniff_format(
    readline: Callable[[int], bytes],
    limit: int,
    head: list[bytes],
    stream: Peekable | None = None,
) -> str:
    """Pick a format from the first non-blank line, keeping the lines read in ``head``.

    A first line that opens an object but is not complete JSON is either the
    start of a pretty-printed object or a cut-off JSON Lines record; the next
    non-blank line tells them apart: a complete JSON value on its own means
    JSON Lines.
    """
    text = next_line(readline, limit, head, stream)
    if not text:
        return "jsonl"
    first = text[0]
    if first == 0x5B:  # '['
        return "json"
    if 0x30 <= first <= 0x39:
        return "cloudwatch"
    if first == 0x7B:  # '{'
        try:
            parse(text)
        except BadJSON:
            if not head[-1].endswith(b"\n"):
                return "concat"  # longer than a record may be, or the only line
            second = next_line(readline, limit, head, stream)
            try:
                parse(second)
            except BadJSON:
                return "concat"
            return "jsonl"
    return "jsonl"


def is_plain_jsonl(path: str, fmt: str, limit: int = MAX_RECORD_BYTES) -> bool:
    """True when ``path`` is a regular, uncompressed file the reader would read as JSON Lines.

    Standard input and pipes are never opened here (that would take their bytes).
    """
    if path == "-" or fmt not in ("auto", "jsonl") or not is_regular(path):
        return False
    try:
        with open(path, "rb") as fh:
            if fh.read(len(GZIP_MAGIC)) == GZIP_MAGIC:
                return False
            if fmt == "jsonl":
                return True
            fh.seek(0)
            return sniff_format(fh.readline, limit, [], fh) == "jsonl"
    except OSError:
        return False
