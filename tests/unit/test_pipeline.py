"""The pipeline: claim -> handler -> complete/release.

Run on the memory store: the store behaviour suite (``test_store_contract.py``) is what
holds every backend to the same contract, so the pipeline needs only one of them.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gcdedup.events import BadRecord, Event, KeyedEvent, Location
from gcdedup.keys import payload_fingerprint
from gcdedup.pipeline import EventOutcome, Mode, Pipeline, process
from gcdedup.settings import DEFAULT_BATCH_SIZE, MARK_DONE_BATCH_SIZES, SCHEMA, Settings
from gcdedup.store import DedupStore, KeyItem, Outcome, RecordStatus, open_store
from gcdedup.store.cache import CachedStore
from gcdedup.store.sqlite import SQLiteStore

SAMPLES = Path(__file__).parents[1] / "fixtures" / "genesys"
MakeStore = Callable[..., DedupStore]


@pytest.fixture
def backend() -> str:
    """The pipeline's tests use the memory store (see the module docstring)."""
    return "memory"


def sample_events() -> list[Event]:
    return [
        Event(json.loads(p.read_text()), Location(p.name)) for p in sorted(SAMPLES.glob("*.json"))
    ]


def audit(n: int) -> Event:
    """A distinct audit event; its genesys key is its audit id."""
    envelope = json.loads((SAMPLES / "01_user_presence_audit.json").read_text())
    envelope["id"] = str(uuid.uuid4())
    envelope["detail"]["eventBody"]["id"] = f"audit-{n}"
    return Event(envelope, Location("gen", line=n))


def cfg(**kw: Any) -> Settings:
    return Settings.resolve(env={}, store_url="memory://", run_id="run-1", **kw)


