"""The AWS Lambda entry point: ``gcdedup.aws_lambda.handler``.

It is a thin adapter over the same pipeline, key strategies and store as the
CLI, so a table filled here answers the CLI's ``check`` runs and the reverse.

Two delivery shapes are accepted:

* an EventBridge event invoked directly (an EventBridge rule targeting the
  function): any failure raises, so EventBridge / Lambda's async retries
  deliver it again;
* an SQS batch (EventBridge -> SQS -> Lambda) whose ``body`` strings hold
  EventBridge events: the result lists exactly the messages to retry in
  ``batchItemFailures`` (the event source needs ``ReportBatchItemFailures``).

A record that failed is one that is not an event (unparseable body, no
``detail``), whose handler raised, or whose key is claimed by another live
invocation (IN_FLIGHT). Duplicates are successes: they were already processed.

A direct invocation of something that is not an EventBridge event (``{}``,
``{"foo": 1}``, no records at all such as ``{"Records": []}``) raises
:class:`InvocationError` too: retrying cannot fix it,
but raising sends it to the function's async failure destination (or DLQ)
where someone can look at it, instead of dropping it silently.

Everything is configured from the environment (see the README, AWS Lambda) and
built once per container, on the first invocation.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

import orjson

from .errors import ConfigError, GcdedupError, HandlerError
from .events import BadRecord, Event, Location, expand
from .handlers import Handler, load_handler
from .pipeline import EventOutcome, EventResult, Pipeline
from .settings import ENV_VARS, Settings, new_run_id
from .store import Clock, DedupStore, open_store

ENV_HANDLER = "GCDEDUP_HANDLER"
ENV_GENESYS = "GCDEDUP_GENESYS"
ENV_GENESYS_SECRET_ID = "GCDEDUP_GENESYS_SECRET_ID"
ENV_STORE = "GCDEDUP_STORE"

#: Added to the invocation's remaining time to make a claim's lease: the claim
#: outlives its holder by at most this much if the invocation times out or dies.
LEASE_MARGIN_SECONDS = 2.0

#: The fields a Genesys credentials secret may hold (see the README, AWS Lambda).
SECRET_FIELDS = ("client_id", "client_secret", "region")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}

#: Results that make a record (or a direct invocation) fail and be delivered again.
RETRY_STATUSES = frozenset({EventOutcome.FAILED, EventOutcome.IN_FLIGHT, EventOutcome.BAD_RECORD})


class LambdaContext(Protocol):
    """The part of Lambda's context object we use."""

    aws_request_id: str

    def get_remaining_time_in_millis(self) -> int: ...


class InvocationError(GcdedupError):
    """A direct invocation did not process its event; raised so it is delivered again."""


# -- structured logs -----------------------------------------------------------------------------

log = logging.getLogger("gcdedup.aws_lambda")

#: The package logger: the JSON handler sits here, so the pipeline's and the Genesys
#: client's warnings are JSON lines too.
package_log = logging.getLogger("gcdedup")

#: The ``extra`` fields of other gcdedup modules' log records that reach a line: keys,
#: locations, error class names, retry timings, HTTP statuses and paths. Nothing else
#: (never a body, a URL, a token or a credential).
EXTRA_FIELDS = (
    "key",
    "location",
    "error",
    "attempt",
    "delay_s",
    "waited_s",
    "status",
    "method",
    "path",
    "conversation_id",
    "topic",
    "event_id",
    "variable",
    "expires_in",
)

#: ``user:password@`` in a URL inside an error text (e.g. a proxy's).
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


class _JsonLines(logging.Handler):
    """One JSON object per line on stdout (CloudWatch keeps one line per entry).

    ``sys.stdout`` is looked up at each write so tests that capture it see the lines.
    Written: the ``fields`` passed by this module, and the :data:`EXTRA_FIELDS` other
    gcdedup modules pass as ``extra``; never an event body.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line: dict[str, Any] = {
                "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                    timespec="milliseconds"
                ),
                "level": record.levelname,
                "message": record.getMessage(),
            }
            if record.name != log.name:
                line["logger"] = record.name
            for name in EXTRA_FIELDS:
                value = getattr(record, name, None)
                if value is not None:
                    line[name] = _USERINFO.sub("***@", value) if isinstance(value, str) else value
            if record.exc_info and record.exc_info[0] is not None:
                line["exception"] = record.exc_info[0].__name__
            line.update(getattr(record, "fields", {}))
            sys.stdout.write(orjson.dumps(line, default=str).decode() + "\n")
            sys.stdout.flush()
        except Exception:  # pragma: no cover - logging must never fail an invocation
            self.handleError(record)


def configure_logging() -> None:
    """JSON lines for every ``gcdedup`` logger, not through Lambda's plain-text root handler.

    Done when the first container is built (not at import, so importing this module
    leaves the CLI's and a test runner's logging alone); calling it again is a no-op.
    """
    if not any(isinstance(h, _JsonLines) for h in package_log.handlers):
        package_log.addHandler(_JsonLines())
    package_log.setLevel(logging.INFO)
    package_log.propagate = False  # Lambda's root handler would prefix and re-wrap our JSON


def _log(level: int, message: str, **fields: Any) -> None:
    log.log(level, message, extra={"fields": fields})


# -- the per-container state ---------------------------------------------------------------------


@dataclass
class Container:
    """What one Lambda container builds once and reuses across invocations."""

    settings: Settings
    store: DedupStore
    handler: Handler | None
    pipeline: Pipeline
    handler_name: str
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        self.pipeline.close()
        for closer in self.closers:
            closer()
        self.store.close()


_container: Container | None = None
_container_lock = threading.Lock()
_test_clock: Clock | None = None


def get_container() -> Container:
    """The container's settings, store and handler, built on first use."""
    global _container
    if _container is None:
        with _container_lock:
            if _container is None:
                configure_logging()
                _container = build_container(os.environ, clock=_test_clock)
    return _container


