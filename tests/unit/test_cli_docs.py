"""docs/reference/cli.md is what scripts/gen-cli-docs makes of the Typer app now, and the
docs name every long option of every command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import typer

from gcdedup.cli.app import app

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "reference" / "cli.md"
SCRIPT = REPO / "scripts" / "gen-cli-docs"


def long_options(hidden: bool = False) -> dict[str, set[str]]:
    """Every command's long options (both names of an on/off flag), by command path; the
    ones hidden from --help (``hidden``) instead of the shown ones."""
    # Typer may bring its own copy of Click: its classes are read by their attributes.
    root = typer.main.get_command(app)
    commands: list[tuple[str, Any]] = [("gcdedup", root)]
    names = root.list_commands(None)  # type: ignore[attr-defined]
    commands += [(f"gcdedup {name}", root.get_command(None, name)) for name in names]  # type: ignore[attr-defined]
    found: dict[str, set[str]] = {}
    for path, command in commands:
        found[path] = {
            opt
            for param in command.params
            if param.param_type_name == "option" and bool(param.hidden) == hidden
            for opt in (*param.opts, *param.secondary_opts)
            if opt.startswith("--")
        }
    return found


def test_the_cli_reference_is_not_stale(tmp_path: Path) -> None:
    fresh = tmp_path / "cli.md"
    subprocess.run([sys.executable, str(SCRIPT), "--output", str(fresh)], check=True)
    assert fresh.read_text() == PAGE.read_text(), (
        "docs/reference/cli.md is stale: run scripts/gen-cli-docs and commit the page"
    )


def test_every_long_option_of_every_command_is_in_the_cli_reference() -> None:
    text = PAGE.read_text()
    options = long_options()
    assert set(options) >= {f"gcdedup {c}" for c in ("process", "stats", "purge", "init", "keys")}
    assert sum(len(opts) for opts in options.values()) >= 60
    sections = text.split("\n## ")
    for path, opts in options.items():
        (section,) = [s for s in sections if s.startswith(f"`{path}`")] or [text]
        missing = sorted(o for o in opts if f"{o}" not in section)
        assert missing == [], f"{path}: {missing}"


def test_the_reference_is_deterministic_whatever_the_terminal(tmp_path: Path) -> None:
    env_wide = {"COLUMNS": "250", "FORCE_COLOR": "1", "GCDEDUP_TTL": "9d", "PATH": "/usr/bin"}
    wide = tmp_path / "wide.md"
    subprocess.run([sys.executable, str(SCRIPT), "--output", str(wide)], check=True, env=env_wide)
    assert wide.read_text() == PAGE.read_text()


def test_options_hidden_from_help_are_documented_elsewhere_in_the_docs() -> None:
    """--help and the reference leave them out; a page still says what they do."""
    hidden = {opt for opts in long_options(hidden=True).values() for opt in opts}
    text = "\n".join(p.read_text() for p in (REPO / "docs").rglob("*.md") if p != PAGE)
    assert sorted(o for o in hidden if f"`{o}" not in text) == []
