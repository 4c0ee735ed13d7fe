"""The Genesys client against a real local server over sockets: tokens, retries, errors."""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Iterator

import pytest
from genesys_server import *  # noqa: F403 - the genesys_server and genesys_settings fixtures
from genesys_server import CLIENT_SECRET, GenesysTestServer

from gcdedup.errors import GenesysError
from gcdedup.genesys import GenesysAPIError, GenesysClient, GenesysSettings
from gcdedup.genesys.auth import refresh_margin

CONVERSATION = "2f7bf00a-0fc2-4d6a-9b56-92238191433e"


class Sleeps(list[float]):
    """An injectable sleep that records what it was asked to wait, and returns at once."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(genesys_settings: GenesysSettings, sleeps: Sleeps) -> Iterator[GenesysClient]:
    with GenesysClient(genesys_settings, sleep=sleeps) as client:
        yield client


# -- tokens ------------------------------------------------------------------------------------


def test_one_token_serves_many_calls(
    client: GenesysClient, genesys_server: GenesysTestServer
) -> None:
    for _ in range(5):
        assert client.get_conversation(CONVERSATION)["id"] == CONVERSATION
    assert genesys_server.token_requests == 1
    assert genesys_server.calls(CONVERSATION) == 5


def test_token_request_is_basic_auth_with_the_client_credentials_grant(
    client: GenesysClient, genesys_server: GenesysTestServer
) -> None:
    client.get_conversation(CONVERSATION)
    # The server checks the form body and Content-Type; a bad one would be a 400, not a token.
    assert genesys_server.authorizations == [
        "Basic dGVzdC1jbGllbnQtaWQ6czNjcjN0LVpxOHZYMS1uZXZlci1wcmludC1tZQ=="
    ]


@pytest.mark.parametrize(("expires_in", "refresh_after"), [(86400, 86340.0), (10, 9.0)])
def test_token_is_refreshed_shortly_before_it_expires(
    genesys_settings: GenesysSettings,
    genesys_server: GenesysTestServer,
    expires_in: int,
    refresh_after: float,
) -> None:
    genesys_server.expires_in = expires_in
    clock = Clock()
    with GenesysClient(genesys_settings, clock=clock) as client:
        first = client.auth.token()
        clock.now += refresh_after - 0.001
        assert client.auth.token() == first
        clock.now += 0.002
        second = client.auth.token()
        assert second != first
        assert client.auth.token() == second
    assert genesys_server.token_requests == 2


def test_refresh_margin_is_60s_or_10_percent_for_short_tokens() -> None:
    assert refresh_margin(86400) == 60
    assert refresh_margin(600) == 60
    assert refresh_margin(300) == 30


def test_concurrent_callers_share_one_token_request(
    client: GenesysClient, genesys_server: GenesysTestServer
) -> None:
    genesys_server.slow(0.2, target="token")
    barrier = threading.Barrier(16)
    tokens: list[str] = []

    def worker() -> None:
        barrier.wait()
        tokens.append(client.auth.token())

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tokens) == 16 and len(set(tokens)) == 1
    assert genesys_server.token_requests == 1


def test_concurrent_fetches_use_one_token_and_count_each_call(
    client: GenesysClient, genesys_server: GenesysTestServer
) -> None:
    ids = [f"conv-{n}" for n in range(20)]
    threads = [threading.Thread(target=client.get_conversation, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(genesys_server.calls(i) == 1 for i in ids)
    assert genesys_server.token_requests == 1


def test_bad_secret_fails_with_401_and_the_endpoint_but_not_the_secret(
    genesys_settings: GenesysSettings, genesys_server: GenesysTestServer
) -> None:
    genesys_server.client_secret = "the-real-one"
    with (
        GenesysClient(genesys_settings) as client,
        pytest.raises(GenesysError) as info,
    ):
        client.get_conversation(CONVERSATION)
    error = info.value
    assert isinstance(error, GenesysAPIError)
    assert (error.status, error.method, error.path, error.code) == (
        401,
        "POST",
        "/oauth/token",
        "invalid_client",
    )
    assert str(error).startswith(
        "Genesys POST /oauth/token failed: HTTP 401 invalid_client: client not found "
        "(check GENESYSCLOUD_OAUTHCLIENT_ID / GENESYSCLOUD_OAUTHCLIENT_SECRET"
    )
    for text in (str(error), repr(error), repr(client), repr(client.auth)):
        assert CLIENT_SECRET not in text
    assert genesys_server.token_requests == 0
    assert genesys_server.calls(CONVERSATION) == 0


# -- 401 -----------------------------------------------------------------------------------------


def test_401_refreshes_the_token_once_then_succeeds(
    client: GenesysClient, genesys_server: GenesysTestServer
) -> None:
    client.get_conversation(CONVERSATION)
    genesys_server.revoke_tokens()
    assert client.get_conversation(CONVERSATION)["id"] == CONVERSATION
    assert genesys_server.token_requests == 2
    assert genesys_server.calls(CONVERSATION) == 3  # ok, 401, ok


def test_401_twice_fails_clearly(client: GenesysClient, genesys_server: GenesysTestServer) -> None:
    genesys_server.unauthorized(2)
    with pytest.raises(GenesysAPIError) as info:
        client.get_conversation(CONVERSATION)
    assert info.value.status == 401
    assert info.value.code == "bad.credentials"
    assert str(info.value).startswith(
        f"Genesys GET /api/v2/conversations/{CONVERSATION} failed: HTTP 401 bad.credentials: "
        "Invalid login credentials. (still unauthorized with a freshly issued token)"
    )
    assert genesys_server.token_requests == 2
    assert genesys_server.calls(CONVERSATION) == 2


# -- 429 -----------------------------------------------------------------------------------------


def test_429_waits_as_retry_after_says(
    client: GenesysClient, genesys_server: GenesysTestServer, sleeps: Sleeps
) -> None:
    genesys_server.rate_limit(2, retry_after="3")
    assert client.get_conversation(CONVERSATION)["id"] == CONVERSATION
    assert sleeps == [3.0, 3.0]
    assert genesys_server.calls(CONVERSATION) == 3


def test_429_ignores_the_withdrawn_inin_ratelimit_reset_header(
    client: GenesysClient, genesys_server: GenesysTestServer, sleeps: Sleeps
) -> None:
    """Genesys removed ``inin-ratelimit-reset`` in 2021: a stale proxy's value is not used."""
    genesys_server.rate_limit(1, retry_after=None, reset="7")
    client.get_conversation(CONVERSATION)
    assert sleeps == [1.0]  # the doubling fallback's first wait
    assert genesys_server.calls(CONVERSATION) == 2


