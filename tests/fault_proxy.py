"""An HTTP proxy on 127.0.0.1 that sits between botocore and a local server and injects
network faults the way they happen in production.

* A **lost response**: the request is forwarded and applied by the server, then the
  connection is closed before any byte of the answer reaches the client. botocore sees a
  closed connection and retries the very same request, which now meets its own effect.
* An **outage**: for a while the port refuses connections (nothing listens on it) and
  open connections are cut; then the proxy listens again on the same port.

The proxy speaks just enough HTTP/1.1 for botocore's requests (Content-Length bodies,
keep-alive) and counts every request by operation (``X-Amz-Target``).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["FaultProxy", "Request", "lose_first_response"]

_UNAVAILABLE_BODY = (
    b'{"__type":"com.amazonaws.dynamodb.v20120810#ServiceUnavailableException",'
    b'"message":"injected by the fault proxy"}'
)
_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/x-amz-json-1.0\r\n"
    + f"Content-Length: {len(_UNAVAILABLE_BODY)}\r\nConnection: keep-alive\r\n\r\n".encode()
    + _UNAVAILABLE_BODY
)
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass(frozen=True)
class Request:
    """One request as the proxy saw it."""

    operation: str  # e.g. PutItem ('' when the request names none)
    body: bytes


def lose_first_response(*operations: str) -> Callable[[Request], bool]:
    """A rule losing the response of the first attempt of every request of these
    operations (all when none are named): botocore's retry of the same body then goes
    through. A retry resends the same body, so the body tells attempts apart."""
    seen: set[bytes] = set()
    lock = threading.Lock()

    def rule(request: Request) -> bool:
        if operations and request.operation not in operations:
            return False
        with lock:
            if request.body in seen:
                return False
            seen.add(request.body)
            return True

    return rule


class FaultProxy:
    """Forwards to ``upstream`` (``http://host:port``); ``lose`` decides which responses
    are lost after the server applied the request (None: none)."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.lose: Callable[[Request], bool] | None = None
        #: Requests received, by operation (lost ones too; refused connections never arrive).
        self.received: Counter[str] = Counter()
        #: Responses lost, by operation.
        self.lost: Counter[str] = Counter()
        #: When the current outage ends (time.monotonic()).
        self.refused_until = 0.0
        self.unavailable_until = 0.0
        #: Requests answered 503 by ``unavailable``.
        self.unavailable_answers = 0
        self._lock = threading.Lock()
        self._clients: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._stopped = threading.Event()
        self._listen(0)
        assert self._listener is not None
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    # -- listening -------------------------------------------------------------------

    def _listen(self, port: int) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed: an outage or the end
            with self._lock:
                self._clients.add(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def outage(self, seconds: float) -> None:
        """Refuse connections for ``seconds`` (open connections are cut), then listen
        again on the same port; returns at once."""
        self._stop_listening()
        self.refused_until = time.monotonic() + seconds

        def recover() -> None:
            if not self._stopped.wait(seconds):
                self._listen(self.port)

        threading.Thread(target=recover, daemon=True).start()

    def unavailable(self, seconds: float) -> None:
        """Answer every request with 503 Service Unavailable (not forwarded) for
        ``seconds``; returns at once."""
        self.unavailable_until = time.monotonic() + seconds

    def _stop_listening(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            clients, self._clients = self._clients, set()
        if listener is not None:
            # shutdown first: on Linux, close alone does not wake a thread blocked in
            # accept(), which would go on accepting connections during the outage
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for client in clients:
            _cut(client)

    def close(self) -> None:
        self._stopped.set()
        self._stop_listening()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one client connection -------------------------------------------------------

    def _serve(self, client: socket.socket) -> None:
        upstream = http.client.HTTPConnection(*self._upstream, timeout=30)
        reader = client.makefile("rb")
        try:
            while True:
                head = _read_head(reader)
                if head is None:
                    return
                method, target, headers = head
                length = int(headers.get("content-length", "0"))
                body = reader.read(length) if length else b""
                operation = headers.get("x-amz-target", "").rpartition(".")[2]
                request = Request(operation, body)
                with self._lock:
                    self.received[operation] += 1
                if time.monotonic() < self.unavailable_until:
                    with self._lock:
                        self.unavailable_answers += 1
                    client.sendall(_UNAVAILABLE)
                    continue
                forwarded = {k: v for k, v in headers.items() if k not in _HOP_HEADERS}
                upstream.request(method, target, body=body, headers=forwarded)
                response = upstream.getresponse()
                payload = response.read()  # the server has applied the request by now
                rule = self.lose
                if rule is not None and rule(request):
                    with self._lock:
                        self.lost[operation] += 1
                    return  # closed below without a byte of the answer
                lines = [f"HTTP/1.1 {response.status} {response.reason}"]
                lines += [
                    f"{k}: {v}" for k, v in response.getheaders() if k.lower() not in _HOP_HEADERS
                ]
                lines += [f"Content-Length: {len(payload)}", "Connection: keep-alive"]
                client.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
        except OSError:
            return
        finally:
            upstream.close()
            with self._lock:
                self._clients.discard(client)
            _cut(client)


def _read_head(reader: object) -> tuple[str, str, dict[str, str]] | None:
    """The request line and headers (names lower-cased); None at the end of the stream."""
    readline = reader.readline  # type: ignore[attr-defined]
    line = readline(65537)
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        raw = readline(65537)
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return method, target, headers


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
