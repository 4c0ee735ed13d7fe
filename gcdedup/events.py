"""The Event model: one EventBridge event, unwrapped from whatever carried it.

Every reader (files, stdin, SQS batches in Lambda) ends in :func:`expand`, so an
SQS ``body`` or SNS ``Message`` string is unwrapped the same way everywhere and
every event keeps the place it came from for error messages and ``--out``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, NamedTuple

import msgspec
import orjson

#: EventBridge caps an event at 256 KB; a record four times that is not an event.
MAX_RECORD_BYTES = 1024 * 1024

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


# -- the JSON decoding contract ---------------------------------------------------
# What bytes are a value, and what the value is: decided here, once.
#
# ``process`` (the event reader, the JSON stream splitter, SQS and SNS string
# payloads) and ``stats`` (its general path, and the content key of its typed fast
# path) all parse JSON with :func:`parse`; the ``stats`` typed decoder
# (:mod:`gcdedup.analysis.decode`) answers only lines this function reads the same
# way. So one record is an event or a bad record, with the same reason, in both.
#
# The decisions (also in README.md, "Input formats"):
#
# * Integers are exact, whatever their size up to Python's limit for turning digits
#   into an int (``sys.get_int_max_str_digits()``, 4,300 by default): two events that
#   differ only in ``18446744073709551616`` and ``...617`` stay different. A longer
#   integer literal is a bad record ("number is infinity ...").
# * A non-integer number beyond the double range (``1e400``) reads as ``±inf``, as
#   Python's ``json`` reads it (its digits are not kept; ``1e-400`` reads as 0.0).
# * ``NaN`` and ``Infinity`` literals, lone or reversed UTF-16 surrogate escapes,
#   raw control characters (a NUL byte) inside strings, invalid UTF-8 and truncated
#   values are bad records. ``\u0000`` escapes are fine.
# * Duplicate object keys: the last one wins (both parsers agree).
# * Nesting: up to 1,024 levels (:data:`MAX_DEPTH`); deeper is a bad record with
#   one reason (:data:`DEEP_REASON`) on every Python. Enforced here, not left to the
#   parsers: msgspec's own limit follows the interpreter's C stack (about 2,900
#   levels on 3.12, fewer on 3.11). The check costs nothing for short records (a
#   record shorter than ``2 * MAX_DEPTH + 2`` bytes that parses cannot be that deep)
#   and one ``bytes.translate`` pass for longer ones; only a record with more than
#   1,024 opening brackets is walked (:func:`too_deep`).
# * Size is checked by the readers before parsing (``MAX_RECORD_BYTES``, per record).
#
# How: the depth check, then msgspec's untyped decoder (exact integers, as fast as
# orjson); what it refuses is decided by orjson (the reason text is orjson's), except
# numbers beyond the double range, which a second msgspec decoder reads as ``±inf``.
# msgspec's own nesting limit follows the C stack; when it is hit below 1,024 levels
# orjson decides, so the outcome does not depend on where the parse is called from
# (integers in a record nested that deeply are read by orjson: exact within 64 bits
# only).

#: Digits of the longest integer literal that is read exactly (0: no limit).
INT_DIGITS = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 0


#: Deepest nesting a record may have (objects and arrays, the record itself included).
MAX_DEPTH = 1024
#: A record that parses and is at most this long cannot nest deeper than MAX_DEPTH
#: (each level takes an opening and a closing byte): no depth check below it.
DEEP_BYTES = 2 * MAX_DEPTH + 1
#: The reason for a record nested deeper than MAX_DEPTH, whichever parser saw it.
DEEP_REASON = f"invalid JSON (depth limit exceeded: more than {MAX_DEPTH:,} levels)"

#: A JSON string (its closing quote optional: a truncated record).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NOT_OPENERS = bytes(b for b in range(256) if b not in b"[{")
#: +1 for an opening bracket, -1 for a closing one, by byte value.
_STEP = [1 if b in b"[{" else -1 for b in range(256)]


def too_deep(data: bytes | memoryview | str) -> bool:
    """Whether ``data`` opens more than :data:`MAX_DEPTH` arrays or objects at once.

    Cheap for what nearly every record is: short (no work), or long with few
    brackets (one ``translate`` pass). Brackets inside strings do not count. The hot
    loops call it only for records longer than :data:`DEEP_BYTES` (shorter ones that
    parse cannot be too deep); :func:`fallback` calls it for every record the fast
    decoder refused, so a truncated deep record gets the same reason.
    """
    if len(data) <= MAX_DEPTH:
        return False
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    elif isinstance(data, memoryview):
        data = data.tobytes()
    if len(data.translate(None, _NOT_OPENERS)) <= MAX_DEPTH:
        return False  # one pass, about twice as fast as two ``count`` calls
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > MAX_DEPTH


class BadJSON(ValueError):
    """Bytes that are not a record under the contract; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: The common case: exact integers, doubles; raises ValidationError for 1e400.
