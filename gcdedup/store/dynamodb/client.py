"""The boto3 client a DynamoDB store talks through: URL options, retry configuration,
and one ``call`` that turns botocore's exceptions into gcdedup's.

boto3 is imported only when a client is made, so the CLI starts fast and boto3
stays an optional extra (``gcdedup[dynamodb]``).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from ...aws_region import no_region, region_from_env
from ...errors import ConfigError, MissingDependencyError, StoreError
from .errors import (
    ConditionFailed,
    Refused,
    botocore_error,
    client_error,
    error_code,
    old_item,
    one_line,
    retry_attempts,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

T = TypeVar("T")
Sleep = Callable[[float], None]

DEFAULT_CONCURRENCY = 16
DEFAULT_MAX_ATTEMPTS = 10
DEFAULT_RETRY_MODE = "standard"
RETRY_MODES = ("standard", "adaptive", "legacy")
#: How long (seconds) one store call keeps retrying a DynamoDB it cannot reach (connection
#: errors, timeouts, 5xx answers) once botocore's own retries are spent: botocore's
#: retry quota is gone after a few dozen failed attempts, so a brief outage would
#: otherwise end a run within a second. ``outage_seconds=N`` in the store URL.
DEFAULT_OUTAGE_SECONDS = 60.0
#: The longest wait between two of those retries.
OUTAGE_BACKOFF_CAP = 4.0
OUTAGE_BACKOFF_BASE = 0.1

#: The options a ``dynamodb://`` URL takes (``?name=value``).
URL_OPTIONS = (
    "endpoint_url",
    "region",
    "profile",
    "concurrency",
    "retry_mode",
    "max_attempts",
    "outage_seconds",
    *("pk", "sk", "partition", "prefix"),
)
#: The URL options that say where records live in the table (codec.Layout), not how
#: to reach it.
LAYOUT_OPTIONS = ("pk", "sk", "partition", "prefix")
_INTEGER_OPTIONS = ("concurrency", "max_attempts")
_NUMBER_OPTIONS = ("outage_seconds",)

_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")


@dataclass(frozen=True)
class ClientOptions:
    """How to reach the table: the ``dynamodb://`` URL's options, checked."""

    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    retry_mode: str = DEFAULT_RETRY_MODE
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    outage_seconds: float = DEFAULT_OUTAGE_SECONDS

    def __post_init__(self) -> None:
        if not 0 <= self.outage_seconds <= 3600:
            raise ConfigError(
                f"DynamoDB outage_seconds must be 0 to 3600, not {self.outage_seconds}"
            )
        if self.concurrency < 1:
            raise ConfigError(f"DynamoDB concurrency must be at least 1, not {self.concurrency}")
        if self.max_attempts < 1:
            raise ConfigError(f"DynamoDB max_attempts must be at least 1, not {self.max_attempts}")
        if self.retry_mode not in RETRY_MODES:
            raise ConfigError(
                f"invalid retry_mode {self.retry_mode!r}: use standard, adaptive or legacy"
            )


#: Per-attempt timeouts of the client, in seconds (a CLI run has no deadline).
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0


def check_table_name(table: str) -> str:
    if not _TABLE_NAME.match(table):
        raise ConfigError(
            f"invalid DynamoDB table name {table!r}: 3-255 characters of A-Z a-z 0-9 _ . -"
        )
    return table


def parse_url(url: str, **overrides: object) -> tuple[str, dict[str, Any]]:
    """``dynamodb://Table[?endpoint_url=...&region=...&concurrency=16&profile=...]`` ->
    the table name and its options as keyword arguments.

    ``overrides`` win over the query string; ``None`` values are ignored so a CLI can
    pass its unset flags through.
    """
    parts = urlsplit(url)
    if parts.scheme != "dynamodb" or not parts.netloc or parts.path not in ("", "/"):
        raise ConfigError(f"invalid DynamoDB URL {url!r}: use dynamodb://TableName")
    merged: dict[str, object] = {
        k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=False).items()
    }
    merged.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(merged) - set(URL_OPTIONS))
    if unknown:
        raise ConfigError(
            f"unknown DynamoDB store option(s) {', '.join(unknown)}: "
            f"valid are {', '.join(URL_OPTIONS)}"
        )
    options: dict[str, Any] = {}
    for name, value in merged.items():
        if name in _INTEGER_OPTIONS:
            try:
                options[name] = int(str(value))
            except ValueError:
                raise ConfigError(f"DynamoDB option {name} must be an integer") from None
        elif name in _NUMBER_OPTIONS:
            try:
                options[name] = float(str(value))
            except ValueError:
                raise ConfigError(f"DynamoDB option {name} must be a number of seconds") from None
        else:
            options[name] = str(value)
    return parts.netloc, options


