"""Decode only what ``stats`` needs from a JSON Lines event, and nothing else.

Parsing a whole 1.1 KB envelope into dicts (orjson) costs about 26,600 instructions;
the scan needs nine fields of it (``time``, ``detail-type``, ``replay-name``, the topic,
and the body fields Genesys keys are made of). msgspec decodes into typed structs that
name those fields and skips (while still validating) everything else, in about 15,400.
This module is that fast path, and it is exact or silent: :func:`decode` returns None whenever the
general path (orjson, dicts, :mod:`gcdedup.keys`) could see the line differently,
and the caller then takes the general path for that line. The cases:

* a line that is not pure ASCII: msgspec does not check UTF-8 inside the values it
  skips, orjson rejects invalid UTF-8 anywhere;
* any line msgspec rejects (malformed, deeper than its nesting limit, a field of an
  unexpected type such as a ``detail`` that is not an object, a missing ``detail``);
* an integer outside 64 bits where the key uses it (orjson reads those as floats).

Equality with the general path is tested on generated lines (see
``tests/test_analysis_decode.py``).
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from .keys import AUDIT_PREFIX, CONVERSATION_PREFIX, MAX_PART, digest

_SORT_KEYS = orjson.OPT_SORT_KEYS
_INT_MIN, _INT_END = -(1 << 63), 1 << 64  # orjson reads integers outside as floats
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
_Error = msgspec.DecodeError  # ValidationError is a subclass


def decode(line: bytes) -> Envelope | None:
    """The envelope of one JSON Lines line, or None: take the general path for it."""
    if not line.isascii():
        return None
    try:
        env = _decode(line)
    except _Error:
        return None
    return env if env.detail is not None else None


def simple_part(value: Any) -> str | None:
    """A key part exactly as keys.py would render it, when that is cheap to know."""
    if type(value) is str:
        return value if len(value) <= MAX_PART and "#" not in value else None
    if type(value) is int:
        return str(value)
    return None


def conversation_key(
    template: Any, conversation: Any, participant: Any, session: Any, event_time: Any
) -> str | None:
    """``template#conversation#participant#session#eventTime`` or None (ask keys.py)."""
    if type(event_time) is int:
        if not _INT_MIN <= event_time < _INT_END:
            return None  # orjson would read a float, which keys.py renders its own way
        event_time = str(event_time)
    if (
        type(template) is not str
        or type(conversation) is not str
        or type(participant) is not str
        or type(session) is not str
        or type(event_time) is not str
        or not template
    ):
        return None
    key = f"{template}#{conversation}#{participant}#{session}#{event_time}"
    # Five parts joined by four '#': no part holds a '#'. No part is over the limit
    # when the whole is not. Otherwise keys.py knows the exact rendering.
    if key.count("#") != 4:
        return None
    if (
        len(key) > MAX_PART
        and max(len(template), len(conversation), len(participant), len(session), len(event_time))
        > MAX_PART
    ):
        return None
    return key


def audit_key(audit: Any) -> str | None:
    if type(audit) is not str or not audit or simple_part(audit) is None:
        return None
    return "v2.audits#" + audit


def body_digest_key(topic: str, body: dict[str, Any]) -> str | None:
    """``topic#digest of the canonical body`` (topics keyed by content)."""
    if simple_part(topic) is None:
        return None
    try:
        canonical = orjson.dumps(body, option=_SORT_KEYS)
    except TypeError:
        return None
    return topic + "#" + digest(canonical)


def genesys_key(env: Envelope, line: bytes) -> str | None:
    """The ``genesys`` key body of a decoded envelope, or None to ask keys.py."""
    detail = env.detail
    assert detail is not None
    topic = detail.topicName
    body = detail.eventBody
    if type(topic) is not str or not topic or body is None:
        return None
    if topic.startswith(CONVERSATION_PREFIX):
        return conversation_key(
            env.detail_type, body.conversationId, body.participantId, body.sessionId, body.eventTime
        )
    if topic.startswith(AUDIT_PREFIX):
        return audit_key(body.id)
    # Keyed by the digest of the whole body, which this decoder skipped: read it now.
    whole = orjson.loads(memoryview(_decode_raw_body(line).detail.eventBody))
    return body_digest_key(topic, whole)


def dict_body_key(topic: str, detail_type: Any, body: dict[str, Any]) -> str | None:
    """The ``genesys`` key body from a topic and an eventBody dict, or None (ask keys.py)."""
    if topic.startswith(CONVERSATION_PREFIX):
        return conversation_key(
            detail_type,
            body.get("conversationId"),
            body.get("participantId"),
            body.get("sessionId"),
            body.get("eventTime"),
        )
    if topic.startswith(AUDIT_PREFIX):
        return audit_key(body.get("id"))
    # (keys.py's eventId shape applies only to a detail without eventBody.)
    return body_digest_key(topic, body)