fast_decode = msgspec.json.Decoder().decode
_decode_inf = msgspec.json.Decoder(float_hook=float).decode
#: What :data:`fast_decode` may raise; :func:`fallback` then decides.
DECODE_ERRORS = (msgspec.DecodeError, RecursionError)


def fallback(data: bytes | memoryview | str) -> Any:
    """Decide what :data:`fast_decode` refused: a value, or :class:`BadJSON`."""
    if too_deep(data):
        raise BadJSON(DEEP_REASON)
    try:
        return _decode_inf(data)
    except msgspec.ValidationError:
        pass  # an integer over INT_DIGITS digits: orjson names it
    except DECODE_ERRORS:
        pass
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadJSON(json_reason(exc)) from None


def parse(data: bytes | memoryview | str) -> Any:
    """The value of one JSON document under the contract; raises :class:`BadJSON`."""
    if len(data) > DEEP_BYTES and too_deep(data):
        raise BadJSON(DEEP_REASON)
    try:
        return fast_decode(data)
    except DECODE_ERRORS:
        return fallback(data)


def parse_shallow(data: bytes | memoryview | str) -> Any:
    """:func:`parse` for a part of a record whose depth was checked already."""
    try:
        return fast_decode(data)
    except DECODE_ERRORS:
        return fallback(data)


def json_reason(exc: Exception) -> str:
    """A short reason for an orjson error; invalid UTF-8 is named as such."""
    message = str(exc)
    if message.startswith(("depth limit exceeded", "recursion limit exceeded")):
        return DEEP_REASON  # the same reason as the check in parse() gives
    if "UTF-8" in message and "BOM" not in message:
        return "invalid UTF-8"
    if len(message) > 120:
        message = message[:117] + "..."
    return f"invalid JSON ({message})"


