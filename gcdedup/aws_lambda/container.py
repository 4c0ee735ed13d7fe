"""What one Lambda container builds once and reuses: settings, store, handler, deadline.

Built in Lambda's init phase (when the runtime imports the handler module, see
:func:`prewarm`), so the boto3 clients and the Genesys connection pool exist before
the first invocation; elsewhere (tests, a local call) on first use. A configuration
error raises :class:`ConfigError` naming the variable at fault, after one ERROR line
``container failed``; the next invocation tries again.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from ..errors import ConfigError, HandlerError
from ..handlers import BuiltHandler, build_handler
from ..pipeline import Pipeline
from ..settings import DEFAULT_BATCH_SIZE, ENV_VARS, Settings, new_run_id, parse_duration
from ..store import Clock, DedupStore, open_store
from ..store.cache import CachedStore
from .logs import configure_logging, emit

ENV_HANDLER = "GCDEDUP_HANDLER"
ENV_GENESYS = "GCDEDUP_GENESYS"
ENV_GENESYS_SECRET_ID = "GCDEDUP_GENESYS_SECRET_ID"
ENV_STORE = "GCDEDUP_STORE"
#: No event starts with less than this left of the invocation; see :class:`Deadline`.
ENV_MARGIN = "GCDEDUP_DEADLINE_MARGIN"
DEFAULT_MARGIN_SECONDS = 5.0

#: Lambda's defaults where the CLI's differ: no per-key duplicate counters (a second
#: write per duplicate on DynamoDB; the invocation's metrics carry the counts), and a
#: container cache of this many completed keys.
LAMBDA_DEFAULTS = {"count_duplicates": False, "cache_size": 10_000}

#: Added to the invocation's remaining time to make a claim's lease: the claim
#: outlives its holder by at most this much if the invocation times out or dies.
LEASE_MARGIN_SECONDS = 2.0

#: The DynamoDB client the container builds: short timeouts (DynamoDB answers in
#: milliseconds), few attempts; one attempt's worst case is connect + read.
DYNAMODB_CONNECT_TIMEOUT = 1.0
DYNAMODB_READ_TIMEOUT = 2.0
DYNAMODB_MAX_ATTEMPTS = 3
#: The Secrets Manager client's (one call per container).
SECRETS_CONNECT_TIMEOUT = 2.0
SECRETS_READ_TIMEOUT = 5.0

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class LambdaContext(Protocol):
    """The part of Lambda's context object we use."""

    aws_request_id: str

    def get_remaining_time_in_millis(self) -> int: ...


class Deadline:
    """When the current invocation must be over, read once at its start.

    ``remaining()`` is infinite outside an invocation or without a Lambda context (a
    local call). The container's clients read it: the Genesys client bounds its waits
    by :meth:`Container.wait_budget`, the DynamoDB client refuses to start an attempt
    (a retry, or anything past the deadline) that could not end in time.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._at: float | None = None

    def start(self, context: LambdaContext | None) -> None:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        self._at = None if remaining is None else self._clock() + remaining() / 1000.0

    def clear(self) -> None:
        self._at = None

    def remaining(self) -> float:
        return math.inf if self._at is None else self._at - self._clock()


@dataclass
class Container:
    """What one Lambda container builds once and reuses across invocations."""

    settings: Settings
    store: DedupStore
    handler: BuiltHandler
    pipeline: Pipeline
    deadline: Deadline
    margin: float
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def handler_name(self) -> str:
        return self.handler.name

    @property
    def chunk_size(self) -> int:
        """Events started together: as many as run at once (``GCDEDUP_CONCURRENCY``);
        the deadline is checked before each chunk. Count-only runs take store batches."""
        if self.handler.handler is None:
            return self.settings.batch_size or DEFAULT_BATCH_SIZE
        return self.settings.concurrency

    def wait_budget(self) -> float:
        """Seconds a started event may still wait (on Genesys): until half the margin
        before the deadline, leaving the rest to record outcomes and return."""
        return self.deadline.remaining() - self.margin / 2

    def close(self) -> None:
        self.pipeline.close()
        for closer in reversed(self.closers):
            closer()
        self.store.close()


_container: Container | None = None
_container_lock = threading.Lock()
_test_clock: Clock | None = None
_test_deadline_clock: Callable[[], float] | None = None


def get_container() -> Container:
    """The container's settings, store and handler, built on first use."""
    global _container
    if _container is None:
        with _container_lock:
            if _container is None:
                configure_logging()
                _container = build_container(
                    os.environ, clock=_test_clock, deadline_clock=_test_deadline_clock
                )
    return _container


