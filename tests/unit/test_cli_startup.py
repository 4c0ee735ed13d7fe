"""``gcdedup --help`` and ``--version`` import no command module (see gcdedup.cli.lazy),
and print before Typer is imported (see gcdedup.cli.quick)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from gcdedup import __version__
from gcdedup.cli import quick
from gcdedup.cli.app import app

#: What a run imports and the root help does not print.
HEAVY = (
    "gcdedup.cli.process",
    "gcdedup.cli.stats",
    "gcdedup.cli.purge",
    "gcdedup.cli.init",
    "gcdedup.cli.keys",
    "gcdedup.cli.capture",
    "gcdedup.cli.common",
    "gcdedup.pipeline",
    "gcdedup.store",
    "gcdedup.sources",
    "gcdedup.analysis",
    "gcdedup.capture",
    "sqlite3",
    "multiprocessing",
    "gcdedup.events",
    "msgspec",
)

PROBE = (
    "import json, runpy, sys\n"
    "sys.argv = ['gcdedup', sys.argv[1]]\n"
    "try:\n"
    "    runpy.run_module('gcdedup', run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
)


def imported_by(arg: str) -> tuple[str, set[str]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, arg], capture_output=True, text=True, check=True
    )
    return out.stdout, set(json.loads(out.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("arg", ["--help", "--version"])
def test_help_and_version_import_no_command_module(arg: str) -> None:
    stdout, modules = imported_by(arg)
    assert stdout.strip()
    assert sorted(m for m in HEAVY if m in modules) == []


def test_version_imports_neither_settings_nor_decoders() -> None:
    stdout, modules = imported_by("--version")
    assert stdout.startswith("gcdedup ")
    assert sorted(m for m in ("gcdedup.settings", "gcdedup.keys", "msgspec") if m in modules) == []


def test_root_help_summaries_are_the_commands_own(capsys: pytest.CaptureFixture[str]) -> None:
    """The root help shows the same lines before and after every command is imported."""
    group = get_command(app)
    ctx = group.make_context("gcdedup", ["keys"])
    group.get_help(ctx)  # Rich prints it
    summaries_only = capsys.readouterr().out
    assert re.search(r"│ process +Run events through the dedup store once each\.", summaries_only)
    names = group.list_commands(ctx)  # type: ignore[attr-defined]
    assert names == ["process", "stats", "purge", "init", "keys", "capture"]
    for name in names:
        assert group.get_command(ctx, name).callback is not None  # type: ignore[attr-defined]
    assert sorted(group.commands) == sorted(names)  # type: ignore[attr-defined]
    group.get_help(ctx)
    assert capsys.readouterr().out == summaries_only


def test_a_command_runs_with_its_epilog() -> None:
    group = get_command(app)
    ctx = group.make_context("gcdedup", ["keys"])
    process = group.get_command(ctx, "process")  # type: ignore[attr-defined]
    assert process.name == "process"
    assert process.epilog.startswith("Exit codes: 0 success")
    assert group.get_command(ctx, "nope") is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("arg", ["--help", "--version"])
def test_help_and_version_print_before_typer_is_imported(arg: str) -> None:
    stdout, modules = imported_by(arg)
    assert stdout.strip()
    assert sorted(m for m in modules if m.split(".")[0] in {"typer", "click"}) == []


@pytest.mark.parametrize("columns", ["60", "80", "120"])
@pytest.mark.parametrize("color", [False, True])
def test_the_quick_root_help_is_the_page_typer_prints(
    columns: str, color: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The page printed from the command table is, byte for byte, the one Typer prints
    from the application's parameters: a root option or a command added to one and not
    the other fails here."""
    monkeypatch.setenv("COLUMNS", columns)
    for name in ("FORCE_COLOR", "NO_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    if color:
        monkeypatch.setenv("FORCE_COLOR", "1")
        monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setattr(sys, "argv", ["gcdedup", "--help"])
    monkeypatch.setattr(quick, "program_name", lambda: "gcdedup")
    quick.main()
    printed = capsys.readouterr().out
    typer_page = CliRunner().invoke(app, ["--help"], prog_name="gcdedup")
    assert typer_page.exit_code == 0
    assert printed == typer_page.stdout
    assert ("\x1b[" in printed) is color
    plain = re.sub(r"\x1b\[[0-9;]*m", "", printed)
    assert plain.splitlines()[1].strip() == "Usage: gcdedup [OPTIONS] COMMAND [ARGS]..."


def test_the_quick_paths_name_the_program_as_click_does() -> None:
    """``python -m gcdedup --help`` shows ``python -m gcdedup`` in its usage, as Click would."""
    for argv in (["-m", "gcdedup", "--help"], ["-m", "gcdedup", "-v", "--help"]):
        out = subprocess.run(
            [sys.executable, *argv],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "COLUMNS": "100"},
        ).stdout
        assert out.splitlines()[1].split() == [
            "Usage:",
            "python",
            "-m",
            "gcdedup",
            "[OPTIONS]",
            "COMMAND",
            "[ARGS]...",
        ]


def test_version_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["gcdedup", "--version"])
    quick.main()
    assert capsys.readouterr().out == f"gcdedup {__version__}\n"
    assert CliRunner().invoke(app, ["--version"]).stdout == f"gcdedup {__version__}\n"
