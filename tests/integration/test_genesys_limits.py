"""The Genesys client within a deadline, and the login server's token rate limit.

Against the local Genesys server over sockets; waits go through an injected sleep
that moves a fake clock, so the deadline arithmetic is exact and nothing really sleeps
(except the one test about per-attempt timeouts, which needs a real slow socket).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from genesys_server import *  # noqa: F403 - the genesys_server and genesys_settings fixtures
from genesys_server import GenesysTestServer

from gcdedup.genesys import GenesysAPIError, GenesysClient, GenesysSettings
from gcdedup.genesys import auth as auth_module
from gcdedup.genesys import transport as transport_module
from gcdedup.genesys.handlers import build_genesys_handler

CONVERSATION = "2f7bf00a-0fc2-4d6a-9b56-92238191433e"


class FakeTime:
    """A clock only the injected sleep moves, and a deadline ``budget`` seconds away."""

    def __init__(self, budget: float = float("inf")) -> None:
        self.now = 0.0
        self.deadline = budget
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def time_left(self) -> float:
        return self.deadline - self.now


def client_for(settings: GenesysSettings, fake: FakeTime) -> GenesysClient:
    return GenesysClient(settings, sleep=fake.sleep, clock=fake.clock, time_left=fake.time_left)


def token_posts(server: GenesysTestServer) -> int:
    return len(server.authorizations)  # one per POST /oauth/token, whatever its answer


# -- the token endpoint's rate limit (HTTP 400 "rate limit exceeded") ------------------------


def test_token_rate_limit_is_backed_off_and_retried(
    genesys_settings: GenesysSettings, genesys_server: GenesysTestServer
) -> None:
    genesys_server.token_rate_limit(2)
    fake = FakeTime()
    with client_for(genesys_settings, fake) as client:
        assert client.get_conversation(CONVERSATION)["id"] == CONVERSATION
    assert token_posts(genesys_server) == 3
    assert genesys_server.token_requests == 1  # tokens issued
    first, second = fake.sleeps
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 2.0  # doubling, jittered


def test_a_batch_shares_one_token_request_sequence(
    genesys_settings: GenesysSettings, genesys_server: GenesysTestServer
) -> None:
    """Ten events at once while the login server says "rate limit exceeded" twice:
    the threads wait for one refresh instead of each asking for a token."""
    genesys_server.token_rate_limit(2)
    fake = FakeTime()
    handler = build_genesys_handler(genesys_settings, sleep=fake.sleep)
    event = {
        "id": "e",
        "detail-type": "v2.detail.events.conversation.{id}.customer.start",
        "detail": {
            "topicName": f"v2.detail.events.conversation.{CONVERSATION}.customer.start",
            "eventBody": {"conversationId": CONVERSATION},
        },
    }
    with handler, ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: handler(event), range(10)))
    assert [r["conversation"]["id"] for r in results] == [CONVERSATION] * 10
    assert token_posts(genesys_server) == 3
    assert genesys_server.calls(CONVERSATION) == 10


def test_token_rate_limit_past_the_deadline_fails_and_is_not_asked_again_at_once(
    genesys_settings: GenesysSettings, genesys_server: GenesysTestServer
) -> None:
    genesys_server.token_rate_limit(5)
    fake = FakeTime(budget=1.5)  # room for the first wait (<= 1 s), not the second (>= 1 s)
    with client_for(genesys_settings, fake) as client:
        with pytest.raises(GenesysAPIError) as raised:
            client.get_conversation(CONVERSATION)
        assert raised.value.status == 400
        assert "token requests rate limited 2 time(s)" in str(raised.value)
        assert "not end before the deadline" in str(raised.value)
        assert len(fake.sleeps) == 1
        assert token_posts(genesys_server) == 2
        # The next event inside the cool-down gets the same answer without a request.
        with pytest.raises(GenesysAPIError, match="rate limited 2 time"):
            client.get_conversation(CONVERSATION)
        assert token_posts(genesys_server) == 2
        fake.deadline = fake.now + 60
        fake.now += auth_module.FAILURE_COOLDOWN_SECONDS
        assert client.get_conversation(CONVERSATION)["id"] == CONVERSATION
    assert token_posts(genesys_server) == 2 + 4  # the three 400s left, then the token


def test_bad_credentials_are_not_retried_as_a_rate_limit(
    genesys_settings: GenesysSettings, genesys_server: GenesysTestServer
) -> None:
    genesys_server.client_secret = "another"
    fake = FakeTime()
    with (
        client_for(genesys_settings, fake) as client,
        pytest.raises(GenesysAPIError, match="HTTP 401 invalid_client"),
    ):
        client.get_conversation(CONVERSATION)
    assert fake.sleeps == [] and token_posts(genesys_server) == 1


# -- API waits within the deadline -----------------------------------------------------------


def test_a_429_wait_that_would_pass_the_deadline_is_not_started(
    genesys_settings: GenesysSettings, genesys_server: GenesysTestServer
) -> None:
    genesys_server.rate_limit(3, retry_after="3")
    fake = FakeTime(budget=5.0)
    with client_for(genesys_settings, fake) as client, pytest.raises(GenesysAPIError) as raised:
        client.get_conversation(CONVERSATION)
    assert fake.sleeps == [3.0]  # the second 3 s wait would end at 6 s > 5 s
    assert raised.value.status == 429
    assert "would not end before the deadline (2 s left)" in str(raised.value)
    assert genesys_server.calls(CONVERSATION) == 2


def test_a_5xx_retry_that_would_pass_the_deadline_is_not_started(
    genesys_settings: GenesysSettings,
    genesys_server: GenesysTestServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transport_module.random, "uniform", lambda low, high: high)
    genesys_server.server_error(3, status=503)
    fake = FakeTime(budget=0.75)  # backoff ceilings 0.5, 1.0: one retry fits, not two
    with client_for(genesys_settings, fake) as client, pytest.raises(GenesysAPIError) as raised:
        client.get_conversation(CONVERSATION)
    assert fake.sleeps == [0.5]
    assert str(raised.value).startswith("Genesys GET /api/v2/conversations/")
    assert "HTTP 503 after 2 attempt(s); a retry after 1 s would not end before" in str(
        raised.value
    )
    assert genesys_server.calls(CONVERSATION) == 2


def test_nothing_is_sent_once_the_deadline_has_passed(
    genesys_settings: GenesysSettings, genesys_server: GenesysTestServer
) -> None:
    fake = FakeTime(budget=0.0)
    with (
        client_for(genesys_settings, fake) as client,
        pytest.raises(GenesysAPIError, match="not sent: no time left"),
    ):
        client.get_conversation(CONVERSATION)
    assert token_posts(genesys_server) == 0


def test_a_slow_answer_is_cut_at_the_deadline(
    genesys_settings: GenesysSettings, genesys_server: GenesysTestServer
) -> None:
    """Real time: the read timeout (2 s here) shrinks to the 0.5 s left, and the read
    error's retry is not started because no time is left for it."""
    genesys_server.slow(3.0)
    deadline = time.monotonic() + 0.5
    started = time.monotonic()
    with (
        GenesysClient(genesys_settings, time_left=lambda: deadline - time.monotonic()) as client,
        pytest.raises(GenesysAPIError) as raised,
    ):
        client.get_conversation(CONVERSATION)
    elapsed = time.monotonic() - started
    assert elapsed < 1.5, elapsed
    assert "no response after 1 attempt(s)" in str(raised.value) or "timed out" in str(raised.value)