class Recorder:
    """A handler that records calls and fails for chosen audit ids."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.calls: list[str] = []
        self.fail = fail or set()

    def __call__(self, envelope: dict[str, Any]) -> dict[str, Any]:
        ident = envelope["detail"]["eventBody"].get("id") or envelope["id"]
        self.calls.append(ident)
        if ident in self.fail:
            raise RuntimeError(f"boom {ident}")
        return {"seen": ident}


def test_second_run_of_the_same_events_is_all_duplicates(make_store: MakeStore) -> None:
    store = make_store(run_id="run-1")
    first = process(sample_events(), store, cfg())
    assert (first.events, first.processed, first.duplicate, first.failed) == (5, 4, 0, 0)
    assert first.conflicts == 1  # 05: the key of 03, another payload
    second = process(sample_events(), store, cfg())
    assert (second.events, second.processed, second.duplicate, second.conflicts) == (5, 0, 4, 1)
    record = store.get(
        "default#v2.detail.events.conversation.{id}.customer.end#2f7bf00a-0fc2-4d6a-9b56-"
        "92238191433e#9fb2ca78-8389-4758-b76a-9b0300de1fce#c03d300e-fa79-4353-9695-"
        "b97a71322785#1649237504949"
    )
    assert record is not None
    assert record.status is RecordStatus.COMPLETED
    assert record.dup_count == 1  # 03 in the second run (05 is a conflict, not counted)
    assert record.run_id == "run-1"


def test_a_failed_handler_releases_its_claim_and_the_next_run_processes_it(
    make_store: MakeStore,
) -> None:
    store = make_store()
    events = [audit(n) for n in range(6)]
    handler = Recorder(fail={"audit-3"})
    report = process(events, store, cfg(), handler)
    assert (report.processed, report.failed) == (5, 1)
    assert report.failures[0].error == "RuntimeError: boom audit-3"
    assert report.failures[0].location == Location("gen", line=3)
    assert store.get("default#v2.audits#audit-3") is None
    retry = Recorder()
    again = process(events, store, cfg(), retry)
    assert (again.processed, again.duplicate, again.failed) == (1, 5, 0)
    assert retry.calls == ["audit-3"]


def test_a_copy_after_a_failed_copy_in_the_same_batch_runs(make_store: MakeStore) -> None:
    store = make_store()
    first, second = audit(1), audit(1)

    class FailOnce(Recorder):
        def __call__(self, envelope: dict[str, Any]) -> dict[str, Any]:
            self.calls.append(envelope["id"])
            if len(self.calls) == 1:
                raise RuntimeError("transient")
            return {}

    handler = FailOnce()
    report = process([first, second, audit(1)], store, cfg(), handler)
    assert handler.calls == [first.id, second.id]
    assert (report.failed, report.processed, report.duplicate) == (1, 1, 1)


def test_results_come_in_input_order_with_their_outcomes(make_store: MakeStore) -> None:
    store = make_store()
    records: list[Event | BadRecord] = [
        audit(1),
        BadRecord(Location("f", line=2), "invalid JSON"),
        audit(1),
        audit(2),
    ]
    seen = []
    with Pipeline(store, cfg(batch_size=10), Recorder(fail={"audit-2"})) as pipeline:
        report = pipeline.run(records, seen.append)
    assert [r.status for r in seen] == [
        EventOutcome.PROCESSED,
        EventOutcome.BAD_RECORD,
        EventOutcome.DUPLICATE,
        EventOutcome.FAILED,
    ]
    assert seen[0].result == {"seen": "audit-1"}
    assert seen[1].to_dict() == {
        "location": "f:2",
        "key": None,
        "topic": None,
        "outcome": "bad_record",
        "error": "invalid JSON",
    }
    assert report.to_dict()["bad_records"] == 1
    assert report.to_dict()["by_topic"] == {
        "v2.audits.entitytype.{id}.entityid.{id}": {
            "duplicates": 1,
            "events": 3,
            "failed": 1,
            "processed": 1,
        }
    }


def test_check_mode_is_read_only_and_counts_repeats_in_the_stream(make_store: MakeStore) -> None:
    store = make_store()
    process([audit(1)], store, cfg())
    handler = Recorder()
    report = process([audit(1), audit(2), audit(2), audit(3)], store, cfg(), handler, Mode.CHECK)
    assert (report.new, report.duplicate, report.processed) == (2, 2, 0)
    assert handler.calls == []
    assert store.get("default#v2.audits#audit-2") is None
    record = store.get("default#v2.audits#audit-1")
    assert record is not None and record.dup_count == 0


@pytest.mark.parametrize("batch_size", [1, 3, 100])
def test_check_mode_answers_repeats_in_the_run_as_a_process_run_would(
    make_store: MakeStore, batch_size: int
) -> None:
    """Repeats across batches are answered from the run's own key table (gcdedup.run_keys):
    a copy is a duplicate, another payload a conflict naming the first delivery's line."""
    changed = copy.deepcopy(audit(2).envelope)
    changed["detail"]["eventBody"]["action"] = "SOMETHING_ELSE"
    stream = [audit(1), audit(2), Event(changed, Location("gen", line=20)), audit(2), audit(3)]
    stream[3] = Event(copy.deepcopy(stream[1].envelope), Location("gen", line=30))

    def outcomes(mode: Mode) -> list[tuple[str, bool, str | None]]:
        got: list[tuple[str, bool, str | None]] = []
        process(
            stream,
            make_store(),
            cfg(batch_size=batch_size),
            mode=mode,
            on_result=lambda r: got.append((r.status.value, r.conflict, r.conflict_with)),
        )
        return got

    checked = outcomes(Mode.CHECK)
    assert checked == [
        ("new", False, None),
        ("new", False, None),
        ("conflict", True, "gen:2"),
        ("duplicate", False, None),
        ("new", False, None),
    ]
    assert [c[1:] for c in checked] == [p[1:] for p in outcomes(Mode.PROCESS)]


def test_seed_mode_marks_events_seen_without_the_handler(make_store: MakeStore) -> None:
    store = make_store()
    handler = Recorder()
    seeded = process([audit(1), audit(2), audit(2)], store, cfg(), handler, Mode.SEED)
    assert (seeded.seeded, seeded.duplicate) == (2, 1)
    after = process([audit(1), audit(2), audit(3)], store, cfg(), handler)
    assert (after.processed, after.duplicate) == (1, 2)
    assert handler.calls == ["audit-3"]


