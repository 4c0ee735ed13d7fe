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

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from itertools import islice

import orjson

from .concurrency import waves
from .errors import KeyStrategyError
from .events import BadRecord, Event, InputRecord, KeyedEvent, OutsideWindow
from .handlers import Handler
from .heartbeat import Heartbeat
from .keys import NO_KEY, KeyMaker, payload_fingerprint
from .outcomes import EventOutcome, EventResult, Mode, RunReport
from .run_keys import RunKeys
from .settings import DEFAULT_BATCH_SIZE, Settings
from .store import DedupStore, KeyItem, Outcome, Record
from .store.base import is_conflict

log = logging.getLogger(__name__)

#: Waiting for another holder's lease: how long past its stored lapse to try again
#: (clocks of two machines differ a little).
LAPSE_MARGIN_SECONDS = 1.0

#: The largest handler result --save-result keeps (JSON bytes): DynamoDB items are
#: limited to 400 KB, and a result is returned, not archived.
MAX_SAVED_RESULT_BYTES = 64 * 1024


ResultSink = Callable[[EventResult], None]


class Pipeline:
    """Runs a stream of events through one store and handler with one settings object."""

    def __init__(
        self,
        store: DedupStore,
        settings: Settings,
        handler: Handler | None = None,
        mode: Mode = Mode.PROCESS,
        lease_cap: Callable[[], float] | None = None,
    ) -> None:
        """``lease_cap()``: the longest lease a heartbeat may set now (an invocation's
        deadline; see :meth:`gcdedup.deadline.Deadline.lease_cap`)."""
        self.store = store
        self.settings = settings
        self.handler = handler
        self.mode = mode
        self.keys = KeyMaker.create(settings.key_strategy, settings.namespace)
        #: check mode: keys met earlier in this run -> (fingerprint, origin) of the record
        #: a process run would hold for them by then (as digests: see gcdedup.run_keys).
        self._seen = RunKeys()
        self._pool: ThreadPoolExecutor | None = None
        if handler is not None and settings.concurrency > 1 and mode is Mode.PROCESS:
            self._pool = ThreadPoolExecutor(
                settings.concurrency, thread_name_prefix="gcdedup-handler"
            )
        self._stop = threading.Event()
        self._claims = Heartbeat(store, lease_cap)
        #: The report of the current (or last) run, counted up to its last whole batch:
        #: what is known when a second interrupt cuts a run short.
        self.report = self.new_report()

    def new_report(self) -> RunReport:
        return RunReport(
            self.mode, self.settings.run_id, self.settings.key_strategy, self.settings.namespace
        )

    def run(
        self,
        records: Iterable[InputRecord],
        on_result: ResultSink | None = None,
        lease_seconds: float | None = None,
        on_batch: Callable[[], None] | None = None,
    ) -> RunReport:
        """Process every record; ``on_result`` sees each result in input order and
        ``on_batch`` is called after each batch (a progress bar's tick)."""
        report = self.report = self.new_report()
        for batch in _batches(iter(records), self.batch_size, self._stop):
            if self._stop.is_set():  # asked while the batch was read
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
        self, batch: Sequence[InputRecord], lease_seconds: float | None = None
    ) -> list[EventResult]:
        """One batch -> one result per record, in order."""
        results, keyed, unkeyed = self._key_batch(batch)
        lease = self.settings.lease_seconds if lease_seconds is None else lease_seconds
        self._settle(keyed, unkeyed, lease)
        return results

    def _key_batch(
        self, batch: Sequence[InputRecord]
    ) -> tuple[list[EventResult], list[EventResult], list[EventResult]]:
        """A result per record (bad records and unkeyable events answered already),
        the keyed ones (each carries its event and key: a round's work item), and the
        unkeyable ones to handle without a claim (--on-unkeyable process)."""
        results: list[EventResult] = []
        keyed: list[EventResult] = []
        unkeyed: list[EventResult] = []
        unkeyable_runs = self.settings.on_unkeyable == "process"
        make_key = self.keys
        for record in batch:
            if isinstance(record, KeyedEvent):  # read ahead: keyed by the reading process
                if self.handler is not None:
                    raise TypeError("a KeyedEvent has no payload for a handler: pass Events")
                result = EventResult(
                    record.location, EventOutcome.NEW, record.key, record.family, event=record
                )
                results.append(result)
                keyed.append(result)
                continue
            if type(record) is not Event:
                if type(record) is OutsideWindow:
                    results.append(EventResult(record.location, EventOutcome.OUTSIDE_WINDOW))
                    continue
                assert isinstance(record, BadRecord)
                results.append(
                    EventResult(record.location, EventOutcome.BAD_RECORD, error=record.reason)
                )
                continue
            try:
                key = make_key(record)
            except KeyStrategyError as exc:
                if unkeyable_runs and self.mode is not Mode.SEED:
                    loose = EventResult(
                        record.location, EventOutcome.NEW, None, record.family, event=record
                    )
                    loose.unkeyed = True
                    results.append(loose)
                    unkeyed.append(loose)
                    continue
                results.append(
                    EventResult(record.location, EventOutcome.BAD_RECORD, error=f"{NO_KEY}{exc}")
                )
                continue
            result = EventResult(
                record.location, EventOutcome.NEW, key, record.family, event=record
            )
            results.append(result)
            keyed.append(result)
        return results, keyed, unkeyed

    def _settle(self, keyed: list[EventResult], unkeyed: list[EventResult], lease: float) -> None:
        """Give every keyed and unkeyable event of a batch its outcome."""
        if keyed and self._marks_done():
            # Nothing runs, so nothing can fail in between: one write per key marks it
            # done, and the store answers a key's later copies in the batch itself.
            self._mark_done(keyed)
        else:
            # Wave n holds the (n+1)-th occurrence of each key in this batch.
            for wave in waves([result.key for result in keyed]):
                items = [keyed[index] for index in wave]
                if self.mode is Mode.PROCESS:
                    self._process_round(items, lease)
                else:
                    self._check_round(items)
        if unkeyed and self.mode is Mode.PROCESS:
            if self.handler is None:
                for item in unkeyed:
                    item.status = EventOutcome.PROCESSED
            else:
                for _ in self._handle(unkeyed):
                    pass

    def _key_items(self, items: list[EventResult]) -> list[KeyItem]:
        namespace = self.settings.namespace
        return [
            KeyItem(
                item.key or "",
                namespace,
                item.topic or "",
                _fingerprint(item.event),
                str(item.location),
            )
            for item in items
        ]

    def _conflict(self, item: EventResult, stored: Record | None) -> None:
        """Mark and log a conflict: this delivery's payload differs from the stored one.

        Logged at INFO: the Lambda's log shows each one; the CLI counts them in its
        report and lists each in --out (and on stderr with -v)."""
        item.conflict = True
        item.conflict_with = stored.origin if stored is not None else None
        log.info(
            "conflict: %s at %s has another payload than its first delivery at %s "
            "(--on-conflict %s)",
            item.key,
            item.location,
            item.conflict_with or "an unknown place",
            self.settings.on_conflict,
            extra={
                "key": item.key,
                "location": str(item.location),
                "first_location": item.conflict_with,
            },
        )

    def _process_round(self, items: list[EventResult], lease: float) -> None:
        ttl = self.settings.ttl_seconds
        # A claim's record must outlive its lease: an expired record is claimable even
        # while IN_PROGRESS, so with a TTL shorter than the lease (say --ttl 1m, or a
        # Lambda lease of 15 min) a second worker could take a live claim.
        claim_ttl = max(ttl, math.ceil(lease) + 1)
        policy = self.settings.on_conflict
        claims = self.store.claim(
            self._key_items(items),
            lease,
            claim_ttl,
            take_conflicts=policy == "process",
            count_duplicates=self.settings.count_duplicates,
        )
        claimed: list[EventResult] = []
        tokens: dict[str, str] = {}
        for item, claim in zip(items, claims, strict=True):
            outcome = claim.outcome
            if outcome is Outcome.CLAIMED:
                claimed.append(item)
                tokens[item.key or ""] = claim.token or ""
                if claim.conflict:
                    self._conflict(item, claim.record)
            elif outcome is Outcome.DUPLICATE:
                item.status = EventOutcome.DUPLICATE
                item.cached = claim.cached
                if claim.record is not None and claim.record.result is not None:
                    item.result = orjson.loads(claim.record.result)
            elif outcome is Outcome.CONFLICT:
                self._conflict(item, claim.record)
                if policy == "fail":
                    item.status = EventOutcome.FAILED
                    item.error = (
                        f"conflict: key {item.key} was completed for another payload (first "
                        f"delivery: {item.conflict_with or 'unknown'}); --on-conflict fail "
                        "leaves its record as it was"
                    )
                else:
                    item.status = EventOutcome.CONFLICT
            else:
                item.status = EventOutcome.IN_FLIGHT
                if claim.record is not None:
                    item.lease_until = claim.record.lease_until
        if not claimed:
            return
        if self.handler is None:
            # Count only (with a conflict policy that takes over or fails): nothing
            # runs, so nothing can fail or be cut short in between.
            for item in claimed:
                item.status = EventOutcome.PROCESSED
            self._finish(claimed, tokens, ttl)
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
            saved = [self._saved(item) for item in done] if self.settings.save_result else None
            kept = self.store.complete_many(
                [(item.key or "", tokens[item.key or ""]) for item in done], ttl, saved
            )
            for item, still_ours in zip(done, kept, strict=True):
                if not still_ours:
                    log.warning("claim lost before completion", extra={"key": item.key})
                    item.lease_lost = True
        if undone:
            self._release({item.key or "": tokens[item.key or ""] for item in undone})

    def _saved(self, item: EventResult) -> str | None:
        """The handler's result as JSON text to keep (--save-result), or None: nothing
        returned, not JSON-serialisable, or over MAX_SAVED_RESULT_BYTES (logged)."""
        if item.result is None:
            return None
        try:
            text = orjson.dumps(item.result)
        except TypeError as exc:
            log.warning("result not saved: %s", exc, extra={"key": item.key})
            return None
        if len(text) > MAX_SAVED_RESULT_BYTES:
            log.warning(
                "result not saved: %d bytes, over %d",
                len(text),
                MAX_SAVED_RESULT_BYTES,
                extra={"key": item.key},
            )
            return None
        return text.decode()

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
        At most two events per worker are submitted and not yet completed: the next
        ones are submitted only once the caller has completed a yielded group, so a
        crash re-runs at most 2 x --jobs handlers, however fast they are.
        """
        if self._pool is None or len(claimed) == 1:
            for item in claimed:
                self._call(item)
                yield [item]
            return
        window = 2 * self.settings.concurrency
        queued = iter(claimed)
        pending = {self._pool.submit(self._call, item): item for item in islice(queued, window)}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()  # a BaseException (an interrupt) in a handler stops all
                yield [pending.pop(future) for future in done]
                for item in islice(queued, window - len(pending)):  # the group is completed
                    pending[self._pool.submit(self._call, item)] = item
        finally:
            # Interrupted: start nothing more, and let the running handlers end before
            # their claims are released (a claim must not be freed under a live handler).
            for future in pending:
                future.cancel()
            wait(pending)

    def _call(self, item: EventResult) -> None:
        """Run the handler on one event and record processed, failed or not started."""
        assert self.handler is not None and isinstance(item.event, Event)
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
        events: list[Event | KeyedEvent],
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[int, float], None] | None = None,
    ) -> list[Event | KeyedEvent]:
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
            for batch in _batches(iter(events), self.batch_size):
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

    @property
    def batch_size(self) -> int:
        """Events per store batch: the setting, else by whether claims are held."""
        if self.settings.batch_size:
            return self.settings.batch_size
        return self.store.mark_done_batch_size if self._marks_done() else DEFAULT_BATCH_SIZE

    def _marks_done(self) -> bool:
        """Seed mode, and count only (no handler) where a conflict is only reported: the
        cases where one write per key (``store.mark_done``) gives every outcome."""
        if self.mode is Mode.SEED:
            return True
        return (
            self.mode is Mode.PROCESS and not self.handler and self.settings.on_conflict == "skip"
        )

    def _mark_done(self, items: list[EventResult]) -> None:
        counting = self.mode is Mode.PROCESS
        answers = self.store.mark_done(
            self._key_items(items),
            self.settings.ttl_seconds,
            count_duplicates=counting and self.settings.count_duplicates,
            uncounted=counting and not self.settings.count_duplicates,
        )
        done = EventOutcome.PROCESSED if counting else EventOutcome.SEEDED
        seeded = Outcome.SEEDED
        first: dict[str, EventResult] = {}  # a key's first copy in this batch
        for item, answer in zip(items, answers, strict=True):
            key = item.key or ""
            first.setdefault(key, item)
            if answer.outcome is seeded:
                item.status = done
            elif answer.outcome is Outcome.DUPLICATE:
                item.status = EventOutcome.DUPLICATE
                item.cached = answer.cached
            elif answer.outcome is Outcome.CONFLICT:
                self._conflict(item, answer.record)
                if answer.record is None:  # another payload than a copy earlier in this batch
                    item.conflict_with = str(first[key].location)
                item.status = EventOutcome.CONFLICT
            else:
                item.status = EventOutcome.IN_FLIGHT
                if answer.record is not None:
                    item.lease_until = answer.record.lease_until

    def _check_round(self, items: list[EventResult]) -> None:
        seen = self._seen
        fresh: list[EventResult] = []
        fresh_items: list[KeyItem] = []
        for item, key_item in zip(items, self._key_items(items), strict=True):
            earlier = seen.get(item.key or "")
            if earlier is None:
                fresh.append(item)
                fresh_items.append(key_item)
            elif earlier.other_payload(key_item.fingerprint):
                item.status = EventOutcome.CONFLICT
                item.conflict, item.conflict_with = True, earlier.origin
            else:
                item.status = EventOutcome.DUPLICATE
        checked = self.store.check([i.key for i in fresh_items]) if fresh else []
        status = {Outcome.NEW: EventOutcome.NEW, Outcome.DUPLICATE: EventOutcome.DUPLICATE}
        for item, found, key_item in zip(fresh, checked, fresh_items, strict=True):
            item.status = status.get(found.outcome, EventOutcome.IN_FLIGHT)
            record = found.record
            if record is None or found.outcome is Outcome.NEW:
                seen.put(key_item.key, key_item.fingerprint, key_item.origin)
                continue
            seen.put(key_item.key, record.fingerprint or "", record.origin)
            if item.status is EventOutcome.DUPLICATE and is_conflict(record, key_item.fingerprint):
                item.status = EventOutcome.CONFLICT
                item.conflict, item.conflict_with = True, record.origin

    def close(self) -> None:
        self._claims.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def process(
    records: Iterable[InputRecord],
    store: DedupStore,
    settings: Settings,
    handler: Handler | None = None,
    mode: Mode = Mode.PROCESS,
    on_result: ResultSink | None = None,
) -> RunReport:
    """Run ``records`` through ``store`` once: the library's front door."""
    with Pipeline(store, settings, handler, mode) as pipeline:
        return pipeline.run(records, on_result)


def _fingerprint(event: Event | KeyedEvent | None) -> str:
    if event is None:
        return ""
    if isinstance(event, KeyedEvent):
        return event.fingerprint
    return payload_fingerprint(event)


def _batches(
    records: Iterator[InputRecord], size: int, stop: threading.Event | None = None
) -> Iterator[list[InputRecord]]:
    """``records`` in lists of ``size``; no list is read once ``stop`` is set."""
    while not (stop is not None and stop.is_set()) and (batch := list(islice(records, size))):
        yield batch
