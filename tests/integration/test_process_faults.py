"""``gcdedup process`` as a real process under faults: kill -9, SIGINT/SIGTERM, a locked store.

Each test runs the installed CLI in a subprocess with a handler module that logs each
event's id when it starts, so the log tells exactly which events ran and how often.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import write_audit_events

HANDLER = textwrap.dedent(
    """
    import os, time

    def handle(event):
        with open(os.environ["FAULT_LOG"], "a") as log:
            log.write(event["detail"]["eventBody"]["id"] + "\\n")
        time.sleep(float(os.environ["FAULT_DELAY"]))
    """
)


class Run:
    """One scenario's files: events, a SQLite store, the handler module and its log."""

    def __init__(self, tmp: Path, count: int, delay: float) -> None:
        self.tmp = tmp
        self.events = tmp / "events.jsonl"
        self.ids = write_audit_events(self.events, count)
        self.db = tmp / "dedup.sqlite3"
        self.log = tmp / "handled.log"
        (tmp / "fault_handler.py").write_text(HANDLER)
        self.env = {
            **os.environ,
            "PYTHONPATH": str(tmp),
            "FAULT_LOG": str(self.log),
            "FAULT_DELAY": str(delay),
        }

    def start(
        self, *args: str, url_options: str = "", delay: float | None = None
    ) -> subprocess.Popen[str]:
        """Run process in a child; ``delay`` overrides the handler's sleep for this run."""
        command = [
            sys.executable, "-m", "gcdedup", "process", str(self.events),
            "--store", f"sqlite:///{self.db}{url_options}", "--handler", "fault_handler:handle",
            *args,
        ]  # fmt: skip
        env = self.env if delay is None else {**self.env, "FAULT_DELAY": str(delay)}
        return subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def handled(self) -> list[str]:
        return self.log.read_text().split() if self.log.exists() else []

    def wait_for_handled(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.handled()) < count:
            assert time.monotonic() < deadline, f"only {len(self.handled())} handled"
            time.sleep(0.02)

    def statuses(self) -> Counter[str]:
        with sqlite3.connect(self.db) as conn:
            return Counter(dict(conn.execute("SELECT status, count(*) FROM dedup GROUP BY 1")))


def test_kill_9_mid_run_loses_nothing_and_reruns_at_most_two_rounds_of_handlers(
    tmp_path: Path,
) -> None:
    run = Run(tmp_path, count=400, delay=0.01)
    first = run.start("--concurrency", "8", "--lease", "2s")
    run.wait_for_handled(120)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    before = len(run.handled())
    assert before < 400, "the run finished before the kill: the test proves nothing"

    second = run.start("--concurrency", "8", "--lease", "2s", "--wait-in-flight", "--json")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    handled = Counter(run.handled())
    assert set(handled) == set(run.ids)  # nothing lost
    twice = sum(n - 1 for n in handled.values())
    assert twice <= 16, f"{twice} events handled twice"
    assert run.statuses() == Counter({"COMPLETED": 400})
    assert json.loads(out)["warnings"] == []


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_finishes_running_handlers_and_releases_the_rest(
    tmp_path: Path, signum: int, code: int
) -> None:
    run = Run(tmp_path, count=200, delay=0.2)
    proc = run.start("--concurrency", "4", "--batch-size", "50")
    run.wait_for_handled(6)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    name = signal.Signals(signum).name
    assert f"{name}: finishing running handlers, starting no more" in err
    assert f"stopped by {name}:" in err
    assert "Traceback" not in err
    started = Counter(run.handled())
    assert max(started.values()) == 1
    # every handler that started was allowed to finish and was completed; nothing is
    # left IN_PROGRESS for a lease to expire
    assert run.statuses() == Counter({"COMPLETED": len(started)})

    rerun = run.start("--concurrency", "4", delay=0)  # the rest, without the slow handler
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert Counter(run.handled()) == Counter(run.ids)  # each exactly once over both runs


def test_a_store_locked_mid_run_fails_fast_in_one_line_and_a_later_run_loses_nothing(
    tmp_path: Path,
) -> None:
    run = Run(tmp_path, count=600, delay=0.005)
    proc = run.start(
        "--concurrency", "2", "--batch-size", "20", "--lease", "3s", url_options="?timeout=3"
    )
    run.wait_for_handled(40)
    locker = sqlite3.connect(run.db, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    started = time.monotonic()
    try:
        _, err = proc.communicate(timeout=90)
        took = time.monotonic() - started
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: SQLite store {run.db} is busy or unwritable: database is locked"]
    # one busy timeout (3 s) for the failing write, at most one short one for the release
    assert took < 15, took

    rerun = run.start("--lease", "3s", "--wait-in-flight", "--concurrency", "2")
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert set(run.handled()) == set(run.ids)
    assert run.statuses() == Counter({"COMPLETED": 600})
