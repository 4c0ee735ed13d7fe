"""``--help``: one notation for defaults and variables, no type tags, the same -j everywhere."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gcdedup.analysis import CostModel
from gcdedup.cli import stats as stats_cmd
from gcdedup.cli.app import app
from gcdedup.pipeline import Mode
from gcdedup.settings import SCHEMA

COMMANDS = ["process", "stats", "purge", "init", "keys"]


def help_text(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout.replace("│", " ")


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_shows_no_type_tags_and_one_notation(command: list[str]) -> None:
    text = help_text(*command)
    assert not re.search(r"<(str|bool|int|float|path|list\[\w+\])[^>]*>", text), text
    assert "[x>=" not in text and "{paths}" not in text and "paths..." not in text
    assert "(default:" not in text and "(env:" not in text and "[env var:" not in text
    assert "Default:" not in text


def test_every_variable_is_listed_by_process_help_in_the_one_notation() -> None:
    text = " ".join(help_text("process").split())
    flagged = [s for s in SCHEMA if s.flags]
    for setting in flagged:
        variable = setting.env
        assert re.search(rf"\[(default: [^;]+; )?env: {variable}\]", text), variable
    for variable in ("GCDEDUP_HANDLER", "GENESYSCLOUD_REGION", "GENESYSCLOUD_OAUTHCLIENT_ID"):
        assert f"env: {variable}]" in text
    assert "[default: 5d; env: GCDEDUP_TTL]" in text
    batch = "500 with a handler, else 20000 on SQLite and 5000 on DynamoDB"
    assert f"[default: {batch}; env: GCDEDUP_BATCH_SIZE]" in text
    assert "Usage: gcdedup process [OPTIONS] PATH..." in text


def test_j_is_jobs_in_both_commands_and_concurrency_its_alias() -> None:
    for command in ("process", "stats"):
        line = next(ln for ln in help_text(command).splitlines() if "--jobs" in ln)
        assert "--concurrency" in line and " -j, " in line
    result = CliRunner().invoke(
        app,
        ["process", "sample_events/clean.jsonl", "--store", "memory://", "--concurrency", "2"],
    )
    assert result.exit_code == 0, result.output


def test_help_defaults_are_the_library_defaults() -> None:
    assert (
        CostModel.price_write,
        CostModel.price_read,
    ) == (stats_cmd.PRICE_WRITE, stats_cmd.PRICE_READ)
    text = " ".join(help_text("stats").split())
    assert f"[default: {CostModel.price_write} (us-east-1 list price)]" in text
    assert "[default: process]" in " ".join(help_text("process").split())
    assert [m.value for m in Mode] == ["process", "check", "seed"]


def test_epilogs_document_the_exit_codes_and_no_events() -> None:
    for command in ("process", "stats"):
        text = " ".join(help_text(command).split())
        assert "Exit codes: 0 success" in text
        assert "No events found: a warning, exit 0 (1 with --strict)." in text


def test_root_help_imports_no_analysis_code() -> None:
    """``gcdedup --help`` starts faster without the analysis (and multiprocessing)."""
    code = (
        "import sys; import gcdedup.cli.app; "
        "print(sorted(m for m in ('gcdedup.analysis', 'multiprocessing') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_generator_help_shows_its_defaults() -> None:
    out = subprocess.run(
        [sys.executable, "bench/generate.py", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
        env={"COLUMNS": "200", "PATH": ""},
    ).stdout
    for text in ("(default: 100000)", "(default: 0.08)", "(default: 7)", "(default: 40.0)"):
        assert text in out


@pytest.mark.parametrize("command", ["process", "stats", "purge", "init", "keys", "capture"])
def test_every_option_is_whole_at_80_columns(command: str) -> None:
    """At 80 columns each option's every name (and its value placeholder) is printed
    whole, nothing is cut with an ellipsis, and no line is wider than the terminal."""
    import typer.main

    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    group: Any = typer.main.get_command(app)
    params = group.get_command(None, command).params
    words = set(re.findall(r"[\w./:|-]+", text))
    for param in params:
        if getattr(param, "hidden", False):
            continue
        for name in [*param.opts, *getattr(param, "secondary_opts", [])]:
            if name.startswith("-"):
                assert name in words, f"{command}: {name} is not whole in --help"
        metavar = getattr(param, "metavar", None)
        if metavar and not getattr(param, "is_flag", False) and param.opts[0].startswith("-"):
            assert re.search(rf"{re.escape(param.opts[0])} {re.escape(metavar)}\b", text) or (
                re.search(rf"{re.escape(max(param.opts, key=len))} {re.escape(metavar)}", text)
            ), f"{command}: {param.opts} without its {metavar}"


def test_process_help_is_grouped_in_panels_and_short() -> None:
    result = CliRunner().invoke(app, ["process", "--help"], env={"COLUMNS": "80"})
    titles = re.findall(r"^╭─ (\w+) ─", result.stdout, flags=re.MULTILINE)
    assert titles == [
        "Arguments",
        "Input",
        "Handler",
        "Keys",
        "Store",
        "Output",
        "Performance",
        "Options",
    ]
    assert len(result.stdout.splitlines()) < 150