def reset(*, clock: Clock | None = None) -> None:
    """Forget (and close) the cached container, as a fresh container would start.

    Tests use it between cases; ``clock`` makes the next container's store use a
    fake clock.
    """
    global _container, _test_clock
    with _container_lock:
        if _container is not None:
            try:
                _container.close()
            finally:
                _container = None
        _test_clock = clock


def build_container(env: Mapping[str, str], clock: Clock | None = None) -> Container:
    """Settings, store and handler from the environment.

    Anything wrong raises :class:`ConfigError` whose message starts with the variable
    at fault (``GCDEDUP_TTL='5 days': invalid TTL ...``), after one ERROR line
    ``container failed``; whatever was already built (the Genesys handler) is closed.
    """
    closers: list[Callable[[], None]] = []
    try:
        return _build(env, clock, closers)
    except Exception as exc:
        for closer in reversed(closers):
            try:
                closer()
            except Exception:  # pragma: no cover - the original error matters more
                log.debug("closing after a failed start failed", exc_info=True)
        _log(logging.ERROR, "container failed", error=f"{type(exc).__name__}: {exc}")
        raise


def _build(
    env: Mapping[str, str], clock: Clock | None, closers: list[Callable[[], None]]
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
    settings = Settings.resolve(env=env, run_id=run_id)
    handler, name = _build_handler(env, closers)
    with _naming(ENV_STORE, settings.store_url, _redact_url(settings.store_url)):
        store = open_store(settings.store_url, clock=clock, run_id=settings.run_id)
    try:
        pipeline = Pipeline(store, settings, handler)
    except Exception:
        store.close()
        raise
    _log(
        logging.INFO,
        "container ready",
        store=_redact_url(settings.store_url),
        namespace=settings.namespace,
        key_strategy=settings.key_strategy,
        handler=name,
        run_id=settings.run_id,
    )
    return Container(settings, store, handler, pipeline, name, list(closers))


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


def _build_handler(
    env: Mapping[str, str], closers: list[Callable[[], None]]
) -> tuple[Handler | None, str]:
    spec = (env.get(ENV_HANDLER) or "").strip()
    genesys = _flag(env, ENV_GENESYS)
    if spec and genesys:
        raise ConfigError(
            f"{ENV_HANDLER}={spec!r} and {ENV_GENESYS}=true: set one or the other, not both"
        )
    if spec:
        with _naming(ENV_HANDLER, spec):
            return load_handler(spec), spec
    if not genesys:
        return None, "count-only"
    from .genesys import build_genesys_handler
    from .genesys.settings import GenesysSettings

    overrides: dict[str, Any] = {}
    secret_id = (env.get(ENV_GENESYS_SECRET_ID) or "").strip()
    if secret_id:
        with _naming(ENV_GENESYS_SECRET_ID, secret_id):
            overrides = fetch_genesys_secret(secret_id)
    genesys_handler = build_genesys_handler(GenesysSettings.from_env(env, **overrides))
    closers.append(genesys_handler.close)
    return genesys_handler, "genesys"


def fetch_genesys_secret(secret_id: str) -> dict[str, Any]:
    """Read the Genesys OAuth client from Secrets Manager (a JSON object, see the README).

    Returns ``GenesysSettings.from_env`` overrides; the client secret is wrapped in
    :class:`~gcdedup.genesys.Secret` at once so it can never reach a log line.
    """
    from .genesys.secret import Secret

    try:
        import boto3
    except ImportError:  # pragma: no cover - boto3 is in every Lambda Python runtime
        from .errors import MissingDependencyError

        raise MissingDependencyError("boto3", "dynamodb") from None
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)
    except (BotoCoreError, ClientError) as exc:
        raise ConfigError(f"cannot read secret {secret_id!r}: {exc}") from None
    raw = response.get("SecretString")
    try:
        document = orjson.loads(raw) if isinstance(raw, str) else None
    except orjson.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        raise ConfigError(f"secret {secret_id!r} is not a JSON object (see the README, AWS Lambda)")
    overrides: dict[str, Any] = {}
    for name in SECRET_FIELDS:
        value = document.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise ConfigError(f"secret {secret_id!r}: {name!r} must be a string")
        overrides[name] = Secret(value) if name == "client_secret" else value
    for required in ("client_id", "client_secret"):
        if required not in overrides:
            raise ConfigError(f"secret {secret_id!r} has no {required!r}")
    return overrides


