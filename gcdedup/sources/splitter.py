"""Split a byte stream of JSON documents into values without parsing it whole.

Used for JSON arrays and for back-to-back objects (``{...}{...}`` as Firehose
writes them to S3, or pretty-printed objects one after another). The scanner
only tracks brackets and strings to find where a value ends; orjson then parses
that one value. Memory is bounded by the largest record (``limit``), not the file.

Rules, so that nothing after a bad record is lost:

* A top-level ``[`` opens an array whose elements are yielded one by one; commas
  between elements are skipped; ``]`` closes it. A nested array is one value.
* A value whose brackets balance but which orjson rejects is one bad record;
  scanning continues right after it.
* Bytes that cannot start a value (anything but ``{``, ``[``, ``"`` and
  whitespace, or ``,``/``]`` outside an array) form one "junk" run up to the
  next ``{``, ``[`` or ``"`` (also ``,`` and ``]`` inside an array). The run is
  parsed on its own (so a bare number becomes "not an object") or reported as
  invalid JSON.
* A value larger than ``limit`` is skipped without buffering it and reported
  with its size.
* A *resync point* is a ``{`` at the start of a line or right after a ``}``
  (``}{`` can only occur between records in valid JSON). When a value that is
  not valid JSON (still open, rejected by orjson, over ``limit``, or a bare
  string) spans a resync point where a *record starts* -- a complete object
  there, not followed by ``,``, ``:``, ``]``, ``}`` or ``"`` as a nested one
  would be -- the value was cut short: it is reported up to that point and
  scanning resumes there. Checking looks at most ``limit`` bytes past the point,
  so memory stays bounded by about ``limit`` plus one chunk, and the bytes spent
  on checks are capped in proportion to the input read.
* A container document, an object that opens with ``"Records": [`` or
  ``"Messages": [`` (a Lambda batch, ``aws sqs receive-message`` output), is
  streamed like an array: each record is one value (an
  :class:`~gcdedup.events.Element`), so ``limit`` applies to each record, not to
  the document. What follows the array in the object is skipped.
* Inside an array (or a container), a damaged element that swallows the next ones
  is cut where an element that looks like a record (an object with ``detail``,
  ``body``, ``Body``, ``Message``, ``Sns`` or a message id, followed by ``,`` or
  ``]``) starts after a ``,`` or ``[``, and reading resumes there, still in the
  array.
* A value still open at end of input is reported as truncated. When it was small
  enough to be held in memory, scanning resumes at the next resync point after
  its start even if no record is seen to start there; this is done at most
  ``MAX_RESYNCS`` times per input.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from ..events import BadJSON, Element, parse
from .framing import BOM, CHUNK, oversize_reason

#: How often a truncated record may restart the scan (bounds pathological input).
MAX_RESYNCS = 8
#: Bytes that checks for a record start may scan: this many times ``limit``, plus
#: ``CHECK_PER_BYTE`` per byte of input read (bounds pathological input).
CHECK_LIMITS = 8
CHECK_PER_BYTE = 2

_OPEN = frozenset(b"{[")
_NON_WS = re.compile(rb"[^ \t\r\n]")
_NON_WS_ARRAY = re.compile(rb"[^ \t\r\n,]")
_STRUCT = re.compile(rb'[{}\[\]"]')
_STRING_BODY = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.S)
_JUNK_END = re.compile(rb'[{\["]')
_JUNK_END_ARRAY = re.compile(rb'[{\["\],]')
_RESYNC = re.compile(rb"(?:^|(?<=\}))\{", re.M)
#: Inside an array, an element may also start after a ',' or the '['.
_RESYNC_ARRAY = re.compile(rb"(?:^|(?<=[},\[]))[ \t\r\n]*\{", re.M)
#: A container document whose records are streamed one by one.
_CONTAINER = re.compile(rb'\{[ \t\r\n]*"(Records|Messages)"[ \t\r\n]*:[ \t\r\n]*\[')
_MAYBE_CONTAINER = re.compile(rb'\{[ \t\r\n]*(?:"[A-Za-z]{0,8}(?:"[ \t\r\n]*(?::[ \t\r\n]*)?)?)?')
#: Keys that make an object inside a damaged array look like a record of its own.
_RECORD_KEYS = ("detail", "body", "Body", "Message", "Sns", "messageId", "MessageId")
_NOT_AFTER_RECORD = frozenset(b',:]}"')

#: (offset, parsed value, None) for a value, (offset, None, reason) for a bad record.
Item = tuple[int, Any, "str | None"]

#: How a value ended, for ``JsonSplitter.__iter__``.
_DONE, _TRUNCATED, _RESUMED = 0, 1, 2


class JsonSplitter:
    """Yield the top-level JSON values of a stream with their byte offsets.

    ``read(n)`` returns the next bytes of the (decompressed) stream, ``b""`` at
    the end; ``initial`` holds bytes already read from its start.
    """

    def __init__(self, read: Callable[[int], bytes], limit: int, initial: bytes = b"") -> None:
        self._read = read
        self._limit = limit
        self._buf = initial
        self._base = 0  # stream offset of self._buf[0]
        self._eof = False
        # Resumable state of the value being scanned.
        self._depth = 0
        self._in_str = False
        self._esc = False
        # Whether records are joined as '}{' (Firehose) rather than one per line.
        self._joints = False
        # Set by the caller-visible loop when an input error stops the scan.
        self.offset = 0
        # Bytes scanned so far by checks for a record start (see ``_record_at``).
        self._checked = 0
        # Whether the value being scanned is an array element (resync at elements).
        self._array = False

    # -- buffer ---------------------------------------------------------------

    def _fill(self, keep_from: int) -> int:
        """Read a chunk, dropping bytes before ``keep_from``; return the shift applied."""
        if self._eof:
            return 0
        data = self._read(CHUNK)
        if not data:
            self._eof = True
            return 0
        shift = keep_from
        self._buf = self._buf[keep_from:] + data
        self._base += shift
        return shift

    # -- scanning -------------------------------------------------------------

    def __iter__(self) -> Iterator[Item]:
        pos = 0
        if self._buf.startswith(BOM):
            pos = 3
        in_array = False
        container: str | None = None  # "Records" or "Messages" while streaming one
        index = opened = 0
        resyncs = 0
        while True:
            # Skip whitespace (and commas between array elements).
            finder = _NON_WS_ARRAY if in_array else _NON_WS
            m = finder.search(self._buf, pos)
            while m is None:
                pos = len(self._buf)
                self.offset = self._base + pos
                pos -= self._fill(pos)
                if self._eof:
                    if in_array:
                        kind = "array" if container is None else f"{container} array"
                        reason = f"truncated: {kind} not closed at end of input"
                        yield (self._base + pos, None, reason)
                    return
                m = finder.search(self._buf, pos)
            pos = m.start()
            self.offset = self._base + pos
            c = self._buf[pos]
            if c == 0x5B and not in_array:  # '['
                in_array = True
                pos += 1
                continue
            if c == 0x5D and in_array:  # ']'
                in_array = False
                pos += 1
                if container is not None:
                    container = None
                    item, pos = self._close_container(pos)
                    if item is not None:
                        yield item
                continue
            if c == 0x7B and not in_array:
                start = self._base + pos
                name, pos = self._container(pos)
                if name is not None:
                    container, index, in_array, opened = name, 0, True, start
                    continue
            if c in _OPEN or c == 0x22:
                self._array = in_array
                item, pos, how = self._value(pos)
                if container is not None:
                    if item[2] is None:  # located as the document is, named by its id
                        item = (opened, Element(container, index, item[1]), None)
                    index += 1
                yield item
                if how == _RESUMED:
                    in_array = in_array and self._array
                    if not in_array:
                        container = None
                elif how == _TRUNCATED:
                    # Resume at the next resync point inside what the open value swallowed.
                    start = item[0] - self._base
                    regex = _RESYNC_ARRAY if in_array else _RESYNC
                    r = regex.search(self._buf, start + 1) if resyncs < MAX_RESYNCS else None
                    if r is None:
                        return
                    resyncs += 1
                    pos = r.end() - 1
                continue
            item, pos = self._junk(pos, in_array)
            yield item

    def _container(self, pos: int) -> tuple[str | None, int]:
        """At a top-level ``{``: the container name and the position inside its array,
        when the object opens with ``"Records": [`` or ``"Messages": [`` (else None)."""
        # Read on only while what is buffered may still be the start of one.
        while not self._eof and _MAYBE_CONTAINER.fullmatch(self._buf, pos):
            self.offset = self._base + len(self._buf)
            pos -= self._fill(pos)
        m = _CONTAINER.match(self._buf, pos)
        if m is None:
            return None, pos
        return m.group(1).decode(), m.end()

    def _close_container(self, pos: int) -> tuple[Item | None, int]:
        """After a container's array: skip what else the object holds, up to its ``}``."""
        offset = self._base + pos
        self._depth, self._in_str, self._esc = 1, False, False
        while True:
            end = self._find_end(self._buf, pos, len(self._buf))
            if end >= 0:
                return None, end
            pos = len(self._buf)
            pos -= self._fill(pos)
            if self._eof:
                return (offset, None, "truncated: object not closed at end of input"), pos

    def _value(self, pos: int) -> tuple[Item, int, int]:
        """Scan one value starting at ``pos``: (item, position after it, how it ended)."""
        buf = self._buf
        offset = self._base + pos
        # Fast path: the value ends at the end of its line (JSON Lines style) or
        # right before a '}{' boundary. A slice that orjson accepts as a whole
        # value starting at a bracket is exactly that value.
        if buf[pos] == 0x7B:
            stop = pos + self._limit + 2
            if self._joints:
                end = buf.find(b"}{", pos, stop)
                if end >= 0:
                    end += 1
            else:
                end = buf.find(b"\n", pos, stop)
                if end >= 0:
                    while end > pos and buf[end - 1] in b" \t\r,]":
                        end -= 1
                    if buf[end - 1] != 0x7D:
                        end = -1
            if 0 <= end - pos <= self._limit:
                try:
                    return (offset, parse(buf[pos:end]), None), end, _DONE
                except BadJSON:
                    pass
        # Exact scan: find the matching bracket or closing quote.
        string = buf[pos] == 0x22
        kind = "string" if string else "array or object"
        self._depth, self._in_str, self._esc = 0, string, False
        scan = pos + 1 if string else pos
        check = pos + 1  # resync points before this index have been checked
        skipping = False  # oversize: keep scanning but drop what has been read
        while True:
            end = self._find_end(self._buf, scan, len(self._buf))
            if end >= 0:
                break
            scan = len(self._buf)
            # Still open: if a record starts inside it, it was cut short there.
            r, check = self._next_record(check, scan)
            if r >= 0:
                return self._cut(offset, kind, r), r, _RESUMED
            skipping = skipping or self._base + scan - offset > self._limit
            if skipping:
                pos = scan
            self.offset = self._base + scan
            shift = self._fill(min(pos, check - 1))
            pos -= shift
            scan -= shift
            check -= shift
            if self._eof:
                r, check = self._next_record(check, scan)
                if r >= 0:
                    return self._cut(offset, kind, r), r, _RESUMED
                if skipping:
                    size = self._base + scan - offset
                    too_big = oversize_reason(size, self._limit, at_least=True)
                    return (offset, None, too_big + ", truncated at end of input"), scan, _DONE
                return (
                    (offset, None, f"truncated: {kind} not closed at end of input"),
                    scan,
                    _TRUNCATED,
                )
        self._joints = self._buf[end : end + 1] == b"{"
        size = self._base + end - offset
        value: Any = None
        reason: str | None = None
        if size > self._limit:
            reason = oversize_reason(size, self._limit)
        else:
            try:
                value = parse(self._buf[pos:end])
            except BadJSON as exc:
                reason = exc.reason
            if reason is None and not string:
                return (offset, value, None), end, _DONE
        # Not a record: if one starts inside it, this one was cut short there.
        while True:
            r, check = self._next_record(check, end)
            if r >= 0:
                return self._cut(offset, kind, r), r, _RESUMED
            if check >= end or self._eof:
                break
            shift = self._fill(min(pos, check - 1))  # a record may start near the end
            pos -= shift
            end -= shift
            check -= shift
        return (offset, value, reason), end, _DONE

    def _cut(self, offset: int, kind: str, r: int) -> Item:
        """The bad record for a value cut short by a record starting at buffer index ``r``."""
        size = self._base + r - offset
        if size > self._limit:
            reason = oversize_reason(size, self._limit) + " (not closed before the next record)"
        else:
            reason = f"truncated: {kind} not closed before the next record"
        return offset, None, reason

    def _next_record(self, check: int, stop: int) -> tuple[int, int]:
        """The first resync point in ``[check, stop)`` where a record starts, or -1.

        Also returns where checking should go on: ``stop``, or a resync point
        that needs more bytes before it can be told (keep the buffer from there).
        """
        buf = self._buf
        search = (_RESYNC_ARRAY if self._array else _RESYNC).search
        while check < stop:
            m = search(buf, check, stop)
            if m is None:
                return -1, stop
            r = m.end() - 1
            if m.start() == 0:  # the buffer starts here: '^' says nothing about the line
                check = r + 1
                continue
            found = self._record_at(r)
            if found > 0:
                return r, r
            if found < 0:
                return -1, r
            check = r + 1
        return -1, max(check, stop)

    def _record_at(self, r: int) -> int:
        """Whether a record starts at buffer index ``r``: 1 yes, 0 no, -1 need more bytes.

        A record is a complete object within ``limit`` followed by anything but
        what may follow a nested value or a string's content.
        """
        allowance = CHECK_LIMITS * self._limit + CHECK_PER_BYTE * (self._base + r)
        if self._checked > allowance:
            return 0
        buf = self._buf
        saved = self._depth, self._in_str, self._esc
        self._depth, self._in_str, self._esc = 0, False, False
        stop = min(len(buf), r + self._limit + 1)
        end = self._find_end(buf, r, stop)
        self._depth, self._in_str, self._esc = saved
        self._checked += (stop if end < 0 else end) - r
        if end < 0:
            more = stop == len(buf) and not self._eof
            return -1 if more else 0
        if end - r > self._limit:
            return 0
        try:
            value = parse(buf[r:end])
        except BadJSON:
            return 0
        if not isinstance(value, dict):
            return 0
        m = _NON_WS.search(buf, end)
        if self._array:  # an element of its own: looks like a record, ends like an element
            if not any(key in value for key in _RECORD_KEYS):
                return 0
            if m is None:
                return -1 if not self._eof and len(buf) - r <= 2 * self._limit else 0
            return 1 if buf[m.start()] in b",]" else 0
        if m is None:  # only whitespace follows so far: wait for more, within bounds
            return -1 if not self._eof and len(buf) - r <= 2 * self._limit else 1
        return 0 if buf[m.start()] in _NOT_AFTER_RECORD else 1

    def _find_end(self, buf: bytes, i: int, end: int) -> int:
        """Index just past the value being scanned, or -1 if it goes past ``end``."""
        depth = self._depth
        if self._in_str:
            i = self._string_end(buf, i, end)
            if i < 0:
                return -1
            if depth == 0:
                return i
        search = _STRUCT.search
        while True:
            m = search(buf, i, end)
            if m is None:
                self._depth = depth
                return -1
            i = m.end()
            c = buf[i - 1]
            if c == 0x22:
                self._in_str = True
                i = self._string_end(buf, i, end)
                if i < 0:
                    self._depth = depth
                    return -1
            elif c in _OPEN:
                depth += 1
            else:
                depth -= 1
                if depth <= 0:
                    self._depth = 0
                    return i

    def _string_end(self, buf: bytes, i: int, end: int) -> int:
        """Index just past the closing quote of the current string, or -1."""
        if self._esc:
            if i >= end:
                return -1
            i += 1
            self._esc = False
        m = _STRING_BODY.match(buf, i, end)
        k = m.end() if m else i
        if k >= end:
            return -1
        if buf[k] == 0x22:
            self._in_str = False
            return k + 1
        self._esc = True  # a backslash is the last byte read so far
        return -1

    def _junk(self, pos: int, in_array: bool) -> tuple[Item, int]:
        """Consume a run of bytes that cannot start a value and report it."""
        offset = self._base + pos
        finder = _JUNK_END_ARRAY if in_array else _JUNK_END
        scan = pos + 1
        skipping = False
        dropped = 0
        while True:
            m = finder.search(self._buf, scan)
            if m is not None:
                end = m.start()
                break
            scan = len(self._buf)
            skipping = skipping or scan - pos > self._limit
            if skipping:
                dropped += scan - pos
                pos = scan
            shift = self._fill(pos)
            pos -= shift
            scan -= shift
            if self._eof:
                end = len(self._buf)
                break
        if skipping or end - pos > self._limit:
            size = dropped + end - pos
            return (offset, None, f"invalid JSON ({size} bytes that are not JSON)"), end
        text = self._buf[pos:end]
        try:
            return (offset, parse(text), None), end
        except BadJSON as exc:
            return (offset, None, exc.reason), end
