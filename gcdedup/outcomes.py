"""What a run says about each event and in total: outcomes, results, the report.

The pipeline (:mod:`gcdedup.pipeline`) makes them; the CLI and the Lambda render them.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .events import BadRecord, Event, KeyedEvent, Location

#: How many bad records and failures a report keeps verbatim (all are counted).
REPORT_SAMPLES = 100


class Mode(str, enum.Enum):
    PROCESS = "process"  # claim, run the handler, complete
    CHECK = "check"  # read only: what a process run would skip
    SEED = "seed"  # mark as seen without running the handler


class EventOutcome(str, enum.Enum):
    """The outcome of one event in a run (the ``outcome`` field of ``--out``); a stored
    record's state is store.RecordStatus."""

    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IN_FLIGHT = "in_flight"
    FAILED = "failed"
    NEW = "new"  # check mode: would be processed
    SEEDED = "seeded"
    BAD_RECORD = "bad_record"
    NOT_STARTED = "not_started"  # claimed, then released unrun because the run was stopped
    #: same key as a completed record, another payload, skipped (--on-conflict skip)
    CONFLICT = "conflict"
    #: its envelope time is outside --since/--until: neither claimed nor handled
    OUTSIDE_WINDOW = "outside_window"


#: One name per count, the same in ``process``, ``stats``, the Lambda's invocation line
#: and metrics, and the HTML report (the docs' Concepts page defines each): an event's
#: outcome -> the name of the count of such events.
COUNT_NAMES: dict[EventOutcome, str] = {
    EventOutcome.PROCESSED: "processed",
    EventOutcome.DUPLICATE: "duplicates",
    EventOutcome.CONFLICT: "conflicts",
    EventOutcome.IN_FLIGHT: "in_flight",
    EventOutcome.FAILED: "failed",
    EventOutcome.NEW: "new",
    EventOutcome.SEEDED: "seeded",
    EventOutcome.BAD_RECORD: "bad_records",
    EventOutcome.NOT_STARTED: "not_started",
    EventOutcome.OUTSIDE_WINDOW: "outside_window",
}


#: An outcome's value -> the name of its count.
_COUNT_OF = {outcome.value: name for outcome, name in COUNT_NAMES.items()}


def duplicate_rate(duplicates: int, conflicts: int, keyed_events: int) -> float:
    """Deliveries of a key already delivered (same payload or not) per keyed event:
    what ``process`` and ``stats`` both call ``duplicate_rate``."""
    return (duplicates + conflicts) / keyed_events if keyed_events else 0.0


@dataclass(slots=True)
class EventResult:
    """What happened to one input record."""

    location: Location
    status: EventOutcome
    key: str | None = None
    topic: str | None = None
    error: str | None = None
    result: Any = None
    lease_lost: bool = False
    event: Event | KeyedEvent | None = None
    #: For IN_FLIGHT: when the other holder's stored lease lapses (epoch seconds), if known.
    lease_until: float | None = None
    #: A conflict (same key, another payload), whatever the policy did with it; then
    #: ``conflict_with`` is where the stored payload's delivery was read, if known.
    conflict: bool = False
    conflict_with: str | None = None
    #: A duplicate answered by the container cache, without a store call.
    cached: bool = False
    #: Handled without deduplication: no key (--on-unkeyable process).
    unkeyed: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "location": str(self.location),
            "key": self.key,
            "topic": self.topic,
            "outcome": self.status.value,
        }
        if self.location.record is not None:
            out["record"] = self.location.record
        if self.error is not None:
            out["error"] = self.error
        if self.result is not None:
            out["result"] = self.result
        if self.lease_lost:
            out["lease_lost"] = True
        if self.conflict:
            out["conflict_with"] = self.conflict_with
        if self.unkeyed:
            out["unkeyed"] = True
        return out

    def flags(self) -> Iterator[str]:
        """The counts this result adds beside its outcome's."""
        if self.lease_lost:
            yield "lease_lost"
        if self.conflict and self.status is not EventOutcome.CONFLICT:
            yield EventOutcome.CONFLICT.value
        if self.cached:
            yield "cached"
        if self.unkeyed:
            yield "unkeyed"


