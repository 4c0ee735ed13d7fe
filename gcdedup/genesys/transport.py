"""HTTP plumbing shared by the token and API calls: retries, rate limits, errors.

Two retry mechanisms, each where it fits:

* urllib3's :class:`~urllib3.util.Retry`, mounted on the session's HTTPAdapter, retries
  what it is built for: connection failures (any method: the request never reached
  the server), and for GETs only, read errors and 500/502/503/504. It keeps the
  per-error counters, the method allow-list and hands back the last 5xx response
  when it gives up, so the error still carries Genesys' ``code`` and ``message``.
  A small subclass replaces its sleep with full-jitter exponential backoff through
  an injectable ``sleep`` (urllib3 calls ``time.sleep`` directly).
* An explicit loop in :meth:`Transport.request` handles 429 (``Retry-After``, else a
  doubling wait). urllib3 cannot cap the *total* time one call spends waiting, nor
  keep it within a deadline, and would sleep without logging why. A 429 means the
  request was not processed, so the loop retries POSTs (the token) as well.

Every wait is also bounded by ``time_left`` (a callable: seconds until the caller's
deadline, e.g. what is left of a Lambda invocation): per-attempt timeouts shrink to
fit, and a retry or a 429 wait that cannot end before the deadline is not started;
the call fails with a :class:`GenesysAPIError` saying so.

The 401 "refresh the token once" step and the token endpoint's own rate limit
(HTTP 400 ``rate limit exceeded``) live a layer up, in the client and the auth,
because they need the token cache.
"""

from __future__ import annotations

import logging
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    InvalidHeader,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.util import Retry

from gcdedup import __version__
from gcdedup.errors import GenesysError

logger = logging.getLogger(__name__)

Sleep = Callable[[float], None]
#: Seconds left before the caller's deadline (``math.inf`` when there is none).
TimeLeft = Callable[[], float]


def no_deadline() -> float:
    return math.inf


#: Statuses a GET is retried on; 501 and other 5xx say "this will not work" and are not.
RETRY_STATUSES = frozenset({500, 502, 503, 504})
#: A 429 wait when Retry-After does not say how long (doubles).
RATE_LIMIT_FALLBACK_DELAY = 1.0
#: A floor for a 429 wait, so ``Retry-After: 0`` cannot spin through the budget.
MIN_RATE_LIMIT_DELAY = 0.5
USER_AGENT = f"gcdedup/{__version__}"

_R = TypeVar("_R", bound="BackoffRetry")
_CONNECTION_PREFIX = re.compile(r"^(?:<[^>]*>|\w+\(host=[^)]*\)): ")


class GenesysAPIError(GenesysError):
    """One Genesys call failed: what was called, the HTTP status and Genesys' own words.

    ``status`` is None when no HTTP response arrived (connection error, timeout).
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        status: int | None = None,
        code: str | None = None,
        api_message: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.api_message = api_message
        self.correlation_id = correlation_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r})"

    @classmethod
    def from_response(
        cls, response: requests.Response, method: str, path: str, hint: str | None = None
    ) -> GenesysAPIError:
        """Build the error from a non-2xx response and Genesys' JSON error body."""
        code, api_message = _error_fields(response.content)
        correlation_id = response.headers.get("ININ-Correlation-Id")
        text = f"Genesys {method} {path} failed: HTTP {response.status_code}"
        if code:
            text += f" {code}"
        if api_message:
            text += f": {api_message}"
        if hint:
            text += f" ({hint})"
        if correlation_id:
            text += f" [correlation id {correlation_id}]"
        return cls(
            text,
            method=method,
            path=path,
            status=response.status_code,
            code=code,
            api_message=api_message,
            correlation_id=correlation_id,
        )

    @classmethod
    def from_exception(
        cls, exc: requests.RequestException, method: str, url: str
    ) -> GenesysAPIError:
        """Build the error for a call that got no response at all."""
        parts = urlsplit(url)
        reason = _root_cause(exc)
        if isinstance(exc, requests.Timeout) or (
            isinstance(reason, (ReadTimeoutError, ConnectTimeoutError))
            and not isinstance(reason, NewConnectionError)
        ):
            what = "timed out"
        else:
            what = f"could not reach {parts.netloc}"
        # urllib3 prefixes the connection object ("HTTPConnectionPool(host=...): "); the
        # message already names the host.
        detail = _CONNECTION_PREFIX.sub("", str(reason))
        return cls(
            f"Genesys {method} {parts.path} failed: {what}: {detail}",
            method=method,
            path=parts.path,
        )


class BackoffRetry(Retry):
    """urllib3's Retry, sleeping full-jitter exponential backoff through an injected sleep."""

    _sleep: Sleep
    _time_left: TimeLeft
    _backoff_base: float
    _backoff_cap: float

    @classmethod
    def build(
        cls,
        retries: int,
        sleep: Sleep,
        *,
        time_left: TimeLeft = no_deadline,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
    ) -> BackoffRetry:
        retry = cls(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            allowed_methods=frozenset({"GET"}),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=0,
            raise_on_status=False,
            respect_retry_after_header=False,
        )
        retry._sleep = sleep
        retry._time_left = time_left
        retry._backoff_base = backoff_base
        retry._backoff_cap = backoff_cap
        return retry

    def new(self: _R, **kw: Any) -> _R:
        retry = super().new(**kw)
        retry._sleep = self._sleep
        retry._time_left = self._time_left
        retry._backoff_base = self._backoff_base
        retry._backoff_cap = self._backoff_cap
        return retry

    def sleep(self, response: Any = None) -> None:
        attempt = len(self.history)
        ceiling = min(self._backoff_cap, self._backoff_base * 2 ** max(attempt - 1, 0))
        delay = random.uniform(0, ceiling)
        last = self.history[-1] if self.history else None
        left = self._time_left()
        if delay >= left:
            # Waiting would leave no time for the retry: stop here (Transport.request
            # turns this into a GenesysAPIError).
            raise _NoTimeToRetry(attempt, delay, left, last.status if last else None)
        logger.warning(
            "retrying Genesys request",
            extra={
                "attempt": attempt,
                "delay_s": round(delay, 3),
                "status": last.status if last else None,
                "error": repr(last.error) if last and last.error else None,
                "path": urlsplit(last.url).path if last and last.url else None,
            },
        )
        self._sleep(delay)


