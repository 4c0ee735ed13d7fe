"""The one processing path for the CLI and Lambda: key -> claim -> handler -> complete.

A handler exception releases the claim and counts the event as failed, so the
next delivery (or the next run) processes it: an event is never lost by being
marked done before its handler succeeded.

Events are taken in batches so a store can answer many claims per round trip.
Inside a batch, the k-th occurrence of a key is claimed only after the
(k-1)-th has finished, which gives exactly the outcomes of one-at-a-time
processing (a failed first copy lets the second copy run) at batch speed.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from .concurrency import waves
from .errors import KeyStrategyError
from .events import BadRecord, Event, Location
from .handlers import Handler
from .heartbeat import Heartbeat
from .keys import KeyMaker
from .settings import Settings
from .store import DedupStore, KeyItem, Outcome

log = logging.getLogger(__name__)

#: How many bad records and failures a report keeps verbatim (all are counted).
REPORT_SAMPLES = 100

#: Waiting for another holder's lease: how long past its stored lapse to try again
#: (clocks of two machines differ a little).
LAPSE_MARGIN_SECONDS = 1.0


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
    event: Event | None = None
    #: For IN_FLIGHT: when the other holder's stored lease lapses (epoch seconds), if known.
    lease_until: float | None = None

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
        return out


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
        for result in results:
            if result.lease_lost:
                self.counts["lease_lost"] += 1
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
            if result.lease_lost:
                self.counts["lease_lost"] += 1
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
    def lease_lost(self) -> int:
        """Events processed whose claim was taken over before completion."""
        return self.counts["lease_lost"]

    @property
    def not_started(self) -> int:
        """Events claimed, then released unrun because the run was stopped."""
        return self.counts[EventOutcome.NOT_STARTED.value]

    @property
    def valid_events(self) -> int:
        """Records that were events (everything but bad records)."""
        return self.counts["events"] - self.counts["bad_record"]

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
            "in_flight": c["in_flight"],
            "failed": c["failed"],
            "new": c["new"],
            "seeded": c["seeded"],
            "bad_records": c["bad_record"],
            "lease_lost": c["lease_lost"],
            "not_started": c["not_started"],
            "in_flight_lapse_at": self.in_flight_lapse_at,
            "by_topic": {
                topic: dict(sorted(counter.items()))
                for topic, counter in sorted(self.by_topic.items())
            },
            "bad_record_samples": [b.to_dict() for b in self.bad_records],
            "failure_samples": [
                {"location": str(f.location), "key": f.key, "error": f.error} for f in self.failures
            ],
        }


ResultSink = Callable[[EventResult], None]


class Pipeline:
    """Runs a stream of events through one store and handler with one settings object."""

    def __init__(
        self,
        store: DedupStore,
        settings: Settings,
        handler: Handler | None = None,
        mode: Mode = Mode.PROCESS,
    ) -> None:
        self.store = store
        self.settings = settings
        self.handler = handler
        self.mode = mode
        self.keys = KeyMaker.create(settings.key_strategy, settings.namespace)
        self._seen: set[str] = set()  # check mode: keys met earlier in this run
        self._pool: ThreadPoolExecutor | None = None
        if handler is not None and settings.concurrency > 1 and mode is Mode.PROCESS:
            self._pool = ThreadPoolExecutor(
                settings.concurrency, thread_name_prefix="gcdedup-handler"
            )
        self._stop = threading.Event()
        self._claims = Heartbeat(store)

    def new_report(self) -> RunReport:
        return RunReport(
            self.mode, self.settings.run_id, self.settings.key_strategy, self.settings.namespace
        )

    def run(
        self,
        records: Iterable[Event | BadRecord],
        on_result: ResultSink | None = None,
        lease_seconds: float | None = None,
        on_batch: Callable[[], None] | None = None,
    ) -> RunReport:
        """Process every record; ``on_result`` sees each result in input order and
        ``on_batch`` is called after each batch (a progress bar's tick)."""
        report = self.new_report()
        for batch in _batches(iter(records), self.settings.batch_size):
            if self._stop.is_set():
                break
            results = self.run_batch(batch, lease_seconds)
            report.count_all(results)
            if on_result is not None:
                for result in results:
                    on_result(result)
            if on_batch is not None:
                on_batch()
        return report

    def run_batch(
        self, batch: list[Event | BadRecord], lease_seconds: float | None = None
    ) -> list[EventResult]:
        """One batch -> one result per record, in order."""
        results: list[EventResult] = []
        # Each keyed result carries its event and key, so it is a round's work item too.
        keyed: list[EventResult] = []
        make_key = self.keys
        for record in batch:
            if type(record) is not Event and isinstance(record, BadRecord):
                results.append(
                    EventResult(record.location, EventOutcome.BAD_RECORD, error=record.reason)
                )
                continue
            try:
                key = make_key(record)
            except KeyStrategyError as exc:
                results.append(
                    EventResult(record.location, EventOutcome.BAD_RECORD, error=f"no key: {exc}")
                )
                continue
            result = EventResult(
                record.location, EventOutcome.NEW, key, record.family, event=record
            )
            results.append(result)
            keyed.append(result)
        lease = self.settings.lease_seconds if lease_seconds is None else lease_seconds
        if keyed and (self.mode is Mode.SEED or (self.mode is Mode.PROCESS and not self.handler)):
            # Nothing runs, so nothing can fail in between: one write per key marks it
            # done, and the store answers a key's later copies in the batch itself.
            self._mark_done(keyed)
            return results
        # Wave n holds the (n+1)-th occurrence of each key in this batch.
        for wave in waves([result.key for result in keyed]):
            items = [keyed[index] for index in wave]
            if self.mode is Mode.PROCESS:
                self._process_round(items, lease)
            else:
                self._check_round(items)
        return results

    def _key_items(self, items: list[EventResult]) -> list[KeyItem]:
        namespace = self.settings.namespace
        return [KeyItem(item.key or "", namespace, item.topic or "") for item in items]

    def _process_round(self, items: list[EventResult], lease: float) -> None:
        ttl = self.settings.ttl_seconds
        # A claim's record must outlive its lease: an expired record is claimable even
        # while IN_PROGRESS, so with a TTL shorter than the lease (say --ttl 1m, or a
        # Lambda lease of 15 min) a second worker could take a live claim.
        claim_ttl = max(ttl, math.ceil(lease) + 1)
        claims = self.store.claim(self._key_items(items), lease, claim_ttl)
        claimed: list[EventResult] = []
        tokens: dict[str, str] = {}
        for item, claim in zip(items, claims, strict=True):
            outcome = claim.outcome
            if outcome is Outcome.CLAIMED:
                claimed.append(item)
                tokens[item.key or ""] = claim.token or ""
            elif outcome is Outcome.DUPLICATE:
                item.status = EventOutcome.DUPLICATE
            else:
                item.status = EventOutcome.IN_FLIGHT
                if claim.record is not None:
                    item.lease_until = claim.record.lease_until
        if not claimed:
            return
        self._claims.hold(tokens, lease)
        try:
            # Each group of events is completed (or released) as soon as its handlers
            # return: a crash then re-runs only the handlers that were running.
            for finished in self._handle(claimed):
                self._finish(finished, tokens, ttl)
        finally:
            # Everything still held when an interrupt or a store error stopped the
            # round is released, so the next delivery runs it.
            left = self._claims.drop_all()
            if left:
                self._release(left)

    def _finish(self, items: list[EventResult], tokens: dict[str, str], ttl: int) -> None:
        """Complete the processed events and release the rest (failed, not started)."""
        done = [item for item in items if item.status is EventOutcome.PROCESSED]
        undone = [item for item in items if item.status is not EventOutcome.PROCESSED]
        self._claims.drop([item.key or "" for item in items])
        if done:
            kept = self.store.complete_many(
                [(item.key or "", tokens[item.key or ""]) for item in done], ttl
            )
            for item, still_ours in zip(done, kept, strict=True):
                if not still_ours:
                    log.warning("claim lost before completion", extra={"key": item.key})
                    item.lease_lost = True
        if undone:
            self._release({item.key or "": tokens[item.key or ""] for item in undone})

    def _release(self, held: dict[str, str]) -> None:
        try:
            self.store.release_many(list(held.items()))
        except Exception as exc:  # best effort: the claims lapse with their lease
            log.warning(
                "could not release %d claim(s); they lapse when their lease runs out: %s",
                len(held),
                exc,
            )

    def _handle(self, claimed: list[EventResult]) -> Iterator[list[EventResult]]:
        """Run the handler on each claimed event; yield events in groups as they finish.

        An event not yet started when a stop is requested is not run (NOT_STARTED).
        """
        if self._pool is None or len(claimed) == 1:
            for item in claimed:
                self._call(item)
                yield [item]
            return
        pending = {self._pool.submit(self._call, item): item for item in claimed}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()  # a BaseException (an interrupt) in a handler stops all
                yield [pending.pop(future) for future in done]
        finally:
            # Interrupted: start nothing more, and let the running handlers end before
            # their claims are released (a claim must not be freed under a live handler).
            for future in pending:
                future.cancel()
            wait(pending)

    def _call(self, item: EventResult) -> None:
        """Run the handler on one event and record processed, failed or not started."""
        assert self.handler is not None and item.event is not None
        if self._stop.is_set():
            item.status = EventOutcome.NOT_STARTED
            return
        try:
            item.result = self.handler(item.event.envelope)
        except Exception as exc:
            log.warning(
                "handler failed",
                extra={
                    "key": item.key,
                    "location": str(item.location),
                    "error": type(exc).__name__,
                },
            )
            item.status = EventOutcome.FAILED
            item.error = f"{type(exc).__name__}: {exc}"
        else:
            item.status = EventOutcome.PROCESSED

    def settle_in_flight(
        self,
        report: RunReport,
        events: list[Event],
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[int, float], None] | None = None,
    ) -> list[Event]:
        """Wait for the claims that held ``events`` IN_FLIGHT to lapse, then run them.

        Each pass sleeps until the earliest stored lease lapses and tries the events
        still in flight again; it stops when none is left, when a stop is requested,
        or one lease of ours after the last known lapse (a holder that keeps renewing
        is alive and will finish them itself). ``on_wait(n, seconds)`` announces each
        wait. Returns the events still in flight.
        """
        if self.mode is not Mode.PROCESS:
            return events
        give_up = max(report.in_flight_lapse_at or 0.0, clock()) + self.settings.lease_seconds
        while events and not self._stop.is_set():
            lapse = report.in_flight_lapse_at
            now = clock()
            if lapse is None or lapse > give_up:
                break
            delay = max(lapse - now, 0.0) + LAPSE_MARGIN_SECONDS
            if on_wait is not None:
                on_wait(len(events), delay)
            sleep(delay)
            results: list[EventResult] = []
            for batch in _batches(iter(events), self.settings.batch_size):
                results.extend(self.run_batch(list(batch)))
            report.count_retry(results)
            events = [r.event for r in results if r.status is EventOutcome.IN_FLIGHT and r.event]
        return events

    def request_stop(self) -> None:
        """Start no more handlers (thread-safe, e.g. from a signal handler); running
        ones finish and are completed, unstarted claims are released."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _mark_done(self, items: list[EventResult]) -> None:
        """Seed mode, and process mode with no handler (count only)."""
        counting = self.mode is Mode.PROCESS
        answers = self.store.mark_done(
            self._key_items(items), self.settings.ttl_seconds, count_duplicates=counting
        )
        done = EventOutcome.PROCESSED if counting else EventOutcome.SEEDED
        for item, answer in zip(items, answers, strict=True):
            if answer.outcome is Outcome.SEEDED:
                item.status = done
            elif answer.outcome is Outcome.DUPLICATE:
                item.status = EventOutcome.DUPLICATE
            else:
                item.status = EventOutcome.IN_FLIGHT
                if answer.record is not None:
                    item.lease_until = answer.record.lease_until

    def _check_round(self, items: list[EventResult]) -> None:
        seen = self._seen
        fresh: list[EventResult] = []
        for item in items:
            if item.key in seen:
                item.status = EventOutcome.DUPLICATE
            else:
                fresh.append(item)
        keys = [item.key or "" for item in fresh]
        checked = self.store.check(keys) if fresh else []
        status = {Outcome.NEW: EventOutcome.NEW, Outcome.DUPLICATE: EventOutcome.DUPLICATE}
        for item, found in zip(fresh, checked, strict=True):
            item.status = status.get(found.outcome, EventOutcome.IN_FLIGHT)
        seen.update(keys)

    def close(self) -> None:
        self._claims.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def process(
    records: Iterable[Event | BadRecord],
    store: DedupStore,
    settings: Settings,
    handler: Handler | None = None,
    mode: Mode = Mode.PROCESS,
    on_result: ResultSink | None = None,
) -> RunReport:
    """Run ``records`` through ``store`` once: the library's front door."""
    with Pipeline(store, settings, handler, mode) as pipeline:
        return pipeline.run(records, on_result)


def _batches(records: Iterator[Event | BadRecord], size: int) -> Iterator[list[Event | BadRecord]]:
    while batch := list(islice(records, size)):
        yield batch
