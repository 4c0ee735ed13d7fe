"""OAuth client credentials for Genesys Cloud, with a thread-safe token cache.

One token serves every call until shortly before it expires; concurrent callers
wait for a single refresh instead of each asking the login server. Genesys rate
limits token requests per client: the login server then answers HTTP 400
``invalid_request`` "rate limit exceeded". That answer is waited out with a doubling,
jittered backoff, within the transport's total wait limit and its deadline; if the
refresh still fails, callers within :data:`FAILURE_COOLDOWN_SECONDS` get the same
error without asking again (a batch of events makes one token request, not one each).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
import requests
from requests.auth import AuthBase

from gcdedup.errors import GenesysError
from gcdedup.genesys.secret import Secret
from gcdedup.genesys.transport import GenesysAPIError, Transport

logger = logging.getLogger(__name__)

#: Refresh this long before expiry; short tokens use a fraction of their life instead.
REFRESH_MARGIN_SECONDS = 60.0
REFRESH_MARGIN_FRACTION = 0.1
#: The first wait after a "rate limit exceeded" token answer; it doubles (with jitter).
TOKEN_BACKOFF_BASE_SECONDS = 1.0
TOKEN_BACKOFF_CAP_SECONDS = 16.0
#: After a failed token request, callers get the same error for this long instead of
#: each sending another request.
FAILURE_COOLDOWN_SECONDS = 5.0


def refresh_margin(expires_in: float) -> float:
    """60 s before expiry, or 10% of the lifetime when that is shorter (short-lived tokens)."""
    return min(REFRESH_MARGIN_SECONDS, expires_in * REFRESH_MARGIN_FRACTION)


class BearerAuth(AuthBase):
    """Sets ``Authorization: Bearer``; its repr never shows the token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(***)"


class _ClientBasicAuth(AuthBase):
    """HTTP Basic with the client id and secret, revealed only into the request header."""

    def __init__(self, client_id: str, secret: Secret) -> None:
        self._client_id = client_id
        self._secret = secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        basic = requests.auth.HTTPBasicAuth(self._client_id, self._secret.reveal())
        return basic(request)

    def __repr__(self) -> str:
        return f"_ClientBasicAuth({self._client_id!r}, ***)"


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: float

    def __repr__(self) -> str:
        return f"_Token(***, refresh_at={self.refresh_at})"


class ClientCredentialsAuth:
    """Gets, caches and refreshes an access token with the client credentials grant.

    ``POST {login_url}/oauth/token`` with HTTP Basic (client id and secret) and the
    form body ``grant_type=client_credentials``.
    """

    def __init__(
        self,
        transport: Transport,
        token_url: str,
        client_id: str,
        client_secret: Secret,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self.token_url = token_url
        self.client_id = client_id
        self._basic = _ClientBasicAuth(client_id, client_secret)
        self._clock = clock
        self._lock = threading.Lock()
        self._current: _Token | None = None
        self._failure: GenesysError | None = None
        self._failed_at = 0.0
        #: Token requests sent (each attempt counts); for diagnostics and tests.
        self.requests = 0

    def __repr__(self) -> str:
        return f"ClientCredentialsAuth(token_url={self.token_url!r}, client_id={self.client_id!r})"

    def token(self) -> str:
        """A valid access token: the cached one, or a fresh one (one refresh at a time).

        Raises the refresh's GenesysError; callers arriving within the cool-down after
        a failed refresh get that error again without a new request.
        """
        current = self._current
        if current is not None and self._clock() < current.refresh_at:
            return current.value
        with self._lock:
            # Another thread may have refreshed (or failed to) while this one waited.
            current = self._current
            if current is not None and self._clock() < current.refresh_at:
                return current.value
            failure = self._failure
            if failure is not None and self._clock() - self._failed_at < FAILURE_COOLDOWN_SECONDS:
                raise failure
            try:
                self._current = current = self._fetch()
            except GenesysError as exc:
                self._failure, self._failed_at = exc, self._clock()
                raise
            self._failure = None
            return current.value

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (the API answered 401 to it); a newer token is kept."""
        with self._lock:
            if self._current is not None and self._current.value == token:
                self._current = None

    def _fetch(self) -> _Token:
        started = self._clock()
        path = "/oauth/token"
        transport = self._transport
        waited = 0.0
        attempt = 0
        while True:
            self.requests += 1
            response = transport.request(
                "POST",
                self.token_url,
                auth=self._basic,
                data={"grant_type": "client_credentials"},
            )
            if response.status_code == 200:
                break
            error = GenesysAPIError.from_response(response, "POST", path)
            if not _is_token_rate_limit(error):
                hint = None
                if response.status_code in (400, 401):
                    hint = (
                        "check GENESYSCLOUD_OAUTHCLIENT_ID / GENESYSCLOUD_OAUTHCLIENT_SECRET and "
                        "that the OAuth client uses the Client Credentials grant in this region"
                    )
                raise GenesysAPIError.from_response(response, "POST", path, hint=hint)
            attempt += 1
            ceiling = min(
                TOKEN_BACKOFF_CAP_SECONDS, TOKEN_BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)
            )
            delay = random.uniform(ceiling / 2, ceiling)
            left = transport.time_left()
            if waited + delay > transport.max_rate_limit_wait or delay >= left:
                limit = (
                    f"exceed the {transport.max_rate_limit_wait:g} s limit"
                    if waited + delay > transport.max_rate_limit_wait
                    else f"not end before the deadline ({max(left, 0):.2g} s left)"
                )
                raise GenesysAPIError.from_response(
                    response,
                    "POST",
                    path,
                    hint=f"token requests rate limited {attempt} time(s); waiting "
                    f"{delay:.2g} s more would {limit}",
                )
            logger.warning(
                "Genesys token rate limit; waiting",
                extra={
                    "method": "POST",
                    "path": path,
                    "delay_s": round(delay, 3),
                    "waited_s": round(waited, 3),
                    "attempt": attempt,
                },
            )
            response.close()
            transport.sleep(delay)
            waited += delay
        try:
            body = orjson.loads(response.content)
            value = body["access_token"]
            expires_in = float(body.get("expires_in", 0))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            raise GenesysAPIError(
                "Genesys POST /oauth/token failed: the response has no access_token",
                method="POST",
                path=path,
                status=response.status_code,
            ) from None
        if not isinstance(value, str) or not value or expires_in <= 0:
            raise GenesysAPIError(
                "Genesys POST /oauth/token failed: invalid access_token or expires_in",
                method="POST",
                path=path,
                status=response.status_code,
            )
        logger.info(
            "Genesys access token acquired",
            extra={"client_id": self.client_id, "expires_in": expires_in},
        )
        return _Token(value, started + expires_in - refresh_margin(expires_in))


def _is_token_rate_limit(error: GenesysAPIError) -> bool:
    """The login server's answer to too many token requests: HTTP 400 ``invalid_request``
    whose description says "rate limit exceeded" (it does not use 429 for this)."""
    return (
        error.status == 400
        and error.code == "invalid_request"
        and "rate limit" in (error.api_message or "").lower()
    )
