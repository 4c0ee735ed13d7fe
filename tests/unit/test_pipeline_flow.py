"""Pipeline flow under stops and crashes: what is read after a stop, how many handled
events can be waiting for completion, what a heartbeat calls a lost claim.

These run on a real SQLite store in a temporary directory.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from gcdedup.events import Event, Location
from gcdedup.heartbeat import Heartbeat
from gcdedup.pipeline import Pipeline
from gcdedup.settings import Settings
from gcdedup.store import KeyItem, Outcome, open_store
from gcdedup.store.base import DedupStore

SAMPLES = Path(__file__).parents[1] / "fixtures" / "genesys"


def audit(n: int) -> Event:
    envelope = json.loads((SAMPLES / "01_user_presence_audit.json").read_text())
    envelope["detail"]["eventBody"]["id"] = f"audit-{n}"
    return Event(envelope, Location("gen", line=n))


def cfg(url: str, **kw: Any) -> Settings:
    return Settings.resolve(env={}, store_url=url, run_id="run-1", **kw)


def test_a_stopped_run_reads_no_further_record(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.sqlite3'}"
    pulled: list[int] = []
    holder: list[Pipeline] = []

    def records() -> Iterator[Event]:
        for n in range(100):
            pulled.append(n)  # a queue's receive, a file's read
            yield audit(n)

    def handler(envelope: dict[str, Any]) -> None:
        holder[0].request_stop()  # as a signal handler would, during the first batch

    with open_store(url, create=True) as store:
        store.init()
        with Pipeline(store, cfg(url, concurrency=1, batch_size=10), handler) as pipeline:
            holder.append(pipeline)
            report = pipeline.run(records())
    assert (report.processed, report.not_started) == (1, 9)
    assert pulled == list(range(10))  # the first batch only: nothing read after the stop


class CountingStore:
    """A real store that counts the keys completed so far (thread-safe)."""

    def __init__(self, store: DedupStore) -> None:
        self._store = store
        self.completed = 0
        self.lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def complete_many(self, pairs: Sequence[tuple[str, str]], *args: Any) -> list[bool]:
        done = self._store.complete_many(pairs, *args)
        with self.lock:
            self.completed += sum(done)
        return done


@pytest.mark.parametrize("jobs", [2, 8])
def test_at_most_two_events_per_worker_are_handled_and_not_completed(
    tmp_path: Path, jobs: int
) -> None:
    url = f"sqlite:///{tmp_path / 'd.sqlite3'}"
    started = 0
    exposure: list[int] = []

    with open_store(url, create=True) as real:
        real.init()
        store = CountingStore(real)

        def handler(envelope: dict[str, Any]) -> None:
            nonlocal started
            with store.lock:
                started += 1
                exposure.append(started - store.completed)  # a crash now re-runs these
            time.sleep(0.001)

        settings = cfg(url, concurrency=jobs, batch_size=300)
        with Pipeline(store, settings, handler) as pipeline:  # type: ignore[arg-type]
            report = pipeline.run([audit(n) for n in range(600)])
    assert report.processed == 600 and store.completed == 600
    assert max(exposure) <= 2 * jobs, max(exposure)


class FinishingWhileRenewing:
    """A real store whose next renewal starts just after the pipeline finished the
    claim (dropped from the heartbeat, then completed): the race of a heartbeat that
    took its list of claims a moment before their handlers returned."""

    def __init__(self, store: DedupStore) -> None:
        self._store = store
        self.finish: list[tuple[str, str]] = []
        self.heartbeat: Heartbeat | None = None
        self.renewed = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def renew(self, pairs: Sequence[tuple[str, str]], lease: float) -> list[bool]:
        if self.finish and self.heartbeat is not None:
            self.heartbeat.drop([key for key, _ in self.finish])
            self._store.complete_many(self.finish, 3600)
            self.finish = []
        held = self._store.renew(pairs, lease)
        self.renewed.set()
        return held


def test_a_heartbeat_does_not_call_a_claim_completed_meanwhile_taken_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'd.sqlite3'}"
    with open_store(url, create=True) as real:
        real.init()
        store = FinishingWhileRenewing(real)
        claims = real.claim([KeyItem(f"k{n}", "default") for n in range(3)], 60, 3600)
        assert [c.outcome for c in claims] == [Outcome.CLAIMED] * 3
        tokens = {f"k{n}": c.token or "" for n, c in enumerate(claims)}
        heartbeat = Heartbeat(store)  # type: ignore[arg-type]
        store.heartbeat = heartbeat
        store.finish = [("k0", tokens["k0"]), ("k1", tokens["k1"])]
        with caplog.at_level(logging.WARNING, logger="gcdedup.heartbeat"):
            heartbeat.hold(tokens, 0.06)  # a beat every 20 ms
            assert store.renewed.wait(5)
            heartbeat.close()
        assert [r.getMessage() for r in caplog.records] == []
        # a claim really taken over is still reported
        caplog.clear()
        real.release("k2", tokens["k2"])
        rival = real.claim([KeyItem("k2", "default")], 60, 3600)[0]
        assert rival.outcome is Outcome.CLAIMED
        store.renewed.clear()
        heartbeat = Heartbeat(store)  # type: ignore[arg-type]
        with caplog.at_level(logging.WARNING, logger="gcdedup.heartbeat"):
            heartbeat.hold({"k2": tokens["k2"]}, 0.06)
            assert store.renewed.wait(5)
            heartbeat.close()
        messages = {r.getMessage() for r in caplog.records}  # once per beat before close
        assert messages == {"1 claim(s) were taken over while their handlers ran"}