class Location(NamedTuple):
    """Where a record came from: a file and a line or byte offset, and a record id.

    A NamedTuple because one is made per input line: it must be cheap.
    """

    source: str
    line: int | None = None
    offset: int | None = None
    record: str | None = None

    def with_record(self, record: str) -> Location:
        return self._replace(record=record)

    def __str__(self) -> str:
        text = self.source
        if self.line is not None:
            text += f":{self.line}"
        elif self.offset is not None:
            text += f"@{self.offset}"
        if self.record is not None:
            text += f" [{self.record}]"
        return text

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source}
        if self.line is not None:
            out["line"] = self.line
        if self.offset is not None:
            out["offset"] = self.offset
        if self.record is not None:
            out["record"] = self.record
        return out


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A record that is not a usable event; counted and reported, never fatal by default."""

    location: Location
    reason: str

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"location": str(self.location), "reason": self.reason}


class Event:
    """An EventBridge event (the envelope, with ``detail``) and where it was read.

    A plain slotted class (not a frozen dataclass): one is built per event on the
    hot path. Treat it as immutable.
    """

    __slots__ = ("envelope", "location")

    def __init__(self, envelope: dict[str, Any], location: Location) -> None:
        self.envelope = envelope
        self.location = location

    def __repr__(self) -> str:
        return f"Event(id={self.id!r}, location={str(self.location)!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Event)
            and self.envelope == other.envelope
            and self.location == other.location
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def id(self) -> str | None:
        value = self.envelope.get("id")
        return value if isinstance(value, str) else None

    @property
    def detail_type(self) -> str | None:
        value = self.envelope.get("detail-type")
        return value if isinstance(value, str) else None

    @property
    def source(self) -> str | None:
        value = self.envelope.get("source")
        return value if isinstance(value, str) else None

    @property
    def time(self) -> str | None:
        value = self.envelope.get("time")
        return value if isinstance(value, str) else None

    @property
    def replay_name(self) -> str | None:
        value = self.envelope.get("replay-name")
        return value if isinstance(value, str) else None

    @property
    def detail(self) -> dict[str, Any]:
        detail: dict[str, Any] = self.envelope["detail"]
        return detail

    @property
    def event_body(self) -> dict[str, Any] | None:
        body = self.detail.get("eventBody")
        return body if isinstance(body, dict) else None

    @property
    def topic(self) -> str:
        """The concrete topic (``detail.topicName``), else the ``detail-type``."""
        name = self.detail.get("topicName")
        if isinstance(name, str) and name:
            return name
        return self.detail_type or "unknown"

    @property
    def family(self) -> str:
        """The topic template (``{id}`` placeholders), used to group statistics."""
        return topic_family(self.detail_type, self.detail.get("topicName"))

    def to_dict(self) -> dict[str, Any]:
        return self.envelope


class KeyedEvent:
    """An event already read, keyed and fingerprinted elsewhere (by the read-ahead
    process, :mod:`gcdedup.sources.keyed`): what a run without a handler needs of it,
    and no payload. A handler needs an :class:`Event`."""

    __slots__ = ("family", "fingerprint", "key", "location")

    def __init__(self, location: Location, key: str, fingerprint: str, family: str) -> None:
        self.location = location
        self.key = key
        self.fingerprint = fingerprint
        self.family = family

    def __repr__(self) -> str:
        return f"KeyedEvent(key={self.key!r}, location={str(self.location)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeyedEvent) and (
            self.location,
            self.key,
            self.fingerprint,
            self.family,
        ) == (other.location, other.key, other.fingerprint, other.family)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class OutsideWindow:
    """An event whose envelope ``time`` is outside the run's ``--since``/``--until``
    window (or has no time to place it): counted, never claimed nor handled."""

    location: Location


#: What a run takes: an event with its payload, one keyed ahead, a bad record, or an
#: event its source left out of the run's time window.
InputRecord = Event | KeyedEvent | BadRecord | OutsideWindow


def topic_family(detail_type: Any, topic_name: Any) -> str:
    """Group topics the way Genesys templates them: ids become ``{id}``."""
    if isinstance(detail_type, str) and "{id}" in detail_type:
        return detail_type
    if isinstance(topic_name, str) and topic_name:
        return _UUID.sub("{id}", topic_name)
    if isinstance(detail_type, str) and detail_type:
        return detail_type
    return "unknown"


class Element(NamedTuple):
    """One record of a container document (``{"Records": [...]}``, ``{"Messages": [...]}``)
    read on its own: the JSON stream splitter streams containers element by element,
    so the size limit applies to each record, not to the whole document."""

    container: str
    position: int
    record: Any


def expand(document: Any, location: Location) -> Iterator[Event | BadRecord]:
    """Yield the events of one parsed JSON document.

    A document is an EventBridge event, a Lambda batch (``{"Records": [...]}``
    from SQS or SNS), or ``aws sqs receive-message`` output (``{"Messages": [...]}``).
    """
    if type(document) is dict and type(document.get("detail")) is dict:
        yield Event(document, location)  # the common case: one EventBridge event
        return
    if type(document) is Element:
        yield _element(document.container, document.position, document.record, location)
        return
    if isinstance(document, dict):
        for container in ("Records", "Messages"):
            records = document.get(container)
            if isinstance(records, list) and "detail" not in document:
                for index, record in enumerate(records):
                    yield _element(container, index, record, location)
                return
    yield unwrap(document, location)


def _element(container: str, index: int, record: Any, location: Location) -> Event | BadRecord:
    name = _record_name(record) or f"{container}[{index}]"
    return unwrap(record, location.with_record(name))


def unwrap(record: Any, location: Location, _depth: int = 0) -> Event | BadRecord:
    """Turn one record into an Event, unwrapping SQS and SNS string payloads."""
    if type(record) is dict and type(record.get("detail")) is dict:
        return Event(record, location)  # the common case, first and cheap
    if not isinstance(record, dict):
        return BadRecord(location, f"expected a JSON object, got {_json_type(record)}")
    if "detail" in record:
        detail = record["detail"]
        if not isinstance(detail, dict):
            return BadRecord(location, f"'detail' is {_json_type(detail)}, not an object")
        return Event(record, location)
    if _depth >= 3:
        return BadRecord(location, "wrapped more than three levels deep")
    for field, carrier in (("body", "SQS body"), ("Body", "SQS body"), ("Message", "SNS Message")):
        if field in record:
            return _unwrap_string(record[field], carrier, location, _depth)
    sns = record.get("Sns")
    if isinstance(sns, dict) and "Message" in sns:
        return _unwrap_string(sns["Message"], "SNS Message", location, _depth)
    return BadRecord(location, "no 'detail' field: not an EventBridge event")


def _unwrap_string(payload: Any, carrier: str, location: Location, depth: int) -> Event | BadRecord:
    if isinstance(payload, dict):
        return unwrap(payload, location, depth + 1)
    if not isinstance(payload, str):
        return BadRecord(location, f"{carrier} is {_json_type(payload)}, not a JSON string")
    try:
        inner = parse(payload)
    except BadJSON as exc:
        return BadRecord(location, f"{carrier} is not JSON ({exc.reason})")
    return unwrap(inner, location, depth + 1)


def _record_name(record: Any) -> str | None:
    if isinstance(record, dict):
        for field in ("messageId", "MessageId"):
            value = record.get(field)
            if isinstance(value, str):
                return value
        sns = record.get("Sns")
        if isinstance(sns, dict) and isinstance(sns.get("MessageId"), str):
            return str(sns["MessageId"])
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
