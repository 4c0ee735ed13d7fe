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
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..assembly import Assembly, assemble
from ..deadline import (
    DYNAMODB_CONNECT_TIMEOUT,
    DYNAMODB_MAX_ATTEMPTS,
    DYNAMODB_READ_TIMEOUT,
    LEASE_MARGIN_SECONDS,
    Deadline,
    LambdaContext,
    deadline_dynamodb_client,
)
from ..errors import ConfigError
from ..settings import (
    DEFAULT_MARGIN_SECONDS,
    LAMBDA_DEFAULTS,
    SCHEMA,
    Settings,
    env_name,
    new_run_id,
)
from ..store import Clock
from .logs import configure_logging, emit

#: What a Lambda container keeps: the one assembly of every door (see gcdedup.assembly).
Container = Assembly

#: Kept for callers of the earlier names.
dynamodb_client = deadline_dynamodb_client

__all__ = [
    "DEFAULT_MARGIN_SECONDS",
    "DYNAMODB_CONNECT_TIMEOUT",
    "DYNAMODB_MAX_ATTEMPTS",
    "DYNAMODB_READ_TIMEOUT",
    "LAMBDA_DEFAULTS",
    "LEASE_MARGIN_SECONDS",
    "Container",
    "Deadline",
    "LambdaContext",
    "build_container",
    "dynamodb_client",
    "get_container",
    "lambda_settings",
    "lease_seconds",
    "prewarm",
    "reset",
]


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
    """Settings, store and handler from the environment, through the one assembly.

    Anything wrong raises :class:`ConfigError` whose message starts with the variable
    at fault (``<the TTL variable>='5 days': invalid TTL ...``), after one ERROR line
    ``container failed``; whatever was already built (the Genesys handler) is closed.
    """
    try:
        settings = lambda_settings(env)
        deadline = Deadline(settings.deadline_margin, deadline_clock or time.monotonic)
        container = assemble(settings, clock=clock, deadline=deadline, env=env, for_lambda=True)
    except Exception as exc:
        emit(logging.ERROR, "container failed", error=f"{type(exc).__name__}: {exc}")
        raise
    emit(
        logging.INFO,
        "container ready",
        store=settings.store_url.split("?", 1)[0],
        namespace=settings.namespace,
        key_strategy=settings.key_strategy,
        handler=container.handler_name,
        run_id=settings.run_id,
        on_conflict=settings.on_conflict,
        count_duplicates=settings.count_duplicates,
        cache_size=settings.cache_size,
        deadline_margin_s=settings.deadline_margin,
    )
    return container


def lambda_settings(env: Mapping[str, str], **explicit: Any) -> Settings:
    """The settings a Lambda function (or a decorated function) runs with: ``explicit``
    values, then the variables it reads, then the Lambda's defaults, then the CLI's.

    The CLI's default store (an SQLite file in the home directory) is read-only and
    per-container in Lambda: a dedup table must be named.
    """
    reads = {s.env for s in SCHEMA if s.lambda_reads}
    env = {name: value for name, value in env.items() if name in reads}
    if not explicit.get("store_url") and not (env.get(env_name("store_url")) or "").strip():
        raise ConfigError(f"{env_name('store_url')} is not set (e.g. dynamodb://gcdedup-dedup)")
    if not explicit.get("run_id") and not env.get(env_name("run_id")):
        explicit["run_id"] = f"lambda-{new_run_id()}"
    for name, default in LAMBDA_DEFAULTS.items():
        if explicit.get(name) is None and not env.get(env_name(name)):
            explicit[name] = default
    return Settings.resolve(env=env, **explicit)


def lease_seconds(context: LambdaContext | None, configured: float) -> float:
    """How long our claims may block other invocations: as long as this one can still run.

    A timed-out or crashed invocation then frees its keys soon after it could
    have finished, whatever the configured lease says; without a context (a local
    call), the configured lease.
    """
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return configured
    return max(float(remaining()), 0.0) / 1000.0 + LEASE_MARGIN_SECONDS