def test_429_without_headers_doubles_a_fallback_wait(
    client: GenesysClient, genesys_server: GenesysTestServer, sleeps: Sleeps
) -> None:
    genesys_server.rate_limit(3, retry_after=None)
    client.get_conversation(CONVERSATION)
    assert sleeps == [1.0, 2.0, 4.0]


def test_429_beyond_the_total_wait_budget_fails(
    client: GenesysClient, genesys_server: GenesysTestServer, sleeps: Sleeps
) -> None:
    genesys_server.rate_limit(100, retry_after="25")
    with pytest.raises(GenesysAPIError) as info:
        client.get_conversation(CONVERSATION)
    assert sleeps == [25.0, 25.0]  # a third wait would pass the 60 s default
    assert genesys_server.calls(CONVERSATION) == 3
    error = info.value
    assert (error.status, error.code) == (429, "too.many.requests")
    assert "exceed the 60 s limit" in str(error)


def test_429_on_the_token_endpoint_is_waited_out(
    client: GenesysClient, genesys_server: GenesysTestServer, sleeps: Sleeps
) -> None:
    genesys_server.rate_limit(1, retry_after="2", target="token")
    client.get_conversation(CONVERSATION)
    assert sleeps == [2.0]
    assert genesys_server.token_requests == 1


# -- 5xx, connection errors, timeouts ------------------------------------------------------------