def make_client(
    table: str,
    options: ClientOptions,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
) -> DynamoDBClient:
    """The low-level client: botocore's retries for throttling, one pooled connection
    per worker, timeouts on every call (shorter ones where a deadline rules, as in
    Lambda)."""
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError
    except ImportError as exc:
        raise MissingDependencyError("boto3", "dynamodb") from exc
    # total_max_attempts counts the first try too (as AWS_MAX_ATTEMPTS does).
    retries: Any = {"mode": options.retry_mode, "total_max_attempts": options.max_attempts}
    config = Config(
        retries=retries,
        max_pool_connections=options.concurrency + 4,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        tcp_keepalive=True,
    )
    try:
        session = boto3.session.Session(
            profile_name=options.profile, region_name=options.region or region_from_env()
        )
        # endpoint_url=None lets boto3 honour AWS_ENDPOINT_URL_DYNAMODB itself.
        return session.client("dynamodb", endpoint_url=options.endpoint_url, config=config)
    except BotoCoreError as exc:
        if type(exc).__name__ == "NoRegionError":
            raise StoreError(
                no_region(f"dynamodb://{table}", f", or use dynamodb://{table}?region=eu-west-1")
            ) from exc
        raise StoreError(f"cannot open DynamoDB table {table}: {one_line(exc)}") from exc


def route_retry_sleeps(client: Any, sleep: Sleep) -> bool:
    """Let botocore's retry handler decide whether and how long to wait before a retry,
    and ``sleep`` do the waiting (botocore then sleeps 0).

    Every retry mode registers its handler on ``needs-retry.<service>`` under the
    unique id ``retry-config-<service>``; it is wrapped in place. False (and botocore
    keeps sleeping itself) if no such handler is found.
    """
    service = client.meta.service_model.service_id.hyphenize()
    event, unique_id = f"needs-retry.{service}", f"retry-config-{service}"
    emitter = getattr(client.meta.events, "_emitter", client.meta.events)
    entry = getattr(emitter, "_unique_id_handlers", {}).get(unique_id)
    if not entry or not callable(entry.get("handler")):
        return False
    # A client routed before (shared by two stores) is routed again from botocore's own
    # handler, so only the newest sleep waits.
    decide: Callable[..., float | None] = getattr(
        entry["handler"], "botocore_handler", entry["handler"]
    )

    def needs_retry(**kwargs: Any) -> float | None:
        delay = decide(**kwargs)
        if delay is None:
            return None
        sleep(delay)
        return 0

    needs_retry.botocore_handler = decide  # type: ignore[attr-defined]

    client.meta.events.unregister(event, unique_id=unique_id)
    client.meta.events.register(event, needs_retry, unique_id=unique_id)
    return True


def unreachable(exc: Exception) -> bool:
    """A failure that says DynamoDB could not be reached or could not answer (connection
    refused or cut, timeouts, a 5xx answer): worth waiting for. Throttling, refused
    credentials and a deadline hook's refusal are not."""
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return int(status or 0) >= 500
    return isinstance(exc, (BotoConnectionError, HTTPClientError))


class TableClient:
    """The client and the table it serves; ``call`` maps every error to gcdedup's and
    rides out an outage of up to ``outage_seconds``."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        outage_seconds: float = DEFAULT_OUTAGE_SECONDS,
        sleep: Sleep = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.table = table
        self.outage_seconds = outage_seconds
        self._sleep = sleep
        self._monotonic = monotonic

    def call(
        self, operation: str, fn: Callable[..., T], allow: tuple[str, ...] = (), **kwargs: Any
    ) -> T:
        """``fn(**kwargs)``; a refused condition becomes ConditionFailed, a code in
        ``allow`` Refused, anything else a one-line StoreError naming the table and
        ``operation`` (what we were doing: claim, check, init, ...).

        While DynamoDB cannot be reached, the same request is sent again with backoff
        until ``outage_seconds`` have passed since the first failure. Every write of
        the store recognises its own earlier effect (``ConditionFailed.retried``), so
        sending it again is safe.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        attempt = 0
        since: float | None = None
        while True:
            try:
                return fn(**kwargs)
            except ClientError as exc:
                code = error_code(exc)
                if code == "ConditionalCheckFailedException":
                    retried = attempt > 0 or retry_attempts(exc) > 0
                    raise ConditionFailed(old_item(exc), retried) from None
                if code in allow:
                    raise Refused(code) from None
                failure: Exception = exc
                error = client_error(self.table, operation, exc)
            except BotoCoreError as exc:
                failure, error = exc, botocore_error(self.table, operation, exc)
            if not unreachable(failure) or self.outage_seconds <= 0:
                raise error from failure
            now = self._monotonic()
            since = now if since is None else since
            left = self.outage_seconds - (now - since)
            if left <= 0:
                raise type(error)(
                    f"{error} (still failing after {self.outage_seconds:g} s of retries: "
                    "outage_seconds=N in the store URL waits longer)"
                ) from failure
            bound = min(OUTAGE_BACKOFF_CAP, OUTAGE_BACKOFF_BASE * 2**attempt)
            self._sleep(min(left, random.uniform(bound / 2, bound)))
            attempt += 1