@dataclass
class RunReport:
    """Counts for a run, plus samples of what went wrong."""

    mode: Mode
    run_id: str
    key_strategy: str
    namespace: str
    counts: Counter[str] = field(default_factory=Counter)
    by_topic: dict[str, Counter[str]] = field(default_factory=dict)
    bad_records: list[BadRecord] = field(default_factory=list)
    failures: list[EventResult] = field(default_factory=list)
    #: The earliest stored lease among events found IN_FLIGHT (epoch seconds).
    in_flight_lapse_at: float | None = None

    def count_all(self, results: Sequence[EventResult]) -> None:
        """Fold a batch of results in (one Counter update per batch, not per event)."""
        tally: Counter[tuple[str | None, EventOutcome]] = Counter(
            (r.topic, r.status) for r in results
        )
        plain = (EventOutcome.PROCESSED, EventOutcome.SEEDED, EventOutcome.DUPLICATE)
        for result in results:
            if result.status in plain and not (
                result.lease_lost or result.conflict or result.cached or result.unkeyed
            ):
                continue  # the common case: nothing beside its outcome to count
            for flag in result.flags():
                self.counts[flag] += 1
            if result.lease_until is not None and (
                self.in_flight_lapse_at is None or result.lease_until < self.in_flight_lapse_at
            ):
                self.in_flight_lapse_at = result.lease_until
            if result.status is EventOutcome.BAD_RECORD and len(self.bad_records) < REPORT_SAMPLES:
                self.bad_records.append(BadRecord(result.location, result.error or ""))
            elif result.status is EventOutcome.FAILED and len(self.failures) < REPORT_SAMPLES:
                self.failures.append(result)
        for (topic, status), n in tally.items():
            self.counts["events"] += n
            self.counts[status.value] += n
            if status is EventOutcome.BAD_RECORD:
                continue
            per_topic = self.by_topic.setdefault(topic or "unknown", Counter())
            per_topic["events"] += n
            per_topic[status.value] += n

    def count_retry(self, results: Sequence[EventResult]) -> None:
        """Fold in a second pass over events this report counted as IN_FLIGHT: each
        moves from in_flight to its new outcome; the earliest lapse is re-read."""
        self.in_flight_lapse_at = None
        for result in results:
            per_topic = self.by_topic.setdefault(result.topic or "unknown", Counter())
            for counter in (self.counts, per_topic):
                counter["in_flight"] -= 1
                counter[result.status.value] += 1
            for flag in result.flags():
                self.counts[flag] += 1
            if result.status is EventOutcome.FAILED and len(self.failures) < REPORT_SAMPLES:
                self.failures.append(result)
            if result.lease_until is not None and (
                self.in_flight_lapse_at is None or result.lease_until < self.in_flight_lapse_at
            ):
                self.in_flight_lapse_at = result.lease_until

    # One property per count, so a misspelt name is a type error, not a silent 0.

    @property
    def events(self) -> int:
        """Input records of the run, bad records included (``records`` in to_dict)."""
        return self.counts["events"]

    @property
    def processed(self) -> int:
        return self.counts[EventOutcome.PROCESSED.value]

    @property
    def duplicate(self) -> int:
        return self.counts[EventOutcome.DUPLICATE.value]

    @property
    def in_flight(self) -> int:
        return self.counts[EventOutcome.IN_FLIGHT.value]

    @property
    def failed(self) -> int:
        return self.counts[EventOutcome.FAILED.value]

    @property
    def new(self) -> int:
        return self.counts[EventOutcome.NEW.value]

    @property
    def seeded(self) -> int:
        return self.counts[EventOutcome.SEEDED.value]

    @property
    def bad_record(self) -> int:
        return self.counts[EventOutcome.BAD_RECORD.value]

    @property
    def conflicts(self) -> int:
        """Same key, another payload: skipped, processed again or failed (the policy)."""
        return self.counts[EventOutcome.CONFLICT.value]

    @property
    def unkeyed(self) -> int:
        """Events without a key handled without deduplication (--on-unkeyable process)."""
        return self.counts["unkeyed"]

    @property
    def cached(self) -> int:
        """Duplicates answered by the container cache, without a store call."""
        return self.counts["cached"]

    @property
    def lease_lost(self) -> int:
        """Events processed whose claim was taken over before completion."""
        return self.counts["lease_lost"]

    @property
    def not_started(self) -> int:
        """Events claimed, then released unrun because the run was stopped."""
        return self.counts[EventOutcome.NOT_STARTED.value]

    @property
    def outside_window(self) -> int:
        """Events left out by the run's --since/--until window."""
        return self.counts[EventOutcome.OUTSIDE_WINDOW.value]

    @property
    def valid_events(self) -> int:
        """Records that were events (everything but bad records)."""
        return self.counts["events"] - self.counts["bad_record"]

    @property
    def keyed_events(self) -> int:
        """Events that had a key and were in the run's window: the rate's denominator."""
        return self.valid_events - self.unkeyed - self.outside_window

    @property
    def duplicate_rate(self) -> float:
        return duplicate_rate(self.duplicate, self.conflicts, self.keyed_events)

    def to_dict(self) -> dict[str, Any]:
        c = self.counts
        return {
            "mode": self.mode.value,
            "run_id": self.run_id,
            "key_strategy": self.key_strategy,
            "namespace": self.namespace,
            "records": c["events"],
            "events": self.valid_events,
            "processed": c["processed"],
            "duplicates": c["duplicate"],
            "conflicts": c["conflict"],
            "duplicate_rate": self.duplicate_rate,
            "in_flight": c["in_flight"],
            "failed": c["failed"],
            "new": c["new"],
            "seeded": c["seeded"],
            "bad_records": c["bad_record"],
            "lease_lost": c["lease_lost"],
            "not_started": c["not_started"],
            "unkeyed": c["unkeyed"],
            "outside_window": c["outside_window"],
            "in_flight_lapse_at": self.in_flight_lapse_at,
            "by_topic": {
                topic: dict(sorted((_COUNT_OF.get(k, k), n) for k, n in counter.items()))
                for topic, counter in sorted(self.by_topic.items())
            },
            "bad_record_samples": [b.to_dict() for b in self.bad_records],
            "failure_samples": [
                {"location": str(f.location), "key": f.key, "error": f.error} for f in self.failures
            ],
        }
