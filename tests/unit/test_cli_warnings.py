"""Warnings and errors a new user meets: empty input, keys that match nothing, variables
named in errors, --out - and tables, stdin from a terminal, a closed pipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gcdedup.cli import common
from gcdedup.cli.app import app

REPO = Path(__file__).resolve().parents[2]
CLEAN = str(REPO / "sample_events" / "clean.jsonl")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(params=["empty file", "empty directory", "directory without event files"])
def nothing(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "empty file":
        path = tmp_path / "events.jsonl"
        path.write_bytes(b"")
    elif request.param == "empty directory":
        path = tmp_path / "events"
        path.mkdir()
    else:
        path = tmp_path / "events"
        path.mkdir()
        (path / "notes.txt").write_text("")
    return str(path)


def test_stats_on_no_events_warns_exits_0_and_shows_only_the_summary(
    runner: CliRunner, nothing: str
) -> None:
    result = runner.invoke(app, ["stats", nothing])
    assert result.exit_code == 0
    assert result.stderr == f"Warning: no events found in {nothing}\n"
    assert result.stdout.startswith("Duplicates by key strategy")
    assert "By topic family" not in result.stdout
    doc = json.loads(runner.invoke(app, ["stats", nothing, "--json"]).stdout)
    assert doc["warnings"] == [f"no events found in {nothing}"]
    assert runner.invoke(app, ["stats", nothing, "--strict"]).exit_code == 1


def test_process_on_no_events_warns_exits_0_and_strict_exits_1(
    runner: CliRunner, nothing: str
) -> None:
    args = ["process", nothing, "--store", "memory://"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0
    assert result.stderr == f"Warning: no events found in {nothing}\n"
    doc = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert doc["warnings"] == [f"no events found in {nothing}"]
    assert runner.invoke(app, [*args, "--strict"]).exit_code == 1


def test_a_key_strategy_that_keys_nothing_is_a_warning(runner: CliRunner) -> None:
    result = runner.invoke(app, ["stats", CLEAN, "-k", "jmespath:nope", "--json"])
    assert result.exit_code == 0
    reason = "jmespath: 'nope' found nothing in this event"
    assert json.loads(result.stdout)["warnings"] == [
        f"key strategy 'jmespath:nope' gave no key for any of the 15 events (e.g. {reason})"
    ]
    compared = runner.invoke(app, ["stats", CLEAN, "--compare", "genesys,tutorial", "--json"])
    [warning] = json.loads(compared.stdout)["warnings"]
    assert warning.startswith("key strategy 'tutorial' gave no key for any of the 15 events")

    processed = runner.invoke(
        app, ["process", CLEAN, "--store", "memory://", "-k", "jmespath:nope", "--json"]
    )
    assert processed.exit_code == 0
    assert json.loads(processed.stdout)["warnings"] == [
        f"key strategy 'jmespath:nope' gave no key for any of the 15 records (no key: {reason})"
    ]
    assert (
        "Warning: key strategy 'jmespath:nope' gave no key"
        in runner.invoke(
            app, ["process", CLEAN, "--store", "memory://", "-k", "jmespath:nope"]
        ).stderr
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "GCDEDUP_TTL",
            "5 days",
            "GCDEDUP_TTL='5 days': invalid TTL '5 days': use a number of seconds or e.g. "
            "90s, 15m, 2h, 4d",
        ),
        (
            "GCDEDUP_STORE",
            "foo://x?password=secret",
            "GCDEDUP_STORE='foo://x': unsupported store URL 'foo://x': use "
            "sqlite:///path/to/file, dynamodb://TableName or memory://",
        ),
        ("GCDEDUP_CONCURRENCY", "0", "GCDEDUP_CONCURRENCY='0': invalid concurrency '0': must"),
        ("GCDEDUP_BATCH_SIZE", "x", "GCDEDUP_BATCH_SIZE='x': invalid batch size 'x': expected"),
        ("GCDEDUP_LEASE", "-1", "GCDEDUP_LEASE='-1': invalid lease '-1'"),
        ("GCDEDUP_KEY_STRATEGY", "nope", "GCDEDUP_KEY_STRATEGY='nope': unknown key strategy"),
        ("GCDEDUP_NAMESPACE", "a#b", "GCDEDUP_NAMESPACE='a#b': invalid namespace 'a#b'"),
    ],
)
def test_an_error_from_a_variable_names_it(
    runner: CliRunner, variable: str, value: str, message: str
) -> None:
    env = {"GCDEDUP_STORE": "memory://", variable: value}
    result = runner.invoke(app, ["process", CLEAN], env=env)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {message}")


def test_a_flag_error_names_no_variable(runner: CliRunner) -> None:
    result = runner.invoke(app, ["process", CLEAN, "--store", "memory://", "--ttl", "5 days"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: invalid --ttl '5 days'")


def test_out_dash_needs_quiet(runner: CliRunner) -> None:
    args = ["process", CLEAN, "--store", "memory://", "--out", "-"]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2
    assert refused.stdout == ""
    assert "--out - writes JSON lines to stdout, where the tables go too: add --quiet" in (
        refused.stderr
    )
    quiet = runner.invoke(app, [*args, "--quiet"])
    assert quiet.exit_code == 0
    lines = quiet.stdout.splitlines()
    assert len(lines) == 15
    assert all(json.loads(line)["outcome"] == "processed" for line in lines)


def test_quiet_prints_no_tables_but_still_warns(runner: CliRunner, tmp_path: Path) -> None:
    empty = tmp_path / "e.jsonl"
    empty.write_bytes(b"")
    result = runner.invoke(app, ["process", str(empty), "--store", "memory://", "-q"])
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == f"Warning: no events found in {empty}\n"


@pytest.mark.parametrize("command", [["stats"], ["process", "--store", "memory://"]])
def test_reading_stdin_from_a_terminal_says_so(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setattr(common, "stdin_is_terminal", lambda: True)
    result = runner.invoke(app, [command[0], "-", *command[1:]], input="")
    assert result.stderr == (
        "reading events from stdin (a terminal): paste or type them and end with Ctrl-D, "
        "or Ctrl-C to stop; give file names to read files\n"
        "Warning: no events found in stdin\n"
    )


def test_reading_stdin_from_a_pipe_says_nothing(runner: CliRunner) -> None:
    result = runner.invoke(app, ["stats", "-"], input=Path(CLEAN).read_text())
    assert result.exit_code == 0
    assert result.stderr == ""


@pytest.mark.parametrize(
    "args",
    [
        ["stats", "sample_events/"],
        ["stats", "sample_events/", "--json"],
        ["keys", "sample_events/"],
        ["process", "sample_events/", "--store", "memory://"],
        ["--help"],
        ["--version"],
        ["-v", "--help"],
        ["stats", "--help"],
    ],
)
def test_a_closed_pipe_exits_0_without_a_word(args: list[str]) -> None:
    """``gcdedup stats sample_events/ | head -1``: the reader is gone before the output."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gcdedup", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    assert (proc.wait(timeout=60), err) == (0, b"")


def test_keys_reading_stdin_from_a_terminal_says_so(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "stdin_is_terminal", lambda: True)
    result = runner.invoke(app, ["keys", "-"], input="")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr.startswith("reading events from stdin (a terminal)")
