"""The conversation handler on real Genesys EventBridge payloads, and secret redaction."""

from __future__ import annotations

import base64
import copy
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from genesys_server import *  # noqa: F403 - the genesys_server and genesys_settings fixtures
from genesys_server import CLIENT_SECRET, GenesysTestServer

from gcdedup.errors import GenesysError
from gcdedup.events import Event, Location
from gcdedup.genesys import (
    ConversationHandler,
    GenesysAPIError,
    GenesysSettings,
    build_genesys_handler,
)

SAMPLES = Path(__file__).parents[1] / "fixtures" / "genesys"
CONVERSATION = "2f7bf00a-0fc2-4d6a-9b56-92238191433e"
DETAIL_SAMPLES = [
    "03_detail_customer_end.json",
    "04_detail_customer_start.json",
    "05_detail_customer_end_no_external_contact.json",
]
OTHER_SAMPLES = ["01_user_presence_audit.json", "02_oauth_client_delete_audit.json"]


def sample(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return document


@pytest.fixture
def handler(genesys_settings: GenesysSettings) -> Iterator[ConversationHandler]:
    with build_genesys_handler(genesys_settings, sleep=lambda _: None) as handler:
        yield handler


@pytest.mark.parametrize("name", DETAIL_SAMPLES)
def test_conversation_events_fetch_their_conversation(
    handler: ConversationHandler, genesys_server: GenesysTestServer, name: str
) -> None:
    result = handler(sample(name))
    assert result is not None
    assert result["conversation"]["id"] == CONVERSATION
    assert genesys_server.calls(CONVERSATION) == 1
    assert genesys_server.total_calls == 1


def test_each_call_fetches_so_deduplication_is_the_pipelines_job(
    handler: ConversationHandler, genesys_server: GenesysTestServer
) -> None:
    for name in DETAIL_SAMPLES:
        handler(sample(name))
    assert genesys_server.calls(CONVERSATION) == 3
    assert genesys_server.token_requests == 1


def test_the_handler_returns_the_api_document(
    handler: ConversationHandler, genesys_server: GenesysTestServer
) -> None:
    genesys_server.conversations[CONVERSATION] = {"id": CONVERSATION, "divisions": []}
    assert handler(sample(DETAIL_SAMPLES[0])) == {
        "conversation": {"id": CONVERSATION, "divisions": []}
    }


@pytest.mark.parametrize("name", OTHER_SAMPLES)
def test_other_topics_make_no_call(
    handler: ConversationHandler, genesys_server: GenesysTestServer, name: str
) -> None:
    assert handler(sample(name)) is None
    assert genesys_server.total_calls == 0
    assert genesys_server.token_requests == 0


@pytest.mark.parametrize(
    "envelope",
    [
        {"detail-type": "v2.users.{id}.presence", "detail": {"eventBody": {"conversationId": "x"}}},
        {"detail-type": "v2.detail.events.conversation.{id}.customer.end"},  # no detail
        {"detail": "not an object"},
        {},
    ],
)
def test_envelopes_that_are_not_conversation_events_make_no_call(
    handler: ConversationHandler, genesys_server: GenesysTestServer, envelope: dict[str, Any]
) -> None:
    assert handler(envelope) is None
    assert genesys_server.total_calls == 0


def test_detail_type_is_used_when_there_is_no_topic_name(
    handler: ConversationHandler, genesys_server: GenesysTestServer
) -> None:
    envelope = sample(DETAIL_SAMPLES[0])
    del envelope["detail"]["topicName"]
    assert handler(envelope) is not None
    assert genesys_server.calls(CONVERSATION) == 1


def test_an_event_object_is_accepted_too(
    handler: ConversationHandler, genesys_server: GenesysTestServer
) -> None:
    event = Event(sample(DETAIL_SAMPLES[1]), Location("test"))
    assert handler(event) is not None
    assert genesys_server.calls(CONVERSATION) == 1


def test_a_conversation_event_without_an_id_fails(
    handler: ConversationHandler, genesys_server: GenesysTestServer
) -> None:
    envelope = sample(DETAIL_SAMPLES[0])
    del envelope["detail"]["eventBody"]["conversationId"]
    with pytest.raises(GenesysError, match=r"has no detail\.eventBody\.conversationId"):
        handler(envelope)
    assert genesys_server.total_calls == 0


def test_a_failed_fetch_raises_for_the_pipeline_to_release_the_claim(
    handler: ConversationHandler, genesys_server: GenesysTestServer
) -> None:
    genesys_server.always_fail(CONVERSATION, status=404)
    with pytest.raises(GenesysAPIError) as info:
        handler(sample(DETAIL_SAMPLES[0]))
    assert (info.value.status, info.value.code) == (404, "not.found")
    assert isinstance(info.value, GenesysError)


def test_the_conversation_id_cannot_escape_its_path(
    handler: ConversationHandler, genesys_server: GenesysTestServer
) -> None:
    envelope = sample(DETAIL_SAMPLES[0])
    envelope["detail"]["eventBody"]["conversationId"] = "../../users/me"
    result = handler(envelope)
    assert result is not None and result["conversation"]["id"] == "../../users/me"
    assert genesys_server.calls("../../users/me") == 1


def test_no_secret_or_token_in_reprs_errors_or_logs(
    genesys_settings: GenesysSettings,
    genesys_server: GenesysTestServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's included
    seen: list[str] = []
    handler = build_genesys_handler(genesys_settings, sleep=lambda _: None)
    with handler:
        handler(sample(DETAIL_SAMPLES[0]))
        token = handler.client.auth.token()
        genesys_server.revoke_tokens()
        genesys_server.rate_limit(1, retry_after="1")
        genesys_server.server_error(1)
        handler(sample(DETAIL_SAMPLES[1]))
        genesys_server.always_fail("broken", status=500)
        failing = copy.deepcopy(sample(DETAIL_SAMPLES[2]))
        failing["detail"]["eventBody"]["conversationId"] = "broken"
        with pytest.raises(GenesysError) as info:
            handler(failing)
        seen += [str(info.value), repr(info.value)]
        genesys_server.client_secret = "rotated"
        genesys_server.revoke_tokens()
        with pytest.raises(GenesysError) as info:
            handler(sample(DETAIL_SAMPLES[0]))
        seen += [str(info.value), repr(info.value)]
        seen += [repr(handler), repr(handler.client), repr(handler.client.auth)]
        seen += [repr(genesys_settings), str(genesys_settings), repr(handler.client.__dict__)]
    assert genesys_server.token_requests == 2
    assert caplog.records, "the flow logs retries and token refreshes"
    seen += [caplog.text]
    seen += [repr(record.__dict__) for record in caplog.records]
    basic = base64.b64encode(f"{genesys_settings.client_id}:{CLIENT_SECRET}".encode()).decode()
    for text in seen:
        assert CLIENT_SECRET not in text
        assert basic not in text
        assert token not in text