def test_key_errors_are_bad_records_not_crashes(make_store: MakeStore) -> None:
    store = make_store()
    no_id = copy.deepcopy(audit(1).envelope)
    del no_id["id"]
    report = process(
        [Event(no_id, Location("x", line=1)), audit(2)], store, cfg(key_strategy="envelope")
    )
    assert (report.bad_record, report.processed) == (1, 1)
    assert report.bad_records[0].reason == "no key: envelope: the event has no string 'id'"


def test_concurrent_handlers_give_the_same_outcomes(make_store: MakeStore) -> None:
    store = make_store()
    events = [audit(n % 40) for n in range(100)]
    handler = Recorder(fail={"audit-7"})
    report = process(events, store, cfg(concurrency=8, batch_size=16), handler)
    assert sorted(handler.calls) == sorted(
        [f"audit-{n}" for n in range(40)] + ["audit-7"] * 2
    )  # audit-7 fails each time it is met (3 copies; the 3rd after 2 failures)
    assert (report.processed, report.failed, report.duplicate) == (39, 3, 58)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_an_interrupt_keeps_what_was_completed_and_releases_the_rest(
    make_store: MakeStore, concurrency: int
) -> None:
    store = make_store()
    gate = threading.Barrier(2) if concurrency > 1 else None

    def interrupt(envelope: dict[str, Any]) -> None:
        ident = envelope["detail"]["eventBody"]["id"]
        if ident == "audit-2":
            raise KeyboardInterrupt
        if gate is not None and ident in {"audit-3", "audit-4"}:
            gate.wait(timeout=5)  # both run at once, after audit-2's interrupt

    events = [audit(n) for n in range(5)]
    with pytest.raises(KeyboardInterrupt):
        process(
            events,
            store,
            cfg(concurrency=concurrency, batch_size=1 if gate is None else 5),
            interrupt,
        )
    summary = store.summary()
    assert summary.by_status.get("IN_PROGRESS", 0) == 0
    done = {key for key in (f"default#v2.audits#audit-{n}" for n in range(5)) if store.get(key)}
    if concurrency == 1:
        # one event per batch: the two before the interrupt were completed at once
        assert done == {"default#v2.audits#audit-0", "default#v2.audits#audit-1"}
    assert "default#v2.audits#audit-2" not in done


def test_a_lost_lease_is_reported(make_store: MakeStore, clock) -> None:
    store = make_store()
    other = make_store()

    def slow(envelope: dict[str, Any]) -> None:
        clock.advance(120)  # longer than the 60 s lease
        other.claim([KeyItem("default#v2.audits#audit-1", "default")], 60, 3600)

    report = process([audit(1)], store, cfg(lease_seconds="60"), slow)
    assert (report.processed, report.lease_lost) == (1, 1)


@settings(max_examples=60, deadline=None)
@given(
    stream=st.lists(st.tuples(st.integers(0, 6), st.booleans()), max_size=40),
    batch_size=st.integers(1, 8),
)
def test_batched_outcomes_equal_one_at_a_time_processing(
    stream: list[tuple[int, bool]], batch_size: int
) -> None:
    """The model: a key is processed the first time its handler succeeds; later copies skip."""
    expected, done = [], set()
    for ident, fail in stream:
        if ident in done:
            expected.append(EventOutcome.DUPLICATE)
        elif fail:
            expected.append(EventOutcome.FAILED)
        else:
            expected.append(EventOutcome.PROCESSED)
            done.add(ident)

    def handler(envelope: dict[str, Any]) -> None:
        if envelope["x-fail"]:
            raise RuntimeError("fail")

    events = []
    for ident, fail in stream:
        event = audit(ident)
        event.envelope["x-fail"] = fail
        events.append(event)
    store = open_store("memory://")
    seen: list[EventOutcome] = []
    with Pipeline(store, cfg(batch_size=batch_size), handler) as pipeline:
        pipeline.run(events, lambda r: seen.append(r.status))
    assert seen == expected