# -- the handler ---------------------------------------------------------------------------------


def handler(event: Any, context: LambdaContext | None = None) -> dict[str, Any]:
    """Lambda's entry point: an SQS batch or one EventBridge event."""
    started = time.monotonic()
    container = get_container()
    request_id = getattr(context, "aws_request_id", None)
    if _is_sqs_batch(event):
        records = list(expand(event, Location("sqs")))
        results = _run(container, records, context, "sqs", started)
        failures = [r.location.record for r in results if r.status in RETRY_STATUSES]
        _summary(container, results, request_id, "sqs", started)
        return {"batchItemFailures": [{"itemIdentifier": record} for record in failures if record]}

    source = "sns" if isinstance(event, dict) and "Records" in event else "eventbridge"
    records = list(expand(event, Location(source)))
    if not records:
        # {"Records": []}, {"Messages": []}: nothing to process is not a success either.
        _summary(container, [], request_id, source, started, level=logging.WARNING)
        raise InvocationError("the invocation holds no event (an empty Records or Messages list)")
    results = _run(container, records, context, source, started)
    counts = _summary(container, results, request_id, source, started)
    failed = [r for r in results if r.status in RETRY_STATUSES]
    if failed:
        first = failed[0]
        raise InvocationError(
            f"{len(failed)} of {len(results)} event(s) not processed; first: "
            f"{first.status.value} {first.key or first.location}: {first.error or 'retry later'}"
        )
    return counts


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


def _run(
    container: Container,
    records: list[Event | BadRecord],
    context: LambdaContext | None,
    delivery: str,
    started: float,
) -> list[EventResult]:
    """Run the records in store-sized batches, logging each batch's events as it completes.

    If a batch raises (a StoreError), a WARNING ``invocation`` line with what was done
    so far is written before the error propagates.
    """
    results: list[EventResult] = []
    size = container.settings.batch_size
    request_id = getattr(context, "aws_request_id", None)
    for start in range(0, len(records), size):
        lease = lease_seconds(context, container.settings.lease_seconds)
        try:
            batch = container.pipeline.run_batch(records[start : start + size], lease_seconds=lease)
        except Exception as exc:
            _summary(
                container,
                results,
                request_id,
                delivery,
                started,
                level=logging.WARNING,
                incomplete={
                    "error": f"{type(exc).__name__}: {exc}",
                    "total_records": len(records),
                    "not_finished": len(records) - len(results),
                },
            )
            raise
        for result in batch:
            _log_result(result, request_id)
        results.extend(batch)
    return results


def _log_result(result: EventResult, request_id: str | None) -> None:
    fields: dict[str, Any] = {
        "outcome": result.status.value,
        "key": result.key,
        "topic": result.topic,
        "location": str(result.location),
    }
    if result.location.record is not None:
        fields["message_id"] = result.location.record
    if result.event is not None:
        fields["event_id"] = result.event.id
        if result.event.replay_name:
            fields["replay_name"] = result.event.replay_name
    if result.error is not None:
        fields["error"] = result.error
    if result.lease_lost:
        fields["lease_lost"] = True
    if request_id:
        fields["request_id"] = request_id
    level = logging.WARNING if result.status in RETRY_STATUSES else logging.INFO
    _log(level, "event", **fields)


def _summary(
    container: Container,
    results: list[EventResult],
    request_id: str | None,
    delivery: str,
    started: float,
    *,
    level: int = logging.INFO,
    incomplete: dict[str, Any] | None = None,
) -> dict[str, Any]:
    counts = Counter(result.status.value for result in results)
    summary: dict[str, Any] = {
        "delivery": delivery,
        "records": len(results),
        **{status.value: counts[status.value] for status in EventOutcome},
        "failures": sum(counts[s.value] for s in RETRY_STATUSES),
        "namespace": container.settings.namespace,
        "key_strategy": container.settings.key_strategy,
        "run_id": container.settings.run_id,
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
    }
    if request_id:
        summary["request_id"] = request_id
    _log(level, "invocation", **summary, **(incomplete or {}))
    return summary


def _is_sqs_batch(event: Any) -> bool:
    """An SQS event source batch: ``Records`` whose entries come from ``aws:sqs``."""
    if not isinstance(event, dict) or "detail" in event:
        return False
    records = event.get("Records")
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)
    )


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
