"""A user's handler from the CLI: found in the current directory, its failures told once
each with the reason and counted at the end, its print output in whole lines."""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gcdedup.cli.app import app

REPO = Path(__file__).resolve().parents[2]
CLEAN = str(REPO / "sample_events" / "clean.jsonl")

FAILING = """
def handle(event):
    raise ValueError("no conversation " + event["id"][:8])
"""

#: Prints one line in pieces, yielding between them: threads interleave without a lock.
CHATTY = """
import time

def handle(event):
    for word in ("handling", event["id"], "with", "a", "line", "in", "nine", "pieces"):
        print(word, end=" ")
        time.sleep(0.001)
    print("end")
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def handler_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The current directory is the handler's; it is not on sys.path (as for the
    ``gcdedup`` console script, unlike ``python -m``)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delenv("PYTHONPATH", raising=False)
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("newcomer_"):
            del sys.modules[name]


def write_module(directory: Path, source: str) -> str:
    name = f"newcomer_{uuid.uuid4().hex[:8]}"
    (directory / f"{name}.py").write_text(source)
    return name


def test_a_handler_in_the_current_directory_needs_no_pythonpath(
    runner: CliRunner, handler_dir: Path
) -> None:
    name = write_module(handler_dir, "def handle(event):\n    return event['id']\n")
    result = runner.invoke(
        app, ["process", CLEAN, "--store", "memory://", "--handler", f"{name}:handle", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["processed"] == 15
    assert sys.path[-1] == str(handler_dir)  # appended: it never shadows an installed module


def test_a_handler_found_nowhere_says_where_it_looked(runner: CliRunner, handler_dir: Path) -> None:
    result = runner.invoke(
        app, ["process", CLEAN, "--store", "memory://", "--handler", "newcomer_none:handle"]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: cannot import handler module 'newcomer_none': No module named "
        f"'newcomer_none' (looked on sys.path and in the current directory {handler_dir}: "
        "run from the directory that holds it, or add that directory to PYTHONPATH)\n"
    )


def test_a_missing_dependency_of_the_handler_is_named_as_it_is(
    runner: CliRunner, handler_dir: Path
) -> None:
    name = write_module(handler_dir, "import newcomer_dependency\n")
    result = runner.invoke(
        app, ["process", CLEAN, "--store", "memory://", "--handler", f"{name}:handle"]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: cannot import handler module {name!r}: No module named 'newcomer_dependency'\n"
    )


def test_each_failure_is_told_once_with_its_reason_then_counted(
    runner: CliRunner, handler_dir: Path
) -> None:
    name = write_module(handler_dir, FAILING)
    args = ["process", CLEAN, "--store", "memory://", "--handler", f"{name}:handle"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    told = [line for line in lines if line.startswith("Warning: handler failed at ")]
    assert len(told) == 10  # the first ten; --out lists all
    assert all(
        re.fullmatch(
            rf"Warning: handler failed at {re.escape(CLEAN)}:\d+: "
            r"ValueError: no conversation [0-9a-f]{8}",
            line,
        )
        for line in told
    )
    summary = (
        "15 of 15 event(s) failed in the handler; their claims were released, so the next "
        "run processes them again"
    )
    assert lines[-2:] == [
        "Warning: ... and 5 more handler failures (--out lists all)",
        f"Warning: {summary}",
    ]
    assert len(lines) == 12  # nothing else: no reasonless log line per failure
    doc = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert summary in doc["warnings"]


def test_the_pipeline_log_line_is_dropped_only_during_the_run(
    runner: CliRunner, handler_dir: Path
) -> None:
    name = write_module(handler_dir, FAILING)
    runner.invoke(app, ["process", CLEAN, "--store", "memory://", "--handler", f"{name}:handle"])
    assert logging.getLogger("gcdedup.pipeline").filters == []


def test_handler_prints_from_threads_stay_whole_lines(runner: CliRunner, handler_dir: Path) -> None:
    name = write_module(handler_dir, CHATTY)
    result = runner.invoke(
        app,
        [
            "process",
            CLEAN,
            "--store",
            "memory://",
            "--handler",
            f"{name}:handle",
            "-j",
            "8",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    # --json: stdout holds the document, the handlers' prints go to stderr
    printed = result.stderr.splitlines()
    assert len(printed) == 15
    whole = re.compile(r"handling [0-9a-f-]{36} with a line in nine pieces end")
    assert [line for line in printed if not whole.fullmatch(line)] == []