def test_5xx_is_retried_with_jittered_backoff_then_succeeds(
    client: GenesysClient, genesys_server: GenesysTestServer, sleeps: Sleeps
) -> None:
    genesys_server.server_error(2, status=503)
    assert client.get_conversation(CONVERSATION)["id"] == CONVERSATION
    assert genesys_server.calls(CONVERSATION) == 3
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0


def test_5xx_retries_exhausted_fail_with_status_code_and_message(
    genesys_settings: GenesysSettings, genesys_server: GenesysTestServer, sleeps: Sleeps
) -> None:
    genesys_server.server_error(100, status=500)
    settings = dataclasses.replace(genesys_settings, max_retries=2)
    with GenesysClient(settings, sleep=sleeps) as client, pytest.raises(GenesysAPIError) as info:
        client.get_conversation(CONVERSATION)
    error = info.value
    assert (error.status, error.code, error.api_message) == (
        500,
        "internal.server.error",
        "The service is currently unavailable",
    )
    assert error.correlation_id
    assert genesys_server.calls(CONVERSATION) == 3
    assert len(sleeps) == 2


def test_4xx_is_not_retried(
    client: GenesysClient, genesys_server: GenesysTestServer, sleeps: Sleeps
) -> None:
    genesys_server.always_fail("gone", status=404)
    with pytest.raises(GenesysAPIError) as info:
        client.get_conversation("gone")
    assert (info.value.status, info.value.code) == (404, "not.found")
    assert genesys_server.calls("gone") == 1
    assert sleeps == []


def test_token_post_is_not_retried_on_5xx(
    client: GenesysClient, genesys_server: GenesysTestServer, sleeps: Sleeps
) -> None:
    genesys_server.server_error(1, status=503, target="token")
    with pytest.raises(GenesysAPIError) as info:
        client.get_conversation(CONVERSATION)
    assert (info.value.status, info.value.path) == (503, "/oauth/token")
    assert sleeps == []


def test_connection_refused_is_retried_then_a_genesys_error(
    genesys_settings: GenesysSettings, sleeps: Sleeps
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings = GenesysSettings(
        client_id="x",
        client_secret=genesys_settings.client_secret,
        api_url=url,
        login_url=url,
        max_retries=2,
    )
    with GenesysClient(settings, sleep=sleeps) as client, pytest.raises(GenesysError) as info:
        client.get_conversation(CONVERSATION)
    error = info.value
    assert isinstance(error, GenesysAPIError) and error.status is None
    assert str(error).startswith(
        f"Genesys POST /oauth/token failed: could not reach 127.0.0.1:{port}"
    )
    assert "refused" in str(error).lower()
    assert len(sleeps) == 2  # connection failures are retried even for the POST


def test_slow_response_times_out(
    genesys_settings: GenesysSettings, genesys_server: GenesysTestServer, sleeps: Sleeps
) -> None:
    settings = GenesysSettings(
        client_id=genesys_settings.client_id,
        client_secret=genesys_settings.client_secret,
        api_url=genesys_settings.api_url,
        login_url=genesys_settings.login_url,
        read_timeout=0.2,
        max_retries=1,
    )
    with GenesysClient(settings, sleep=sleeps) as client:
        client.auth.token()
        genesys_server.slow(2.0)
        with pytest.raises(GenesysAPIError) as info:
            client.get_conversation(CONVERSATION)
    assert str(info.value).startswith(
        f"Genesys GET /api/v2/conversations/{CONVERSATION} failed: timed out"
    )
    assert info.value.status is None
    assert genesys_server.calls(CONVERSATION) == 2  # a GET read timeout is retried once
    assert len(sleeps) == 1


def test_connection_pool_is_sized_from_settings(genesys_settings: GenesysSettings) -> None:
    settings = GenesysSettings(
        client_id="x",
        client_secret=genesys_settings.client_secret,
        api_url=genesys_settings.api_url,
        login_url=genesys_settings.login_url,
        pool_size=32,
    )
    with GenesysClient(settings) as client:
        assert client.transport.adapter._pool_maxsize == 32  # type: ignore[attr-defined]
        assert client.transport.timeout == (settings.connect_timeout, settings.read_timeout)
