"""Key strategies: what makes two events the same, and what never does."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gcdedup.errors import ConfigError, KeyStrategyError
from gcdedup.events import Event, Location
from gcdedup.keys import (
    MAX_KEY_BYTES,
    KeyMaker,
    _part,
    canonical_json,
    conversation_key,
    digest,
    genesys_key,
    get_strategy,
    text_conversation_key,
    validate_namespace,
)

SAMPLES = Path(__file__).parents[1] / "fixtures" / "genesys"


def load(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_text())


def event(envelope: dict[str, Any]) -> Event:
    return Event(envelope, Location("test"))


def key(envelope: dict[str, Any], strategy: str = "genesys", namespace: str = "default") -> str:
    return KeyMaker.create(strategy, namespace)(event(envelope))


END, START, END_NO_CONTACT = (
    "03_detail_customer_end.json",
    "04_detail_customer_start.json",
    "05_detail_customer_end_no_external_contact.json",
)


def test_genesys_detail_event_key_is_topic_and_identity() -> None:
    assert key(load(END)) == (
        "default#v2.detail.events.conversation.{id}.customer.end"
        "#2f7bf00a-0fc2-4d6a-9b56-92238191433e#9fb2ca78-8389-4758-b76a-9b0300de1fce"
        "#c03d300e-fa79-4353-9695-b97a71322785#1649237504949"
    )


def test_03_and_05_are_one_business_event_under_genesys_only() -> None:
    assert key(load(END)) == key(load(END_NO_CONTACT))
    assert key(load(END), "envelope") == key(load(END_NO_CONTACT), "envelope")
    assert key(load(END), "content") != key(load(END_NO_CONTACT), "content")
    assert key(load(END)) != key(load(START))


def test_audit_key_is_the_audit_id() -> None:
    assert key(load("01_user_presence_audit.json")) == (
        "default#v2.audits#b8775049-2993-450d-97d7-5d7c784d7cc9"
    )


def test_genesys_ignores_correlation_id_and_send_timestamp() -> None:
    original = load(END)
    resent = copy.deepcopy(original)
    resent["id"] = "another-envelope-id"
    resent["detail"]["metadata"]["CorrelationId"] = "another-trace"
    resent["detail"]["timestamp"] = "2030-01-01T00:00:00.000Z"
    assert key(original) == key(resent)
    assert key(original, "content") != key(resent, "content")
    assert key(original, "envelope") != key(resent, "envelope")


def test_other_topics_use_topic_and_body_digest() -> None:
    envelope = {
        "id": "x",
        "detail-type": "v2.users.{id}.presence",
        "detail": {
            "topicName": "v2.users.abc.presence",
            "eventBody": {"presenceDefinition": {"systemPresence": "Available"}},
            "timestamp": "2024-01-01T00:00:00Z",
        },
    }
    body_digest = digest(canonical_json(envelope["detail"]["eventBody"]))
    assert key(envelope) == f"default#v2.users.abc.presence#{body_digest}"


def test_tutorial_shape_and_tutorial_formula() -> None:
    detail = {
        "eventType": "conversation.update",
        "eventId": "conv-12345-abcde",
        "data": {"id": "c"},
    }
    envelope = {"id": "e", "detail-type": "Genesys Cloud Conversation Update", "detail": detail}
    expected_hash = hashlib.sha256(json.dumps(detail, sort_keys=True).encode()).hexdigest()[:16]
    assert key(envelope, "tutorial", "ignored") == f"conv-12345-abcde#{expected_hash}"
    assert key(envelope).startswith("default#eventId#conv-12345-abcde#")
    with pytest.raises(KeyStrategyError, match="tutorial: detail has no eventId"):
        key(load(END), "tutorial")


def test_jmespath_strategy() -> None:
    assert key(load(END), "jmespath:detail.eventBody.conversationId") == (
        "default#jp#2f7bf00a-0fc2-4d6a-9b56-92238191433e"
    )
    composite = key(
        load(END), "jmespath:[detail.eventBody.conversationId, detail.eventBody.eventTime]"
    )
    assert composite.startswith("default#jp#") and len(composite) == len("default#jp#") + 32
    with pytest.raises(KeyStrategyError, match="found nothing"):
        key(load(END), "jmespath:detail.nope")
    with pytest.raises(ConfigError, match="invalid JMESPath expression"):
        get_strategy("jmespath:detail.[")


def test_unknown_strategy_and_bad_namespace_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown key strategy 'nope'; choose one of: genesys"):
        get_strategy("nope")
    for bad in ("", "a#b", "has space", "-lead", "x" * 65):
        with pytest.raises(ConfigError, match="invalid namespace"):
            validate_namespace(bad)


def test_envelope_needs_an_id() -> None:
    envelope = load(END)
    del envelope["id"]
    with pytest.raises(KeyStrategyError, match="no string 'id'"):
        key(envelope, "envelope")


def test_huge_identity_parts_keep_keys_within_dynamodb_limits() -> None:
    envelope = load(END)
    envelope["detail"]["eventBody"]["conversationId"] = "c" * 5000
    envelope["detail-type"] = "t" * 5000
    result = key(envelope)
    assert len(result.encode()) <= MAX_KEY_BYTES
    assert key(envelope) == result


# orjson (the readers' parser) reads integers beyond 64 bits as floats: stay within them.
json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


def _shuffled(value: Any) -> Any:
    """The same JSON with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: _shuffled(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_shuffled(v) for v in value]
    return value


