"""A local Genesys Cloud stand-in over real sockets, for the client and handler tests.

It speaks ``POST /oauth/token`` (HTTP Basic, client credentials grant) and
``GET /api/v2/conversations/{id}`` (bearer token), injects faults on demand
(429 with Retry-After, 5xx, revoked tokens, slow responses, a conversation that
always fails, the login server's 400 "rate limit exceeded") and counts calls
thread-safely.

Shared fixtures: ``genesys_server`` (a started server) and ``genesys_settings``
(GenesysSettings pointing at it). A test module gets them with
``from genesys_server import *`` (they are this module's ``__all__``).
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

import pytest

from gcdedup.genesys.settings import GenesysSettings

__all__ = ["genesys_server", "genesys_settings"]

CLIENT_ID = "test-client-id"
CLIENT_SECRET = "s3cr3t-Zq8vX1-never-print-me"
CONVERSATIONS_PREFIX = "/api/v2/conversations/"


@dataclass
class Fault:
    """One injected response: ``status`` with ``body`` and ``headers``, ``times`` times."""

    status: int
    times: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)


class GenesysTestServer:
    """``with GenesysTestServer() as server: ... server.url ...``"""

    def __init__(
        self,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        expires_in: int = 86400,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._tokens: dict[str, float] = {}
        self._faults: dict[str, list[Fault]] = {"api": [], "token": []}
        self._failing: dict[str, int] = {}
        self._delays: dict[str, float] = {"api": 0.0, "token": 0.0}
        self.token_requests = 0
        self.conversation_calls: Counter[str] = Counter()
        self.authorizations: list[str] = []
        self.conversations: dict[str, dict[str, Any]] = {}
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.genesys = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_port}"

    def start(self) -> GenesysTestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> GenesysTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- switches ------------------------------------------------------------------------------

    def rate_limit(
        self,
        times: int,
        retry_after: str | None = "1",
        reset: str | None = None,
        target: str = "api",
    ) -> None:
        """The next ``times`` calls to ``target`` ("api" or "token") get 429."""
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        if reset is not None:
            headers.update({"inin-ratelimit-reset": reset, "inin-ratelimit-allowed": "300"})
        body = {
            "message": "Rate limit exceeded the maximum. [300] requests for [60] seconds",
            "code": "too.many.requests",
            "status": 429,
        }
        self._add_fault(target, Fault(429, times, headers, body))

    def token_rate_limit(self, times: int) -> None:
        """The next ``times`` token requests get what Genesys' login server sends when a
        client asks for tokens too fast: HTTP 400 ``invalid_request``, not a 429."""
        body = {
            "error": "invalid_request",
            "description": "rate limit exceeded",
            "error_description": "rate limit exceeded",
        }
        self._add_fault("token", Fault(400, times, {}, body))

    def server_error(self, times: int, status: int = 503, target: str = "api") -> None:
        """The next ``times`` calls to ``target`` get a 5xx with a Genesys error body."""
        body = {
            "message": "The service is currently unavailable",
            "code": "service.unavailable" if status == 503 else "internal.server.error",
            "status": status,
        }
        self._add_fault(target, Fault(status, times, {}, body))

    def unauthorized(self, times: int) -> None:
        """The next ``times`` API calls get 401 whatever their token."""
        self._add_fault("api", Fault(401, times, {}, _BAD_CREDENTIALS))

    def revoke_tokens(self) -> None:
        """Forget every issued token: the next API call with one gets 401."""
        with self._lock:
            self._tokens.clear()

    def slow(self, seconds: float, target: str = "api") -> None:
        """Delay every response of ``target`` by ``seconds`` (0 turns it off)."""
        with self._lock:
            self._delays[target] = seconds

    def always_fail(self, conversation_id: str, status: int = 404) -> None:
        """GET of this conversation always fails with ``status``."""
        with self._lock:
            self._failing[conversation_id] = status

    def calls(self, conversation_id: str) -> int:
        with self._lock:
            return self.conversation_calls[conversation_id]

    @property
    def total_calls(self) -> int:
        with self._lock:
            return sum(self.conversation_calls.values())

    # -- internals -----------------------------------------------------------------------------

    def _add_fault(self, target: str, fault: Fault) -> None:
        with self._lock:
            self._faults[target].append(fault)

    def _take_fault(self, target: str) -> Fault | None:
        with self._lock:
            queue = self._faults[target]
            while queue and queue[0].times <= 0:
                queue.pop(0)
            if not queue:
                return None
            queue[0].times -= 1
            return queue[0]

    def _delay(self, target: str) -> None:
        with self._lock:
            seconds = self._delays[target]
        if seconds:
            self._stopping.wait(seconds)

    def _issue_token(self) -> str:
        token = uuid.uuid4().hex
        with self._lock:
            self.token_requests += 1
            self._tokens[token] = time.monotonic() + self.expires_in
        return token

    def _token_valid(self, token: str) -> bool:
        with self._lock:
            expires = self._tokens.get(token)
        return expires is not None and time.monotonic() < expires


_BAD_CREDENTIALS = {
    "message": "Invalid login credentials.",
    "code": "bad.credentials",
    "status": 401,
}


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 drops connections when many client threads connect at
    # once, and a dropped SYN costs a one-second retransmit.
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    @property
    def genesys(self) -> GenesysTestServer:
        server: GenesysTestServer = self.server.genesys  # type: ignore[attr-defined]
        return server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every response.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: pytest shows failures, not access logs."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        if self.path != "/oauth/token":
            self._send(404, {"message": "not found", "code": "not.found", "status": 404})
            return
        server = self.genesys
        with server._lock:
            server.authorizations.append(self.headers.get("Authorization", ""))
        server._delay("token")
        fault = server._take_fault("token")
        if fault is not None:
            self._send(fault.status, fault.body, fault.headers)
            return
        expected = base64.b64encode(f"{server.client_id}:{server.client_secret}".encode())
        if self.headers.get("Authorization") != f"Basic {expected.decode()}":
            self._send(401, {"error": "invalid_client", "description": "client not found"})
            return
        form = parse_qs(raw)
        content_type = self.headers.get("Content-Type", "")
        if not content_type.startswith("application/x-www-form-urlencoded") or form.get(
            "grant_type"
        ) != ["client_credentials"]:
            self._send(400, {"error": "unsupported_grant_type"})
            return
        token = server._issue_token()
        self._send(
            200,
            {"access_token": token, "token_type": "bearer", "expires_in": server.expires_in},
        )

    def do_GET(self) -> None:
        server = self.genesys
        if not self.path.startswith(CONVERSATIONS_PREFIX):
            self._send(404, {"message": "not found", "code": "not.found", "status": 404})
            return
        conversation_id = unquote(self.path[len(CONVERSATIONS_PREFIX) :])
        with server._lock:
            server.conversation_calls[conversation_id] += 1
        server._delay("api")
        authorization = self.headers.get("Authorization", "")
        token = authorization.removeprefix("Bearer ")
        if not authorization.startswith("Bearer ") or not server._token_valid(token):
            self._send(401, _BAD_CREDENTIALS)
            return
        fault = server._take_fault("api")
        if fault is not None:
            self._send(fault.status, fault.body, fault.headers)
            return
        with server._lock:
            failing = server._failing.get(conversation_id)
            document = server.conversations.get(conversation_id)
        if failing is not None:
            self._send(
                failing,
                {
                    "message": f"Conversation {conversation_id} failed on purpose",
                    "code": "not.found" if failing == 404 else "internal.server.error",
                    "status": failing,
                },
            )
            return
        if document is None:
            document = {
                "id": conversation_id,
                "startTime": "2022-04-06T09:29:45.013Z",
                "participants": [{"id": "9fb2ca78-8389-4758-b76a-9b0300de1fce"}],
            }
        self._send(200, document)

    def _send(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("ININ-Correlation-Id", str(uuid.uuid4()))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a read timeout); nothing to answer


@pytest.fixture
def genesys_server() -> Iterator[GenesysTestServer]:
    with GenesysTestServer() as server:
        yield server


@pytest.fixture
def genesys_settings(genesys_server: GenesysTestServer) -> GenesysSettings:
    """Settings for the local server, with short timeouts so failing tests stay fast."""
    return GenesysSettings.from_env(
        {
            "GENESYSCLOUD_OAUTHCLIENT_ID": genesys_server.client_id,
            "GENESYSCLOUD_OAUTHCLIENT_SECRET": genesys_server.client_secret,
            "GENESYSCLOUD_API_URL": genesys_server.url,
            "GENESYSCLOUD_LOGIN_URL": genesys_server.url,
        },
        connect_timeout=2.0,
        read_timeout=2.0,
    )