class _NoTimeToRetry(Exception):
    """Raised out of urllib3's retry loop when the deadline leaves no time for a retry.

    Not a urllib3 or requests exception, so it passes through both unchanged.
    """

    def __init__(self, attempt: int, delay: float, left: float, status: int | None) -> None:
        super().__init__(attempt, delay, left, status)
        self.attempt = attempt
        self.delay = delay
        self.left = left
        self.status = status


class Transport:
    """A pooled ``requests.Session`` with timeouts, retries and 429 handling on every call."""

    def __init__(
        self,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_retries: int,
        max_rate_limit_wait: float,
        pool_size: int,
        sleep: Sleep = time.sleep,
        time_left: TimeLeft = no_deadline,
    ) -> None:
        self.timeout = (connect_timeout, read_timeout)
        self.max_rate_limit_wait = max_rate_limit_wait
        self.sleep = sleep
        self.time_left = time_left
        self.session = requests.Session()
        # Proxies and CA bundles still come from the environment; every call passes
        # ``auth=`` explicitly, so requests never substitutes ~/.netrc credentials.
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self.retry = BackoffRetry.build(max_retries, sleep, time_left=time_left)
        self.adapter = HTTPAdapter(
            pool_connections=2, pool_maxsize=pool_size, max_retries=self.retry
        )
        self.session.mount("https://", self.adapter)
        self.session.mount("http://", self.adapter)

    def request(
        self,
        method: str,
        url: str,
        *,
        auth: requests.auth.AuthBase,
        data: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send one call; return its response (any status but 429) or raise GenesysAPIError.

        429s are retried while the total wait stays within ``max_rate_limit_wait`` and
        ends before the deadline; each attempt's timeouts are cut to the time left.
        """
        path = urlsplit(url).path
        waited = 0.0
        rate_limited = 0
        while True:
            left = self.time_left()
            if left <= 0:
                raise GenesysAPIError(
                    f"Genesys {method} {path} not sent: no time left before the deadline",
                    method=method,
                    path=path,
                )
            connect, read = self.timeout
            try:
                response = self.session.request(
                    method,
                    url,
                    auth=auth,
                    data=data,
                    timeout=(min(connect, left), min(read, left)),
                    allow_redirects=False,
                )
            except _NoTimeToRetry as stop:
                what = f"HTTP {stop.status}" if stop.status else "no response"
                raise GenesysAPIError(
                    f"Genesys {method} {path} failed: {what} after {stop.attempt} attempt(s); "
                    f"a retry after {stop.delay:.2g} s would not end before the deadline "
                    f"({max(stop.left, 0):.2g} s left)",
                    method=method,
                    path=path,
                    status=stop.status,
                ) from None
            except requests.RequestException as exc:
                raise GenesysAPIError.from_exception(exc, method, url) from exc
            if response.status_code != 429:
                return response
            rate_limited += 1
            delay = self._rate_limit_delay(response, rate_limited)
            left = self.time_left()
            if waited + delay > self.max_rate_limit_wait or delay >= left:
                limit = (
                    f"exceed the {self.max_rate_limit_wait:g} s limit"
                    if waited + delay > self.max_rate_limit_wait
                    else f"not end before the deadline ({max(left, 0):.2g} s left)"
                )
                raise GenesysAPIError.from_response(
                    response,
                    method,
                    path,
                    hint=f"rate limited {rate_limited} time(s); waiting {delay:g} s more would "
                    + limit,
                )
            logger.warning(
                "Genesys rate limit; waiting",
                extra={"method": method, "path": path, "delay_s": delay, "waited_s": waited},
            )
            response.close()
            self.sleep(delay)
            waited += delay

    def _rate_limit_delay(self, response: requests.Response, count: int) -> float:
        """Seconds to wait: Retry-After, else a doubling fallback.

        (Genesys' ``inin-ratelimit-reset`` header is not read: it was withdrawn in 2021.)
        """
        delay: float | None = None
        retry_after = response.headers.get("Retry-After")
        if retry_after:
            try:
                delay = self.retry.parse_retry_after(retry_after)
            except (InvalidHeader, ValueError, OverflowError):
                delay = None  # an unparseable header is the server's bug: fall back
        if delay is None:
            delay = RATE_LIMIT_FALLBACK_DELAY * 2 ** (count - 1)
        return max(delay, MIN_RATE_LIMIT_DELAY)

    def close(self) -> None:
        self.session.close()


def _error_fields(body: bytes) -> tuple[str | None, str | None]:
    """Genesys errors are ``{"message", "code", "status"}``; OAuth ones ``{"error", ...}``."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(document, dict):
        return None, None
    code = document.get("code") or document.get("error")
    message = (
        document.get("message") or document.get("error_description") or document.get("description")
    )
    return (
        str(code) if code else None,
        _shorten(str(message)) if message else None,
    )


def _shorten(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost reason of a requests/urllib3 exception chain (MaxRetryError.reason...)."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "reason", None)
        if not isinstance(inner, BaseException) and exc.args:
            inner = exc.args[0]
        if not isinstance(inner, BaseException):
            break
        exc = inner
    return exc