def prewarm() -> None:
    """Build the container in Lambda's init phase (called when the runtime imports us).

    A failure is logged (``container failed``) and left for the first invocation,
    which tries again and fails with the same error.
    """
    with contextlib.suppress(Exception):  # logged by build_container; the handler raises it
        get_container()


def reset(*, clock: Clock | None = None, deadline_clock: Callable[[], float] | None = None) -> None:
    """Forget (and close) the cached container, as a fresh container would start.

    Tests use it between cases; ``clock`` makes the next container's store use a
    fake clock, ``deadline_clock`` its deadline.
    """
    global _container, _test_clock, _test_deadline_clock
    with _container_lock:
        if _container is not None:
            try:
                _container.close()
            finally:
                _container = None
        _test_clock = clock
        _test_deadline_clock = deadline_clock


def build_container(
    env: Mapping[str, str],
    clock: Clock | None = None,
    deadline_clock: Callable[[], float] | None = None,
) -> Container:
    """Settings, store and handler from the environment.

    Anything wrong raises :class:`ConfigError` whose message starts with the variable
    at fault (``GCDEDUP_TTL='5 days': invalid TTL ...``), after one ERROR line
    ``container failed``; whatever was already built (the Genesys handler) is closed.
    """
    closers: list[Callable[[], None]] = []
    try:
        return _build(env, clock, Deadline(deadline_clock or time.monotonic), closers)
    except Exception as exc:
        for closer in reversed(closers):
            try:
                closer()
            except Exception:  # pragma: no cover - the original error matters more
                logging.getLogger(__name__).debug("closing after a failed start failed")
        emit(logging.ERROR, "container failed", error=f"{type(exc).__name__}: {exc}")
        raise


def _build(
    env: Mapping[str, str],
    clock: Clock | None,
    deadline: Deadline,
    closers: list[Callable[[], None]],
) -> Container:
    store_url = (env.get(ENV_STORE) or "").strip()
    if not store_url:
        # The CLI's default (an SQLite file in the home directory) is read-only and
        # per-container in Lambda: a dedup table must be named explicitly.
        raise ConfigError(f"{ENV_STORE} is not set (e.g. dynamodb://gcdedup-dedup)")
    run_id = env.get("GCDEDUP_RUN_ID") or f"lambda-{new_run_id()}"
    # Each setting on its own first, so that an error names its variable.
    for name, variable in ENV_VARS.items():
        value = env.get(variable)
        if value and name not in ("store_url", "run_id"):
            with _naming(variable, value):
                Settings.resolve(env={}, store_url=store_url, run_id=run_id, **{name: value})
    defaults = {name: v for name, v in LAMBDA_DEFAULTS.items() if not env.get(ENV_VARS[name])}
    settings = Settings.resolve(env=env, run_id=run_id, **defaults)
    margin = DEFAULT_MARGIN_SECONDS
    if raw_margin := (env.get(ENV_MARGIN) or "").strip():
        with _naming(ENV_MARGIN, raw_margin):
            margin = parse_duration(raw_margin, "deadline margin")
    handler = _build_handler(env, lambda: deadline.remaining() - margin / 2)
    closers.append(handler.close)
    shown = _redact_url(settings.store_url)
    with _naming(ENV_STORE, settings.store_url, shown):
        store = _open_store(settings, clock, deadline)
    if settings.cache_size:
        store = CachedStore(store, settings.cache_size)
    try:
        pipeline = Pipeline(store, settings, handler.handler)
    except Exception:
        store.close()
        raise
    emit(
        logging.INFO,
        "container ready",
        store=shown,
        namespace=settings.namespace,
        key_strategy=settings.key_strategy,
        handler=handler.name,
        run_id=settings.run_id,
        on_conflict=settings.on_conflict,
        count_duplicates=settings.count_duplicates,
        cache_size=settings.cache_size,
        deadline_margin_s=margin,
    )
    return Container(settings, store, handler, pipeline, deadline, margin, [handler.close])


class _naming:
    """Re-raise a ConfigError or HandlerError as ``ConfigError("VARIABLE='value': ...")``.

    ``shown`` replaces the value in the message (a store URL without its query).
    """

    def __init__(self, variable: str, value: str, shown: str | None = None) -> None:
        self.value = value
        self.shown = value if shown is None else shown
        self.prefix = f"{variable}={self.shown!r}"

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, (ConfigError, HandlerError)):
            message = str(exc).replace(self.value, self.shown)
            # The original error is chained unless its text had to be redacted.
            raise ConfigError(f"{self.prefix}: {message}") from (
                exc if self.shown == self.value else None
            )


