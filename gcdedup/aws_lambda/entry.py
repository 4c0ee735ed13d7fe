"""The entry point: one invocation, an SQS batch or one EventBridge event.

It is a thin adapter over the same pipeline, key strategies and store as the CLI, so
a table filled here answers the CLI's ``check`` runs and the reverse.

* An SQS batch (EventBridge -> SQS -> Lambda) whose ``body`` strings hold EventBridge
  events: the result lists exactly the messages to retry in ``batchItemFailures``
  (the event source needs ``ReportBatchItemFailures``).
* An EventBridge event invoked directly (a rule targeting the function): any failure
  raises, so EventBridge / Lambda's async retries deliver it again.

A record fails when it is not an event (unparseable body, no ``detail``), its
handler raised, its key is claimed by another live invocation (IN_FLIGHT), or it was
not started because the invocation's deadline was near (``not_started``): events are
started in chunks of the concurrency while more than the deadline margin (fitted to
the invocation's time, see :mod:`gcdedup.deadline`) is left, and nothing is claimed
for the rest. Duplicates are successes.

A direct invocation of something that is not an EventBridge event (``{}``,
``{"foo": 1}``, no records at all such as ``{"Records": []}``) raises
:class:`InvocationError` too: retrying cannot fix it, but raising sends it to the
function's async failure destination (or DLQ) instead of dropping it silently.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import GcdedupError
from ..events import BadRecord, Event, Location, expand
from ..outcomes import COUNT_NAMES
from ..pipeline import EventOutcome, EventResult
from ..settings import env_name
from .container import Container, LambdaContext, get_container, lease_seconds
from .logs import emit, set_request_id
from .metrics import emf

#: Results that make a record (or a direct invocation) fail and be delivered again.
RETRY_STATUSES = frozenset({EventOutcome.FAILED, EventOutcome.IN_FLIGHT, EventOutcome.BAD_RECORD})


class InvocationError(GcdedupError):
    """A direct invocation did not process its event; raised so it is delivered again."""


@dataclass
class _Run:
    """One invocation's records and what became of them so far."""

    delivery: str
    records: list[Event | BadRecord]
    started: float
    results: list[EventResult] = field(default_factory=list)
    #: The chunk a store error stopped (its claims were released): failed, retried.
    unfinished: list[Event | BadRecord] = field(default_factory=list)
    #: Left for a redelivery: the deadline was near, or a store error came first.
    not_started: list[Event | BadRecord] = field(default_factory=list)
    error: Exception | None = None

    def retry_ids(self) -> list[str]:
        """The SQS message ids to deliver again, in input order."""
        ids = [r.location.record for r in self.results if r.status in RETRY_STATUSES]
        ids += [r.location.record for r in (*self.unfinished, *self.not_started)]
        return [record for record in ids if record]

    def counts(self) -> Counter[str]:
        counts = Counter(result.status.value for result in self.results)
        for result in self.results:
            counts.update(result.flags())
        counts["failed"] += len(self.unfinished)
        counts["not_started"] = len(self.not_started)
        return counts


def handler(event: Any, context: LambdaContext | None = None) -> dict[str, Any]:
    """Lambda's entry point: an SQS batch or one EventBridge event."""
    return invoke(get_container, event, context)


def invoke(
    container_of: Callable[[], Container], event: Any, context: LambdaContext | None
) -> dict[str, Any]:
    """One invocation on the container ``container_of()`` returns (built on first use):
    the entry point's, or one a user's handler built with :func:`gcdedup.dedup`."""
    started = time.monotonic()
    set_request_id(getattr(context, "aws_request_id", None))
    try:
        container = container_of()
        container.deadline.start(context)
        try:
            return _invoke(container, event, context, started)
        finally:
            container.deadline.clear()
    finally:
        set_request_id(None)


