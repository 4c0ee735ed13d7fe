"""Dedup your own function: ``@dedup(store=..., key=...)`` over the same pipeline.

A decorated function runs once per business event: the event's key is claimed in the
store, the function runs, and the claim is completed when it returns (or released
when it raises, so the next delivery runs it again). The CLI and the Lambda entry
point go through the very same :class:`gcdedup.pipeline.Pipeline`.

::

    from gcdedup import dedup

    @dedup(store="dynamodb://gcdedup-dedup", key="genesys")
    def handle(event):
        ...  # once per business event
        return {"status": "done"}

    def lambda_handler(event, context):       # an SQS batch: batchItemFailures
        return handle.lambda_handler(event, context)

Calling ``handle(event)`` on one EventBridge event returns what the function returned,
or, for a duplicate (and a conflict skipped by ``on_conflict="skip"``), the saved
result (``save_result=True``) or ``duplicate_result``. It raises
:class:`~gcdedup.errors.InFlightError` while another worker holds the key,
:class:`~gcdedup.errors.ConflictError` for a conflict with ``on_conflict="fail"``,
:class:`~gcdedup.errors.KeyStrategyError` for an event with no key (unless
``on_unkeyable="process"``) and the function's own exception when it fails.
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .errors import ConflictError, InFlightError, InputError, KeyStrategyError
from .events import BadRecord, Location, unwrap
from .outcomes import EventOutcome
from .settings import Settings
from .store import DedupStore

R = TypeVar("R")

#: The outcomes a single call answers without running the function.
_SKIPPED = (EventOutcome.DUPLICATE, EventOutcome.CONFLICT)


class Deduplicated(Generic[R]):
    """A function wrapped by :func:`dedup`: call it on an event, or hand it a whole
    Lambda invocation with :meth:`lambda_handler`."""

    def __init__(
        self,
        function: Callable[..., R],
        settings: Settings,
        store: DedupStore | None,
        duplicate_result: Any,
    ) -> None:
        functools.update_wrapper(self, function)
        self.function = function
        self.settings = settings
        self.duplicate_result = duplicate_result
        self._store = store
        self._container: Any = None
        self._lock = threading.Lock()
        self._call = threading.local()  # the arguments and error of the current call
        #: The current Lambda invocation's extra arguments (one at a time per container).
        self._invocation: tuple[tuple[Any, ...], dict[str, Any]] = ((), {})
        self._takes_context = _positional_parameters(function) >= 2

    # -- what the pipeline runs -------------------------------------------------------------

    def _run(self, envelope: dict[str, Any]) -> Any:
        """The pipeline's handler: the function with this call's extra arguments (a
        direct call's, in its thread; an invocation's, in the pipeline's threads too)."""
        args, kwargs = getattr(self._call, "arguments", None) or self._invocation
        try:
            return self.function(envelope, *args, **kwargs)
        except Exception as exc:
            self._call.error = exc  # re-raised to the caller once the claim is released
            raise

    def container(self) -> Any:
        """What this function keeps across calls (settings, store, pipeline, deadline),
        built on first use: the same container the Lambda entry point builds."""
        if self._container is None:
            with self._lock:
                if self._container is None:
                    self._container = self._build()
        return self._container

    def _build(self) -> Any:
        from .assembly import assemble
        from .deadline import Deadline

        settings = self.settings
        return assemble(
            settings,
            function=self._run,
            function_name=getattr(self.function, "__qualname__", "function"),
            store=self._store,
            deadline=Deadline(settings.deadline_margin),
            for_lambda=True,
        )

    # -- the two ways in --------------------------------------------------------------------

    def __call__(self, event: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        """Run the function on one EventBridge event unless its key is done already."""
        container = self.container()
        record = unwrap(event, Location("call"))
        if isinstance(record, BadRecord):
            raise InputError(f"not an EventBridge event: {record.reason}")
        from .aws_lambda.container import lease_seconds

        context = args[0] if args else kwargs.get("context")
        self._call.arguments, self._call.error = (args, kwargs), None
        try:
            (result,) = container.pipeline.run_batch(
                [record], lease_seconds=lease_seconds(context, self.settings.lease_seconds)
            )
            error = self._call.error
        finally:
            self._call.arguments = self._call.error = None
        status = result.status
        if status is EventOutcome.PROCESSED:
            return result.result
        if status in _SKIPPED:
            return result.result if result.result is not None else self.duplicate_result
        if status is EventOutcome.FAILED and error is not None:
            raise error
        if status is EventOutcome.FAILED:
            raise ConflictError(result.error or "conflict")
        if status is EventOutcome.IN_FLIGHT:
            raise InFlightError(
                f"key {result.key} is claimed by another worker: deliver the event again later"
            )
        raise KeyStrategyError(result.error or f"event not processed: {status.value}")

    def lambda_handler(self, event: Any, context: Any = None) -> dict[str, Any]:
        """A whole Lambda invocation, exactly as the built-in entry point runs it (an SQS
        batch -> ``batchItemFailures``; one EventBridge event -> a summary, or raise),
        with this function as the handler. With two parameters, the function gets the
        invocation's context as its second argument."""
        from .aws_lambda.entry import invoke

        self._invocation = ((context,), {}) if self._takes_context else ((), {})
        try:
            return invoke(self.container, event, context)
        finally:
            self._invocation = ((), {})

    def close(self) -> None:
        """Release the store's connections (a new call opens them again)."""
        with self._lock:
            if self._container is not None:
                self._container.close()
                self._container = None


#: dedup()'s keyword -> the setting it sets, where the names differ.
ARGUMENT_SETTINGS = {
    "store": "store_url",
    "key": "key_strategy",
    "ttl": "ttl_seconds",
    "lease": "lease_seconds",
}


def dedup(
    store: str | DedupStore,
    *,
    key: str | None = None,
    namespace: str | None = None,
    ttl: str | float | None = None,
    lease: str | float | None = None,
    on_conflict: str | None = None,
    on_unkeyable: str | None = None,
    save_result: bool | None = None,
    count_duplicates: bool | None = None,
    cache_size: int | None = None,
    deadline_margin: str | float | None = None,
    duplicate_result: Any = None,
    env: dict[str, str] | None = None,
) -> Callable[[Callable[..., R]], Deduplicated[R]]:
    """Decorate a function taking an EventBridge event so it runs once per business event.

    ``store`` is a store URL (``dynamodb://Table``, ``sqlite:///path``, ``memory://``) or
    an open :class:`~gcdedup.store.DedupStore`. The other options are the settings of
    the CLI and the Lambda (``key`` = ``--key``, ``on_conflict`` = ``--on-conflict``,
    ``deadline_margin`` = the Lambda's, ...); unset ones come from the environment
    variables the Lambda reads (``env``, default ``os.environ``), then the Lambda's
    defaults (``count_duplicates`` off, ``cache_size`` 10,000). ``duplicate_result``
    is what a duplicate call returns when no result was saved.
    """
    from .aws_lambda.container import lambda_settings

    given = dict(locals())
    explicit: dict[str, Any] = {
        ARGUMENT_SETTINGS.get(name, name): value
        for name, value in given.items()
        if name not in ("store", "duplicate_result", "env")
    }
    explicit["store_url"] = store if isinstance(store, str) else store.url
    settings = lambda_settings(dict(os.environ if env is None else env), **explicit)
    opened = None if isinstance(store, str) else store

    def wrap(function: Callable[..., R]) -> Deduplicated[R]:
        return Deduplicated(function, settings, opened, duplicate_result)

    return wrap


def _positional_parameters(function: Callable[..., Any]) -> int:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return 2
    return sum(p.kind in kinds for p in parameters)
