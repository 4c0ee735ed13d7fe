"""Dedup key strategies: which events count as "the same business event".

A strategy maps an :class:`~gcdedup.events.Event` to a key body; :func:`make_key`
adds the namespace prefix so test keys can be purged without touching production.
Strategies are named, listed by ``gcdedup keys --list``, and comparable with
``gcdedup stats --compare``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from .errors import ConfigError, KeyStrategyError

if TYPE_CHECKING:  # the decoders (msgspec) are not needed to name a key strategy
    from .events import Event

DEFAULT_STRATEGY = "genesys"
DEFAULT_NAMESPACE = "default"
#: DynamoDB allows 2048 bytes in a partition key; stay well inside it.
MAX_KEY_BYTES = 1024
#: A key part longer than this is replaced by its digest.
MAX_PART = 200
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")

#: How a bad record's reason starts when the key strategy gives an event no key.
NO_KEY = "no key: "

CONVERSATION_PREFIX = "v2.detail.events.conversation."
AUDIT_PREFIX = "v2.audits."


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: equal documents give equal bytes.

    orjson is the fast path; what it refuses (integers beyond 64 bits, nesting past
    its limit) is written by :func:`_dumps`, without recursion, so the bytes do not
    depend on the call stack (a record nested 1,000 levels deep is keyed the same way
    by ``stats`` and ``process``). Both paths write every scalar the same way; the
    non-finite numbers (``1e400`` reads as infinity) as ``Infinity``, ``-Infinity``
    and ``NaN``, never as ``null`` (orjson's choice), so they neither collide with
    ``null`` nor key differently depending on their neighbours (see
    docs/hostile-inputs.md).
    """
    try:
        out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return _dumps(value).encode()
    if b"null" in out and _has_non_finite(value):
        return _dumps(value).encode()
    return out


#: How the non-finite floats are written (Python's ``json`` spelling).
_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}
_check_finite = json.JSONEncoder(allow_nan=False, check_circular=False).encode


def _has_non_finite(value: Any) -> bool:
    """Whether ``value`` holds an infinite or NaN float (orjson wrote it as ``null``)."""
    try:
        _check_finite(value)
    except ValueError:
        return True
    except RecursionError:  # deeper than the C encoder goes: walk it
        stack = [value]
        while stack:
            item = stack.pop()
            if type(item) is dict:
                stack.extend(item.values())
            elif type(item) is list:
                stack.extend(item)
            elif type(item) is float and not math.isfinite(item):
                return True
    return False


def _scalar(item: Any) -> str:
    """One scalar exactly as the orjson path writes it (non-finite numbers spelt out)."""
    if type(item) is float and not math.isfinite(item):
        return _NON_FINITE.get(item, "NaN")
    try:
        return orjson.dumps(item).decode()
    except TypeError:  # an integer beyond 64 bits, or what orjson cannot write at all
        return json.dumps(item, ensure_ascii=False)


def _dumps(value: Any) -> str:
    """Canonical JSON text of ``value`` (see :func:`canonical_json`), iteratively (any
    depth)."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if type(item) is _Text:
            out.append(item)
        elif isinstance(item, dict):
            out.append("{")
            stack.append(_Text("}"))
            last = len(item) - 1
            for i, key in enumerate(sorted(item, reverse=True)):
                stack.append(item[key])
                stack.append(_Text(("" if i == last else ",") + _key(key) + ":"))
        elif isinstance(item, list):
            out.append("[")
            stack.append(_Text("]"))
            for i, element in enumerate(reversed(item)):
                stack.append(element)
                if i != len(item) - 1:
                    stack.append(_Text(","))
        else:
            out.append(_scalar(item))
    return "".join(out)


def _key(key: str) -> str:
    try:
        return orjson.dumps(key).decode()
    except TypeError:
        return _ENCODE(key)


class _Text(str):
    """Already-encoded text on :func:`_dumps`'s stack."""


_ENCODE = json.encoder.encode_basestring


