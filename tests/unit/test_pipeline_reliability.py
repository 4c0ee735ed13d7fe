"""The pipeline under failure: completion as handlers return, heartbeats, stops, in-flight waits.

These run on the memory store with the real clock where a background thread's timing
is the point (the heartbeat), and with an injected clock and sleep everywhere else.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gcdedup.events import Event, Location
from gcdedup.pipeline import EventOutcome, Pipeline, process
from gcdedup.settings import Settings
from gcdedup.store import KeyItem, Outcome, open_store

SAMPLES = Path(__file__).parents[1] / "fixtures" / "genesys"


def audit(n: int) -> Event:
    envelope = json.loads((SAMPLES / "01_user_presence_audit.json").read_text())
    envelope["detail"]["eventBody"]["id"] = f"audit-{n}"
    return Event(envelope, Location("gen", line=n))


def key(n: int) -> str:
    return f"default#v2.audits#audit-{n}"


def cfg(**kw: Any) -> Settings:
    return Settings.resolve(env={}, store_url="memory://", run_id="run-1", **kw)


class FakeTime:
    """A clock the injected sleep moves forward."""

    def __init__(self) -> None:
        self.now = time.time()
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_each_event_is_completed_as_soon_as_its_handler_returns() -> None:
    store = open_store("memory://")
    seen_done: list[int] = []

    def handler(envelope: dict[str, Any]) -> None:
        n = int(envelope["detail"]["eventBody"]["id"].split("-")[1])
        # every earlier event of this batch is already COMPLETED in the store
        seen_done.append(
            sum(1 for m in range(n) if (r := store.get(key(m))) and r.status.value == "COMPLETED")
        )

    report = process([audit(n) for n in range(6)], store, cfg(concurrency=1, batch_size=6), handler)
    assert report.processed == 6
    assert seen_done == [0, 1, 2, 3, 4, 5]


def test_the_heartbeat_keeps_a_slow_handlers_claim_from_a_second_worker() -> None:
    store = open_store("memory://heartbeat")
    rival = open_store("memory://heartbeat")  # a second worker on the same table
    lease = 0.3
    rival_saw: list[Outcome] = []
    started = threading.Event()

    def slow(envelope: dict[str, Any]) -> None:
        started.set()
        time.sleep(4 * lease)  # four leases long: only renewals keep the claim ours

    def rival_tries() -> None:
        started.wait(5)
        time.sleep(2 * lease)
        rival_saw.append(rival.claim([KeyItem(key(1), "default")], lease, 60)[0].outcome)

    thread = threading.Thread(target=rival_tries)
    thread.start()
    report = process([audit(1)], store, cfg(lease_seconds=f"{lease}s", concurrency=1), slow)
    thread.join()
    assert rival_saw == [Outcome.IN_FLIGHT]
    assert (report.processed, report.lease_lost) == (1, 0)
    record = store.get(key(1))
    assert record is not None and record.status.value == "COMPLETED"


def test_a_stop_request_runs_no_more_handlers_and_releases_their_claims() -> None:
    store = open_store("memory://")
    calls: list[str] = []
    holder: list[Pipeline] = []

    def handler(envelope: dict[str, Any]) -> None:
        ident = envelope["detail"]["eventBody"]["id"]
        calls.append(ident)
        if ident == "audit-1":
            holder[0].request_stop()  # as a signal handler would, mid-batch

    results = []
    with Pipeline(store, cfg(concurrency=1, batch_size=4), handler) as pipeline:
        holder.append(pipeline)
        report = pipeline.run([audit(n) for n in range(10)], on_result=results.append)
    assert calls == ["audit-0", "audit-1"]
    assert [r.status for r in results] == [EventOutcome.PROCESSED] * 2 + [
        EventOutcome.NOT_STARTED
    ] * 2
    assert (report.processed, report.not_started, report.valid_events) == (2, 2, 4)
    assert store.get(key(2)) is None and store.get(key(3)) is None  # released
    assert store.get(key(4)) is None  # the next batch was never read


def test_settle_in_flight_waits_for_the_stored_lease_then_processes() -> None:
    fake = FakeTime()
    store = open_store("memory://settle", clock=fake.clock)
    dead_worker = open_store("memory://settle", clock=fake.clock)
    dead_worker.claim([KeyItem(key(1), "default"), KeyItem(key(2), "default")], 90, 3600)
    calls: list[str] = []

    def handler(envelope: dict[str, Any]) -> None:
        calls.append(envelope["detail"]["eventBody"]["id"])

    in_flight: list[Event] = []

    def collect(result: Any) -> None:
        if result.status is EventOutcome.IN_FLIGHT:
            in_flight.append(result.event)

    announced: list[tuple[int, float]] = []
    with Pipeline(store, cfg(lease_seconds="60s"), handler) as pipeline:
        report = pipeline.run([audit(n) for n in range(4)], on_result=collect)
        assert (report.processed, report.in_flight) == (2, 2)
        assert report.in_flight_lapse_at == pytest.approx(fake.now + 90)
        left = pipeline.settle_in_flight(
            report,
            in_flight,
            clock=fake.clock,
            sleep=fake.sleep,
            on_wait=lambda n, s: announced.append((n, s)),
        )
    assert left == []
    assert fake.slept == [pytest.approx(91.0)]
    assert announced == [(2, pytest.approx(91.0))]
    assert sorted(calls) == ["audit-0", "audit-1", "audit-2", "audit-3"]
    assert (report.processed, report.in_flight, report.valid_events) == (4, 0, 4)
    assert report.in_flight_lapse_at is None
    assert report.to_dict()["by_topic"]["v2.audits.entitytype.{id}.entityid.{id}"] == {
        "events": 4,
        "in_flight": 0,
        "processed": 4,
    }


def test_settle_in_flight_gives_up_on_a_holder_that_keeps_renewing() -> None:
    fake = FakeTime()
    store = open_store("memory://alive", clock=fake.clock)
    alive = open_store("memory://alive", clock=fake.clock)
    token = alive.claim([KeyItem(key(1), "default")], 30, 3600)[0].token or ""

    def renewing_sleep(seconds: float) -> None:
        fake.sleep(seconds - 5)
        alive.renew([(key(1), token)], 30)  # the other worker is alive and renews
        fake.sleep(5)

    in_flight: list[Event] = []
    with Pipeline(store, cfg(lease_seconds="60s"), lambda e: None) as pipeline:
        report = pipeline.run(
            [audit(1)],
            on_result=lambda r: (
                in_flight.append(r.event) if r.status is EventOutcome.IN_FLIGHT else None
            ),
        )
        left = pipeline.settle_in_flight(report, in_flight, clock=fake.clock, sleep=renewing_sleep)
    assert [e.envelope["detail"]["eventBody"]["id"] for e in left] == ["audit-1"]
    assert report.in_flight == 1
    # it tried while within one lease (60 s) of the first lapse, then gave up
    assert 1 <= len(fake.slept) // 2 <= 3
