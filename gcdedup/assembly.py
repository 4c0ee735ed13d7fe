"""One assembly for every door: settings -> store (+ cache) -> handler -> pipeline.

The CLI, the Lambda entry point and the decorator build what a run needs here and
nowhere else, so a store option, the container cache or the deadline policy holds on
every door; they differ only in how events arrive and how results leave.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .deadline import DYNAMODB_MAX_ATTEMPTS, Deadline, deadline_dynamodb_client
from .errors import ConfigError, HandlerError
from .handlers import BuiltHandler, Handler, build_handler
from .outcomes import Mode
from .pipeline import Pipeline
from .settings import DEFAULT_BATCH_SIZE, SETTINGS, Settings
from .store import Clock, DedupStore, open_store
from .store.cache import CachedStore

log = logging.getLogger(__name__)


@dataclass
class Assembly:
    """What one run (a CLI command, a Lambda container, a decorated function) keeps."""

    settings: Settings
    store: DedupStore
    handler: BuiltHandler
    pipeline: Pipeline
    deadline: Deadline
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def handler_name(self) -> str:
        return self.handler.name

    @property
    def margin(self) -> float:
        """The deadline margin in force for the current invocation."""
        return self.deadline.margin

    @property
    def chunk_size(self) -> int:
        """Events an invocation starts together: as many as run at once; the deadline
        is checked before each chunk. Count-only runs take store batches."""
        if self.handler.handler is None:
            return self.settings.batch_size or DEFAULT_BATCH_SIZE
        return self.settings.concurrency

    def wait_budget(self) -> float:
        return self.deadline.wait_budget()

    def close(self) -> None:
        self.pipeline.close()
        for closer in reversed(self.closers):
            closer()
        self.closers.clear()
        self.store.close()

    def __enter__(self) -> Assembly:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def assemble(
    settings: Settings,
    *,
    mode: Mode = Mode.PROCESS,
    function: Handler | None = None,
    function_name: str | None = None,
    store: DedupStore | None = None,
    clock: Clock | None = None,
    deadline: Deadline | None = None,
    create: bool = False,
    store_options: Mapping[str, Any] | None = None,
    genesys: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    for_lambda: bool = False,
) -> Assembly:
    """Build a run from ``settings``.

    ``function`` is the decorator's function (else ``settings.handler`` or
    ``settings.genesys`` pick the handler; none in check and seed modes). ``store`` is
    an open store to use instead of opening ``settings.store_url``. A ``deadline``
    bounds DynamoDB calls and Genesys waits by the invocation's time, and caps lease
    renewals. ``genesys`` holds the CLI's Genesys flags; ``env`` is where the Genesys
    credentials are read. ``for_lambda`` (the entry point, the decorator): DynamoDB
    calls and Genesys waits are bound by each invocation's deadline, and an error
    names the variable at fault (``VARIABLE='x': ...``).
    """
    deadline = deadline or Deadline(settings.deadline_margin)
    closers: list[Callable[[], None]] = []
    try:
        built = _handler(
            settings, mode, function, function_name, deadline, genesys, env, for_lambda
        )
        closers.append(built.close)
        if store is None:
            with _naming(for_lambda, "store_url", settings.store_url, _redact(settings)):
                store = _open(
                    settings, clock, deadline if for_lambda else None, create, store_options
                )
        opened = store
        if settings.cache_size:
            store = CachedStore(store, settings.cache_size)
        try:
            pipeline = Pipeline(store, settings, built.handler, mode, lease_cap=deadline.lease_cap)
        except Exception:
            opened.close()
            raise
    except Exception:
        for closer in reversed(closers):
            try:
                closer()
            except Exception:  # pragma: no cover - the original error matters more
                log.debug("closing after a failed assembly failed")
        raise
    return Assembly(settings, store, built, pipeline, deadline, closers)


def _handler(
    settings: Settings,
    mode: Mode,
    function: Handler | None,
    function_name: str | None,
    deadline: Deadline,
    genesys: Mapping[str, Any] | None,
    env: Mapping[str, str] | None,
    for_lambda: bool,
) -> BuiltHandler:
    if mode is not Mode.PROCESS:
        return BuiltHandler(None, "none")
    if function is not None:
        name = function_name or str(getattr(function, "__qualname__", "function"))
        return BuiltHandler(function, name)
    if settings.handler:
        with _naming(for_lambda, "handler", settings.handler):
            return build_handler(settings.handler)
    if not settings.genesys:
        return build_handler()
    from .genesys.settings import GenesysSettings

    overrides: dict[str, Any] = {k: v for k, v in (genesys or {}).items() if v is not None}
    overrides.setdefault("pool_size", settings.concurrency)
    if settings.genesys_secret_id:
        from .aws_lambda import secrets

        with _naming(for_lambda, "genesys_secret_id", settings.genesys_secret_id):
            overrides.update(
                secrets.fetch_genesys_secret(settings.genesys_secret_id, secrets.client())
            )
    return build_handler(
        genesys=GenesysSettings.from_env(env, **overrides),
        time_left=deadline.wait_budget if for_lambda else None,
    )


def _open(
    settings: Settings,
    clock: Clock | None,
    deadline: Deadline | None,
    create: bool,
    options: Mapping[str, Any] | None,
) -> DedupStore:
    """The store at ``settings.store_url``; a DynamoDB table behind a deadline gets the
    deadline-bound client (short timeouts, no attempt that could not end in time)."""
    url = settings.store_url
    extra = dict(options or {})
    if urlsplit(url).scheme != "dynamodb" or deadline is None:
        return open_store(url, clock=clock, run_id=settings.run_id, create=create, **extra)
    from .store.dynamodb import DynamoDBStore
    from .store.dynamodb.client import LAYOUT_OPTIONS, ClientOptions, parse_url

    overrides: dict[str, Any] = dict(extra)
    if "max_attempts" not in parse_qs(urlsplit(url).query):
        overrides["max_attempts"] = DYNAMODB_MAX_ATTEMPTS
    table, parsed = parse_url(url, **overrides)
    reach = {k: v for k, v in parsed.items() if k not in LAYOUT_OPTIONS}
    client = deadline_dynamodb_client(table, deadline, ClientOptions(**reach))
    return DynamoDBStore(table, clock=clock, run_id=settings.run_id, client=client, **parsed)


def _redact(settings: Settings) -> str:
    """A store URL without its query string (which may carry an endpoint or options)."""
    return settings.store_url.split("?", 1)[0]


class _naming:
    """Re-raise a ConfigError or HandlerError as ``ConfigError("VARIABLE='value': ...")``.

    ``shown`` replaces the value in the message (a store URL without its query).
    """

    def __init__(self, active: bool, setting: str, value: str, shown: str | None = None) -> None:
        self.active = active
        self.value = value
        self.shown = value if shown is None else shown
        self.prefix = f"{SETTINGS[setting].env}={self.shown!r}"

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if self.active and isinstance(exc, (ConfigError, HandlerError)):
            message = str(exc).replace(self.value, self.shown)
            # The original error is chained unless its text had to be redacted.
            raise ConfigError(f"{self.prefix}: {message}") from (
                exc if self.shown == self.value else None
            )