@settings(max_examples=150)
@given(body=st.dictionaries(st.text(max_size=6), json_values, max_size=6))
def test_key_order_and_whitespace_never_change_a_key(body: dict[str, Any]) -> None:
    envelope = {
        "id": "i",
        "detail-type": "v2.x",
        "detail": {"topicName": "v2.x.y", "eventBody": body},
    }
    reparsed = orjson.loads(json.dumps(_shuffled(envelope), indent=3))
    for strategy in ("genesys", "content", "envelope"):
        assert key(envelope, strategy) == key(reparsed, strategy)


@settings(max_examples=150)
@given(
    field=st.sampled_from(["conversationId", "participantId", "sessionId", "eventTime"]),
    new_value=st.one_of(st.text(min_size=1, max_size=20), st.integers()),
)
def test_any_change_to_an_identifying_field_changes_the_key(field: str, new_value: Any) -> None:
    original = load(END)
    changed = copy.deepcopy(original)
    if changed["detail"]["eventBody"][field] == new_value:
        return
    changed["detail"]["eventBody"][field] = new_value
    assert key(original) != key(changed)


@settings(max_examples=100)
@given(audit_id=st.text(min_size=1, max_size=40))
def test_audit_ids_map_one_to_one(audit_id: str) -> None:
    a = load("01_user_presence_audit.json")
    b = copy.deepcopy(a)
    b["detail"]["eventBody"]["id"] = audit_id
    assert (key(a) == key(b)) == (audit_id == a["detail"]["eventBody"]["id"])


@given(namespace=st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.\-]{0,20}\Z"))
def test_namespace_prefixes_every_key_but_tutorial(namespace: str) -> None:
    assert key(load(END), "genesys", namespace).startswith(f"{namespace}#")
    assert key(load(END), "content", namespace).startswith(f"{namespace}#")


def test_canonical_json_and_digest() -> None:
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": "é"}]}) == (
        '{"a":[1,{"c":"é","d":2}],"b":1}'.encode()
    )
    assert len(digest(b"x")) == 32  # 128 bits


@pytest.mark.parametrize(
    ("envelope", "strategy", "reason"),
    [
        ({"id": "a", "detail-type": 123, "detail": {"eventBody": {"a": 1}}}, "genesys", None),
        ({"id": "a", "detail-type": {"x": 1}, "detail": {"topicName": 7}}, "genesys", None),
        (
            {"id": "a", "detail": {"eventBody": {"eventTime": 5}}},
            "jmespath:length(detail.eventBody.eventTime)",
            "jmespath:length(detail.eventBody.eventTime): JMESPathTypeError",
        ),
    ],
)
def test_malformed_events_give_a_key_or_a_key_error_never_a_crash(
    envelope: dict[str, Any], strategy: str, reason: str | None
) -> None:
    if reason is None:
        assert key(envelope, strategy).startswith("default#unknown#")
    else:
        with pytest.raises(KeyStrategyError, match=re.escape(reason)):
            key(envelope, strategy)


@settings(max_examples=200)
@given(
    envelope=st.dictionaries(st.sampled_from(["id", "detail-type", "time"]), json_values).map(
        lambda e: {**e, "detail": {"topicName": e.get("time"), "eventBody": e.get("id")}}
    )
)
def test_any_envelope_values_give_a_key_or_a_key_error(envelope: dict[str, Any]) -> None:
    for strategy in ("genesys", "envelope", "content", "tutorial", "jmespath:id"):
        try:
            result = key(envelope, strategy)
        except KeyStrategyError as exc:
            assert str(exc).startswith(strategy.split(":")[0])
            continue
        assert isinstance(result, str)
        assert len(result.encode()) <= MAX_KEY_BYTES
        assert strategy == "tutorial" or result.startswith("default#")


_parts = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["", "a#b", "#", "x" * 200, "y" * 201, "é" * 150]),
    st.integers(min_value=-(2**70), max_value=2**70),
)


@settings(max_examples=300)
@given(st.tuples(_parts, _parts, _parts, _parts, _parts))
def test_the_conversation_key_shortcut_renders_every_part_as_part_does(
    parts: tuple[Any, ...],
) -> None:
    # The joined string is returned as it is only when that equals the part-by-part
    # rendering (no '#' inside a part, none over the length limit).
    expected = "#".join(_part(p) for p in parts)
    assert conversation_key(*parts) == expected
    if all(type(p) is str for p in parts):
        assert text_conversation_key(*parts) == expected


def test_a_conversation_event_without_an_id_is_keyed_by_its_body() -> None:
    assert conversation_key("t", "c", None, "s", 1) is None
    doc = load(END)
    del doc["detail"]["eventBody"]["sessionId"]
    assert genesys_key(event(doc)) == f"{doc['detail']['topicName']}#" + digest(
        canonical_json(doc["detail"]["eventBody"])
    )
