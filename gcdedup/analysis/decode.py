"""Decode only what ``stats`` needs from a JSON Lines event, and nothing else.

Parsing a whole 1.1 KB envelope into dicts (orjson) costs about 26,600 instructions;
the scan needs nine fields of it (``time``, ``detail-type``, ``replay-name``, the topic,
and the body fields Genesys keys are made of). msgspec decodes into typed structs that
name those fields and skips (while still validating) everything else, in about 15,400.
This module is that fast path, and it is exact or silent: :func:`decode` returns None
whenever the general path (orjson, dicts) could see the line differently, and the
caller then takes the general path for that line. The cases:

* a line that is not pure ASCII: msgspec does not check UTF-8 inside the values it
  skips, the contract rejects invalid UTF-8 anywhere;
* a line longer than the longest integer literal the contract reads exactly
  (:data:`gcdedup.events.INT_DIGITS`): msgspec skips such a literal in a field it
  does not decode, the contract makes it a bad record;
* a line nested deeper than the contract allows (:func:`gcdedup.events.too_deep`:
  msgspec's own limit depends on the Python version);
* any line msgspec rejects (malformed, deeper than its nesting limit, a field of an
  unexpected type such as a ``detail`` that is not an object, a missing ``detail``,
  a number beyond the double range in a decoded field);
* a key field of a type the key rules might see differently (anything but a string
  or an integer; integers are exact on both paths).

What the typed decoder skips it still checks as JSON, the same way the contract's
parser (:func:`gcdedup.events.parse`, also msgspec) does; numbers beyond the
double range are accepted by both.

The key itself is not computed here: :func:`genesys_key` reads the fields and hands
them to the rules in :mod:`gcdedup.keys`, the same functions the general path calls.
Equality with the general path is tested on generated lines (see
``tests/unit/test_analysis_decode.py``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..events import DEEP_BYTES, INT_DIGITS, parse_shallow, too_deep
from ..keys import (
    AUDIT_PREFIX,
    CONVERSATION_PREFIX,
    audit_key,
    text_conversation_key,
    topic_content_key,
)

#: Lines longer than this may hold an integer literal the contract refuses.
_MAX_LINE = INT_DIGITS or 1 << 62
UNSET = msgspec.UNSET


class Body(msgspec.Struct, gc=False):
    """The ``eventBody`` fields that Genesys keys are made of."""

    conversationId: Any = None
    participantId: Any = None
    sessionId: Any = None
    eventTime: Any = None
    id: Any = None


class Detail(msgspec.Struct, gc=False):
    topicName: Any = None
    eventBody: Body | None = None


class Envelope(msgspec.Struct, gc=False):
    """An EventBridge envelope as the stats scan sees it."""

    time: Any = None
    detail_type: Any = msgspec.field(name="detail-type", default=None)
    #: UNSET when the envelope has no ``replay-name`` (any value, even null, counts).
    replay_name: Any = msgspec.field(name="replay-name", default=UNSET)
    detail: Detail | None = None


class _RawDetail(msgspec.Struct, gc=False):
    eventBody: msgspec.Raw = msgspec.Raw()


class _RawBodyEnvelope(msgspec.Struct, gc=False):
    detail: _RawDetail


# The structs are not tracked by the cyclic collector (gc=False): decoded JSON holds no
# cycles, and untracked objects are cheaper to make and free.
_decode = msgspec.json.Decoder(Envelope).decode
_decode_raw_body = msgspec.json.Decoder(_RawBodyEnvelope).decode
_Error = (msgspec.DecodeError, RecursionError)  # ValidationError is a subclass


def decode(line: bytes) -> Envelope | None:
    """The envelope of one JSON Lines line, or None: take the general path for it."""
    # msgspec's own nesting limit depends on the Python version: check depth first.
    if len(line) > DEEP_BYTES and too_deep(line):
        return None
    return decode_shallow(line)


def decode_shallow(line: bytes) -> Envelope | None:
    """:func:`decode` for a line already known to be nested no deeper than the contract
    allows (:func:`gcdedup.events.too_deep`): the stats scan checks every line once."""
    if not line.isascii() or len(line) > _MAX_LINE:
        return None
    try:
        env = _decode(line)
    except _Error:
        return None
    return env if env.detail is not None else None


def genesys_key(env: Envelope, line: bytes) -> str | None:
    """The ``genesys`` key body of a decoded envelope, or None: take the general path.

    Answers the common shapes (a topic name and an eventBody object) with the rules
    of :func:`gcdedup.keys.genesys_envelope_key`; leaves the rest (and every field
    of a type msgspec and orjson might read differently) to the general path.
    """
    detail = env.detail
    assert detail is not None
    topic = detail.topicName
    body = detail.eventBody
    if type(topic) is not str or not topic or body is None:
        return None
    if topic.startswith(CONVERSATION_PREFIX):
        template = env.detail_type
        conversation, participant, session = body.conversationId, body.participantId, body.sessionId
        event_time = body.eventTime
        if type(event_time) is int:
            event_time = str(event_time)  # as keys.py renders an integer (exact)
        if (
            type(template) is not str  # keys.py would fall back on the topic family
            or type(conversation) is not str
            or type(participant) is not str
            or type(session) is not str
            or type(event_time) is not str
        ):
            return None  # an id missing, or of a type the parsers might read differently
        return text_conversation_key(template, conversation, participant, session, event_time)
    if topic.startswith(AUDIT_PREFIX):
        return audit_key(body.id)  # None (not a non-empty string): the general path
    # Keyed by the digest of the whole body, which this decoder skipped: read it now,
    # with the general path's parser (the line's depth was checked: the body's too).
    whole = parse_shallow(memoryview(_decode_raw_body(line).detail.eventBody))
    return topic_content_key(topic, whole)