def digest(data: bytes) -> str:
    """A 128-bit BLAKE2b digest as 32 hex characters (collisions: ~2^-64 at 2^32 keys)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def content_digest(value: Any) -> str:
    """Digest of the canonical JSON of ``value``."""
    return digest(canonical_json(value))


def payload_fingerprint(event: Event) -> str:
    """The digest a record keeps of its payload: the canonical ``eventBody`` (the whole
    ``detail`` for shapes without one), as ``stats`` compares deliveries. Two deliveries
    of one key with different fingerprints are a conflict."""
    detail = event.detail
    body = detail.get("eventBody")
    return digest(canonical_json(body if type(body) is dict else detail))


def validate_namespace(namespace: str) -> str:
    """Namespaces are short, printable and free of the ``#`` separator."""
    if not _NAMESPACE.match(namespace):
        raise ConfigError(
            f"invalid namespace {namespace!r}: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return namespace


def _part(value: Any) -> str:
    """A key component: short strings as they are, anything else canonical or digested."""
    if type(value) is str:
        text = value
    elif type(value) is int:
        text = str(value)  # the canonical JSON of an integer, without serialising
    else:
        text = canonical_json(value).decode()
    if len(text) > MAX_PART or "#" in text:
        return "h:" + digest(text.encode())
    return text


# -- the genesys strategy ------------------------------------------------------------
# The rules below are the only copy: the stats scan's typed decoder
# (gcdedup.analysis.decode) reads the fields and calls these functions.


def conversation_key(
    template: Any, conversation: Any, participant: Any, session: Any, event_time: Any
) -> str | None:
    """``template#conversation#participant#session#eventTime`` of a conversation detail
    event, each part as :func:`_part` renders it; None when an id is missing (null)."""
    if type(event_time) is int:
        event_time = str(event_time)  # as _part renders an integer
    if (
        type(template) is str
        and type(conversation) is str
        and type(participant) is str
        and type(session) is str
        and type(event_time) is str
    ):
        return text_conversation_key(template, conversation, participant, session, event_time)
    if conversation is None or participant is None or session is None or event_time is None:
        return None
    return (
        f"{_part(template)}#{_part(conversation)}#{_part(participant)}"
        f"#{_part(session)}#{_part(event_time)}"
    )


def text_conversation_key(
    template: str, conversation: str, participant: str, session: str, event_time: str
) -> str:
    """:func:`conversation_key` of five strings (the common case, and the stats fast path)."""
    key = f"{template}#{conversation}#{participant}#{session}#{event_time}"
    # Every part as it is, without five calls, when no part holds a '#' (five parts,
    # four separators) and none is over the limit (none can be when the whole is not).
    if key.count("#") == 4 and (
        len(key) <= MAX_PART
        or max(len(template), len(conversation), len(participant), len(session), len(event_time))
        <= MAX_PART
    ):
        return key
    return (
        f"{_part(template)}#{_part(conversation)}#{_part(participant)}"
        f"#{_part(session)}#{_part(event_time)}"
    )


def audit_key(audit_id: Any) -> str | None:
    """``v2.audits#<id>`` of an audit event; None unless the id is a non-empty string."""
    if type(audit_id) is str and audit_id:
        return f"v2.audits#{_part(audit_id)}"
    return None


def topic_content_key(topic: str, content: Any) -> str:
    """``topic#digest of the canonical content``: topics without a business id."""
    return f"{_part(topic)}#{digest(canonical_json(content))}"


def genesys_envelope_key(envelope: dict[str, Any]) -> str:
    """:func:`genesys_key` of an envelope (a dict with a ``detail`` dict)."""
    detail = envelope["detail"]
    topic = detail.get("topicName")
    if type(topic) is not str or not topic:
        topic = envelope.get("detail-type")
        if type(topic) is not str or not topic:
            topic = "unknown"
    body = detail.get("eventBody")
    if type(body) is not dict:
        body = None
    if body is not None:
        if topic.startswith(CONVERSATION_PREFIX):
            template = envelope.get("detail-type")
            if type(template) is not str:
                from .events import topic_family

                template = topic_family(None, detail.get("topicName"))  # Event.family
            key = conversation_key(
                template,
                body.get("conversationId"),
                body.get("participantId"),
                body.get("sessionId"),
                body.get("eventTime"),
            )
            if key is not None:
                return key
        elif topic.startswith(AUDIT_PREFIX):
            key = audit_key(body.get("id"))
            if key is not None:
                return key
    event_id = detail.get("eventId")
    if type(event_id) is str and event_id and "eventBody" not in detail:
        return f"eventId#{_part(event_id)}#{content_digest(detail)}"
    return topic_content_key(topic, detail if body is None else body)


def genesys_key(event: Event) -> str:
    """Per-topic business identity of a Genesys Cloud event.

    * conversation detail events: the topic template plus conversation, participant,
      session and event time (two sends of one detail event share all four);
    * audits: the audit record id;
    * the tutorial's invented shape (``detail.eventId``): that id plus a content digest;
    * anything else: topic name plus the digest of the canonical eventBody.

    Never ``metadata.CorrelationId`` (a trace id) nor ``detail.timestamp`` (the send time).
    """
    return genesys_envelope_key(event.envelope)


def envelope_key(event: Event) -> str:
    """The EventBridge envelope ``id``: catches redeliveries only, not re-sends."""
    if event.id is None:
        raise KeyStrategyError("envelope: the event has no string 'id'")
    return f"id#{_part(event.id)}"


def content_key(event: Event) -> str:
    """Digest of the whole canonical ``detail`` (send timestamps included)."""
    return f"content#{content_digest(event.detail)}"


def tutorial_key(event: Event) -> str:
    """The tutorial's exact formula, to share a table it already filled.

    ``<detail.eventId>#<first 16 hex of sha256(json.dumps(detail, sort_keys=True))>``.
    No namespace prefix is added to these keys (see :func:`make_key`).
    """
    event_id = event.detail.get("eventId")
    if not event_id:
        raise KeyStrategyError("tutorial: detail has no eventId")
    canonical = json.dumps(event.detail, sort_keys=True)
    return f"{event_id}#{hashlib.sha256(canonical.encode('utf-8')).hexdigest()[:16]}"


@dataclass(frozen=True)
class KeyStrategy:
    """A named way to compute keys; ``prefixed`` is False only for ``tutorial``."""

    name: str
    function: Callable[[Event], str]
    description: str
    prefixed: bool = True


def _jmespath_strategy(expression: str) -> KeyStrategy:
    try:
        import jmespath
        from jmespath.exceptions import JMESPathError
    except ImportError as exc:  # pragma: no cover - jmespath is a dependency
        raise ConfigError("the jmespath package is needed for jmespath: strategies") from exc
    try:
        compiled = jmespath.compile(expression)
    except JMESPathError as exc:
        raise ConfigError(f"invalid JMESPath expression {expression!r}: {exc}") from exc

    def key(event: Event) -> str:
        value = compiled.search(event.envelope)
        if value is None or value == "" or value == []:
            raise KeyStrategyError(f"jmespath: {expression!r} found nothing in this event")
        if isinstance(value, str) and len(value) <= MAX_PART and "#" not in value:
            return f"jp#{value}"
        return f"jp#{content_digest(value)}"

    return KeyStrategy(f"jmespath:{expression}", key, f"the value of {expression} on the envelope")


STRATEGIES: dict[str, KeyStrategy] = {
    s.name: s
    for s in (
        KeyStrategy(
            "genesys",
            genesys_key,
            "business identity per topic: conversation+participant+session+eventTime for "
            "detail events, the audit id for audits, topic+eventBody digest otherwise",
        ),
        KeyStrategy("envelope", envelope_key, "the EventBridge envelope id (redeliveries only)"),
        KeyStrategy("content", content_key, "digest of the whole canonical detail"),
        KeyStrategy(
            "tutorial",
            tutorial_key,
            "the tutorial's eventId#sha256[:16] formula, unprefixed, for tables it filled",
            prefixed=False,
        ),
    )
}


def get_strategy(name: str) -> KeyStrategy:
    """Look up a strategy by name; ``jmespath:<expr>`` builds one."""
    if name.startswith("jmespath:"):
        return _jmespath_strategy(name[len("jmespath:") :])
    try:
        return STRATEGIES[name]
    except KeyError:
        valid = ", ".join([*STRATEGIES, "jmespath:<expr>"])
        raise ConfigError(f"unknown key strategy {name!r}; choose one of: {valid}") from None


@dataclass(frozen=True)
class KeyMaker:
    """A strategy bound to a namespace: the one object the pipeline asks for keys."""

    strategy: KeyStrategy
    namespace: str = DEFAULT_NAMESPACE

    @classmethod
    def create(
        cls, strategy: str = DEFAULT_STRATEGY, namespace: str = DEFAULT_NAMESPACE
    ) -> KeyMaker:
        return cls(get_strategy(strategy), validate_namespace(namespace))

    def __call__(self, event: Event) -> str:
        return make_key(self.strategy, self.namespace, event)


def make_key(strategy: KeyStrategy, namespace: str, event: Event) -> str:
    """``<namespace>#<key body>`` (``tutorial`` keys stay bare), within DynamoDB's limits."""
    try:
        body = strategy.function(event)
    except KeyStrategyError:
        raise
    except Exception as exc:  # a malformed event must be one bad record, never a crash
        raise KeyStrategyError(f"{strategy.name}: {type(exc).__name__}: {exc}") from exc
    if type(body) is not str:  # pragma: no cover - strategies return strings
        raise KeyStrategyError(f"{strategy.name}: the key is not a string")
    return bounded_key(f"{namespace}#" if strategy.prefixed else "", body)


def bounded_key(head: str, body: str) -> str:
    """``head + body``, or ``head`` + the digest of ``body`` when that is over the limit."""
    key = head + body
    if len(key) * 4 > MAX_KEY_BYTES and len(key.encode()) > MAX_KEY_BYTES:
        key = f"{head}h:{digest(body.encode())}"
    return key