def _invoke(
    container: Container, event: Any, context: LambdaContext | None, started: float
) -> dict[str, Any]:
    if _is_sqs_batch(event):
        run = _Run("sqs", list(expand(event, Location("sqs"))), started)
        _run(container, run, context)
        troubled = run.error is not None or bool(run.not_started)
        _summary(container, run, level=logging.WARNING if troubled else logging.INFO)
        if run.error is not None and not isinstance(run.error, GcdedupError):
            raise run.error  # a bug, not a store or deadline problem: fail the invocation
        return {"batchItemFailures": [{"itemIdentifier": mid} for mid in run.retry_ids()]}

    source = "sns" if isinstance(event, dict) and "Records" in event else "eventbridge"
    run = _Run(source, list(expand(event, Location(source))), started)
    if not run.records:
        # {"Records": []}, {"Messages": []}: nothing to process is not a success either.
        _summary(container, run, level=logging.ERROR)
        raise InvocationError("the invocation holds no event (an empty Records or Messages list)")
    _run(container, run, context)
    failed = [r for r in run.results if r.status in RETRY_STATUSES]
    if run.error is None and not run.not_started and not failed:
        return _summary(container, run)
    _summary(container, run, level=logging.ERROR)
    if run.error is not None:
        raise run.error
    if run.not_started:
        raise InvocationError(
            f"{len(run.not_started)} of {len(run.records)} event(s) not started: less than "
            f"the {container.margin:g} s deadline margin was left ({env_name('deadline_margin')})"
        )
    first = failed[0]
    raise InvocationError(
        f"{len(failed)} of {len(run.results)} event(s) not processed; first: "
        f"{first.status.value} {first.key or first.location}: {first.error or 'retry later'}"
    )


def _run(container: Container, run: _Run, context: LambdaContext | None) -> None:
    """Start the records chunk by chunk while the deadline allows; log each result as
    its chunk finishes. A store error stops the run (``run.error``)."""
    records = run.records
    size = container.chunk_size
    for start in range(0, len(records), size):
        left = container.deadline.remaining()
        if left < container.margin:
            run.not_started = records[start:]
            for record in run.not_started:
                _log_record(record, "not_started", f"{left:.2f} s left, under the margin")
            return
        chunk = records[start : start + size]
        lease = lease_seconds(context, container.settings.lease_seconds)
        try:
            results = container.pipeline.run_batch(chunk, lease_seconds=lease)
        except Exception as exc:
            run.error = exc
            run.unfinished = chunk
            run.not_started = records[start + size :]
            error = f"{type(exc).__name__}: {exc}"
            for record in chunk:
                _log_record(record, "failed", error)
            for record in run.not_started:
                _log_record(record, "not_started", "after an error")
            return
        for result in results:
            _log_result(result)
        run.results.extend(results)


def _log_result(result: EventResult) -> None:
    fields: dict[str, Any] = {
        "outcome": result.status.value,
        "key": result.key,
        "topic": result.topic,
        "location": str(result.location),
    }
    if result.location.record is not None:
        fields["message_id"] = result.location.record
    if isinstance(result.event, Event):
        fields["event_id"] = result.event.id
        if result.event.replay_name:
            fields["replay_name"] = result.event.replay_name
    if result.error is not None:
        fields["error"] = result.error
    if result.lease_lost:
        fields["lease_lost"] = True
    if result.conflict:
        fields["conflict_with"] = result.conflict_with
    if result.cached:
        fields["cached"] = True
    level = logging.WARNING if result.status in RETRY_STATUSES else logging.INFO
    emit(level, "event", **fields)


def _log_record(record: Event | BadRecord, outcome: str, error: str) -> None:
    """A line for a record the pipeline did not finish (not started, or stopped)."""
    fields: dict[str, Any] = {"outcome": outcome, "location": str(record.location)}
    if record.location.record is not None:
        fields["message_id"] = record.location.record
    if isinstance(record, Event):
        fields["event_id"] = record.id
    fields["error"] = error
    emit(logging.WARNING, "event", **fields)


def _summary(container: Container, run: _Run, *, level: int = logging.INFO) -> dict[str, Any]:
    """The invocation line, which is also its CloudWatch metrics record (EMF)."""
    counts = run.counts()
    summary: dict[str, Any] = {
        "delivery": run.delivery,
        "records": len(run.results),
        **{name: counts[status.value] for status, name in COUNT_NAMES.items()},
        "not_started": counts["not_started"],
        "cached": counts["cached"],
        "unkeyed": counts["unkeyed"],
        "failures": sum(counts[s.value] for s in RETRY_STATUSES) + counts["not_started"],
        "namespace": container.settings.namespace,
        "key_strategy": container.settings.key_strategy,
        "run_id": container.settings.run_id,
        "duration_ms": round((time.monotonic() - run.started) * 1000, 1),
    }
    if run.error is not None:
        summary["error"] = f"{type(run.error).__name__}: {run.error}"
        summary["total_records"] = len(run.records)
        summary["not_finished"] = len(run.unfinished) + len(run.not_started)
    emit(level, "invocation", **{**summary, **emf(summary)})
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