def test_a_claim_outlives_its_lease_even_with_a_shorter_ttl(make_store: MakeStore, clock) -> None:
    store = make_store()
    started = []

    def slow(envelope: dict[str, Any]) -> None:
        clock.advance(120)  # past the 60 s TTL, within the 300 s lease
        rival = store.claim([KeyItem("default#v2.audits#audit-1", "default")], 300, 60)
        started.append(rival[0].outcome)

    report = process([audit(1)], store, cfg(ttl_seconds="60", lease_seconds="300"), slow)
    assert started == [Outcome.IN_FLIGHT]  # the live claim was not taken over
    assert (report.processed, report.lease_lost) == (1, 0)


def keyed_twin(event: Event, keys: Any) -> KeyedEvent:
    """The KeyedEvent the read-ahead process would send for ``event``."""
    return KeyedEvent(event.location, keys(event), payload_fingerprint(event), event.family)


@pytest.mark.parametrize("mode", [Mode.PROCESS, Mode.CHECK, Mode.SEED])
@pytest.mark.parametrize("on_conflict", ["skip", "process"])
def test_keyed_events_get_the_outcomes_of_their_events(mode: Mode, on_conflict: str) -> None:
    events = sample_events()
    events += [events[2], audit(1), audit(1), events[4], BadRecord(Location("x", 9), "bad")]
    outcomes = {}
    for name in ("events", "keyed"):
        store = open_store("memory://")
        settings = cfg(on_conflict=on_conflict, batch_size=3)
        with Pipeline(store, settings, mode=mode) as pipeline:
            pipeline.run_batch(events[:2])  # some keys are stored before the run
            records = events
            if name == "keyed":
                records = [
                    keyed_twin(e, pipeline.keys) if isinstance(e, Event) else e for e in events
                ]
            results: list[Any] = []
            report = pipeline.run(records, on_result=results.append)
        outcomes[name] = (
            report.to_dict(),
            [(str(r.location), r.key, r.topic, r.status, r.conflict_with) for r in results],
        )
    assert outcomes["keyed"] == outcomes["events"]
    counts = outcomes["events"][0]
    assert counts["bad_records"] == 1 and counts["duplicates"] >= 3


def test_a_keyed_event_has_no_payload_for_a_handler() -> None:
    event = audit(1)
    pipeline = Pipeline(open_store("memory://"), cfg(), Recorder())
    with pipeline, pytest.raises(TypeError, match="a KeyedEvent has no payload for a handler"):
        pipeline.run_batch([keyed_twin(event, pipeline.keys)])


def test_batches_are_larger_when_no_handler_holds_claims(tmp_path: Path) -> None:
    store = open_store("memory://")
    assert Pipeline(store, cfg(), Recorder()).batch_size == DEFAULT_BATCH_SIZE
    assert Pipeline(store, cfg()).batch_size == 5000
    assert Pipeline(store, cfg(), mode=Mode.SEED).batch_size == 5000
    # with --on-conflict process a count-only run claims, then completes
    assert Pipeline(store, cfg(on_conflict="process")).batch_size == DEFAULT_BATCH_SIZE
    assert Pipeline(store, cfg(batch_size=7)).batch_size == 7
    # SQLite's own size, through the record cache the assembly puts in front of it
    sqlite = CachedStore(SQLiteStore(tmp_path / "s.sqlite3"), 10)
    assert Pipeline(sqlite, cfg()).batch_size == 20_000
    assert Pipeline(sqlite, cfg(), Recorder()).batch_size == DEFAULT_BATCH_SIZE
    assert Pipeline(sqlite, cfg(batch_size=7)).batch_size == 7
    sqlite.close()


def test_the_batch_size_help_names_each_stores_own_size() -> None:
    from gcdedup.store.dynamodb.store import DynamoDBStore

    sizes = {
        "SQLite": SQLiteStore.mark_done_batch_size,
        "DynamoDB": DynamoDBStore.mark_done_batch_size,
    }
    assert " and ".join(f"{n} on {name}" for name, n in sizes.items()) == MARK_DONE_BATCH_SIZES
    default = next(s.default for s in SCHEMA if s.name == "batch_size")
    assert default == f"{DEFAULT_BATCH_SIZE} with a handler, else {MARK_DONE_BATCH_SIZES}"