def _build_handler(env: Mapping[str, str], time_left: Callable[[], float]) -> BuiltHandler:
    spec = (env.get(ENV_HANDLER) or "").strip()
    genesys = _flag(env, ENV_GENESYS)
    if spec and genesys:
        raise ConfigError(
            f"{ENV_HANDLER}={spec!r} and {ENV_GENESYS}=true: set one or the other, not both"
        )
    if spec:
        with _naming(ENV_HANDLER, spec):
            return build_handler(spec)
    if not genesys:
        return build_handler()
    from ..genesys.settings import GenesysSettings
    from . import secrets

    overrides: dict[str, Any] = {}
    secret_id = (env.get(ENV_GENESYS_SECRET_ID) or "").strip()
    if secret_id:
        with _naming(ENV_GENESYS_SECRET_ID, secret_id):
            overrides = secrets.fetch_genesys_secret(secret_id, _secrets_client())
    return build_handler(genesys=GenesysSettings.from_env(env, **overrides), time_left=time_left)


def _secrets_client() -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:  # pragma: no cover - boto3 is in every Lambda Python runtime
        return None  # fetch_genesys_secret names the missing dependency
    config = Config(
        connect_timeout=SECRETS_CONNECT_TIMEOUT,
        read_timeout=SECRETS_READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": 3},
    )
    return boto3.client("secretsmanager", config=config)


# -- the store -----------------------------------------------------------------------------------


def _open_store(settings: Settings, clock: Clock | None, deadline: Deadline) -> DedupStore:
    url = settings.store_url
    if urlsplit(url).scheme != "dynamodb":
        return open_store(url, clock=clock, run_id=settings.run_id)
    from ..store.dynamodb import DynamoDBStore
    from ..store.dynamodb.client import LAYOUT_OPTIONS, ClientOptions, parse_url

    overrides: dict[str, Any] = {}
    if "max_attempts" not in parse_qs(urlsplit(url).query):
        overrides["max_attempts"] = DYNAMODB_MAX_ATTEMPTS
    if "outage_seconds" not in parse_qs(urlsplit(url).query):
        # The invocation's deadline bounds the waiting here; the queue redelivers.
        overrides["outage_seconds"] = 0
    table, options = parse_url(url, **overrides)
    reach = {k: v for k, v in options.items() if k not in LAYOUT_OPTIONS}
    client = dynamodb_client(table, deadline, ClientOptions(**reach))
    return DynamoDBStore(table, clock=clock, run_id=settings.run_id, client=client, **options)


def dynamodb_client(table: str, deadline: Deadline, options: Any) -> Any:
    """A DynamoDB client whose every attempt fits in the invocation.

    Timeouts of :data:`DYNAMODB_CONNECT_TIMEOUT` + :data:`DYNAMODB_READ_TIMEOUT` per
    attempt and :data:`DYNAMODB_MAX_ATTEMPTS` attempts; and, through botocore's event
    hooks, no attempt is started past the deadline, nor a retry that could not end
    before it (the store reports that as a StoreError: the event is retried later).
    """
    from botocore.exceptions import BotoCoreError

    from ..store.dynamodb.client import make_client

    client = make_client(
        table,
        options,
        connect_timeout=DYNAMODB_CONNECT_TIMEOUT,
        read_timeout=DYNAMODB_READ_TIMEOUT,
    )

    class OutOfTime(BotoCoreError):
        fmt = "not sent: {left:.2f} s left before the invocation's deadline, {why}"

    attempt_seconds = DYNAMODB_CONNECT_TIMEOUT + DYNAMODB_READ_TIMEOUT
    attempts = threading.local()

    def before_call(**_: Any) -> None:
        attempts.count = 0

    def before_send(**_: Any) -> None:
        attempts.count = getattr(attempts, "count", 0) + 1
        left = deadline.remaining()
        if left <= 0:
            raise OutOfTime(left=left, why="the deadline has passed")
        if attempts.count > 1 and left < attempt_seconds:
            raise OutOfTime(left=left, why=f"a retry may take {attempt_seconds:g} s")

    client.meta.events.register("before-call.dynamodb", before_call)
    client.meta.events.register("before-send.dynamodb", before_send)
    return client


def lease_seconds(context: LambdaContext | None, configured: float) -> float:
    """How long our claims may block other invocations: as long as this one can still run.

    A timed-out or crashed invocation then frees its keys soon after it could
    have finished, whatever ``GCDEDUP_LEASE`` says; without a context (a local
    call), the configured lease.
    """
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return configured
    return max(float(remaining()), 0.0) / 1000.0 + LEASE_MARGIN_SECONDS


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = (env.get(name) or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r}: expected 1/0, true/false, yes/no or on/off")


def _redact_url(url: str) -> str:
    """A store URL without its query string (which may carry an endpoint or options)."""
    return url.split("?", 1)[0]
