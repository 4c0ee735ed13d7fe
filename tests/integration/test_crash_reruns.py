"""kill -9 at random points: at most 2 x --jobs events are handled twice per kill.

Each trial runs ``gcdedup process`` in a child with a 1 ms handler and ``--jobs 8``,
kills it with SIGKILL at a random point, reads which handled events the store has
not completed (exactly the events a later run handles again), then runs again to
the end. The handler appends each event's id to a log with one ``write`` on an
``O_APPEND`` descriptor and fsyncs it before doing its work, so a started handler
is always in the log, whole, and the count of events handled twice is exact.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import write_audit_events
from dynamodb_server import DynamoDBServer

from gcdedup.store import Outcome, open_store

JOBS = 8
#: Kills per backend (CRASH_TRIALS=N runs a longer campaign; CRASH_SEED=N replays one).
TRIALS = int(os.environ.get("CRASH_TRIALS", "5"))
#: One line per started handler, written whole before the handler does anything else.
HANDLER = textwrap.dedent(
    """
    import os, time

    def handle(event):
        fd = os.open(os.environ["FAULT_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, (event["detail"]["eventBody"]["id"] + "\\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        time.sleep(0.001)
    """
)


def key(ident: str) -> str:
    return f"default#v2.audits#{ident}"


@contextlib.contextmanager
def contention(store: str, started: Path) -> Iterator[None]:
    """On SQLite, another writer that takes the write lock for 20 ms at a time, as a
    second worker or a purge would: completions wait for it while handlers, which
    need no lock, run on. (A DynamoDB round trip on the local server is slow enough.)
    It starts once a handler has run (``started`` exists): the store is open by then."""
    if not store.startswith("sqlite:///"):
        yield
        return
    path = store.removeprefix("sqlite:///")
    stop = threading.Event()

    def hold() -> None:
        while not started.exists() and not stop.is_set():
            time.sleep(0.005)
        with contextlib.closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as conn:
            while not stop.is_set():
                conn.execute("BEGIN IMMEDIATE")
                time.sleep(0.02)
                conn.execute("COMMIT")
                time.sleep(0.002)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class Trial:
    def __init__(self, tmp: Path, store: str, events: int) -> None:
        tmp.mkdir()
        self.events = tmp / "events.jsonl"
        self.ids = write_audit_events(self.events, events)
        self.store = store
        self.log = tmp / "handled.log"
        (tmp / "crash_handler.py").write_text(HANDLER)
        self.env = {**os.environ, "PYTHONPATH": str(tmp), "FAULT_LOG": str(self.log)}

    def start(self, *args: str) -> subprocess.Popen[str]:
        command = [
            sys.executable, "-m", "gcdedup", "process", str(self.events), "--store", self.store,
            "--handler", "crash_handler:handle", "--jobs", str(JOBS), "--lease", "1s", *args,
        ]  # fmt: skip
        return subprocess.Popen(
            command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def handled(self) -> list[str]:
        return self.log.read_text().split() if self.log.exists() else []

    def not_completed(self, handled: set[str]) -> int:
        """Handled events whose key the store has not completed: the re-runs to come."""
        ordered = sorted(handled)
        with open_store(self.store) as store:
            found = store.check([key(i) for i in ordered])
        return sum(1 for f in found if f.outcome is not Outcome.DUPLICATE)

    def kill_at(self, rng: random.Random) -> int:
        """Run, kill -9 after a random number of handled events and a random pause;
        the number of events handled and not completed at the kill."""
        proc = self.start()
        threshold = rng.randrange(20, len(self.ids) // 2)
        deadline = time.monotonic() + 120
        with contention(self.store, self.log):
            while len(self.handled()) < threshold:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, f"only {len(self.handled())} handled"
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.05))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        handled = set(self.handled())
        assert len(handled) < len(self.ids), (
            "the run ended before the kill: the trial proves nothing"
        )
        return self.not_completed(handled)

    def finish(self) -> Counter[str]:
        proc = self.start("--wait-in-flight", "--json")
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert json.loads(out)["warnings"] == []
        return Counter(self.handled())


def campaign(tmp_path: Path, make_store: object, events: int) -> list[tuple[int, int]]:
    seed = int(os.environ.get("CRASH_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    measured: list[tuple[int, int]] = []
    for n in range(TRIALS):
        trial = Trial(tmp_path / f"trial-{n}", make_store(), events)  # type: ignore[operator]
        exposed = trial.kill_at(rng)
        handled = trial.finish()
        assert set(handled) == set(trial.ids), f"seed {seed}: events lost"
        twice = sum(count - 1 for count in handled.values())
        assert twice == exposed, f"seed {seed}: {twice} re-run, {exposed} exposed"
        measured.append((exposed, twice))
        with open_store(trial.store) as store:
            found = store.check([key(i) for i in trial.ids])
        assert {f.outcome for f in found} == {Outcome.DUPLICATE}  # all completed
    print(f"seed {seed}: (handled-not-completed at the kill, handled twice) per kill: {measured}")
    assert max(twice for _, twice in measured) <= 2 * JOBS, f"seed {seed}: {measured}"
    return measured


@pytest.mark.timeout(300)
def test_kill_9_at_random_points_on_sqlite_reruns_at_most_2x_jobs(tmp_path: Path) -> None:
    counter = iter(range(TRIALS))
    campaign(tmp_path, lambda: f"sqlite:///{tmp_path / f'd{next(counter)}.sqlite3'}", 800)


@pytest.mark.timeout(600)
def test_kill_9_at_random_points_on_dynamodb_reruns_at_most_2x_jobs(
    tmp_path: Path, dynamodb_server: DynamoDBServer
) -> None:
    def table() -> str:
        url = dynamodb_server.table_url()
        with open_store(url) as store:
            store.init()
        return url

    campaign(tmp_path, table, 300)  # moto's server handles a few hundred requests a second
