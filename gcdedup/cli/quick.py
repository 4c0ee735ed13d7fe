"""The console script's entry: ``gcdedup --help`` and ``gcdedup --version`` answered
before Typer is imported.

Importing Typer and Click costs about as much as printing the root help does; the
two commands that only print need neither. The root page is filled from the command
table (:mod:`gcdedup.cli.command_table`) and laid out as every other help page
(:mod:`gcdedup.cli.help_page`); a test holds it to the page Typer prints for the same
command. Any other command line goes to the Typer application.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from .pipe import discard_stdout, flush_quietly

if TYPE_CHECKING:
    from .help_page import Page


def main() -> None:
    """Console-script entry point."""
    args = sys.argv[1:]
    if args == ["--version"]:
        from .. import __version__

        _print_quietly(f"gcdedup {__version__}\n")
    elif args == ["--help"]:
        _print_root_help()
    else:
        from .app import main as run

        run()


def program_name() -> str:
    """``gcdedup``, or ``python -m gcdedup`` when run that way (as Click names it)."""
    main_module = sys.modules.get("__main__")
    package = getattr(main_module, "__package__", None)
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "gcdedup"
    if not package:
        return script
    stem = os.path.splitext(script)[0]
    module = package if stem == "__main__" else f"{package}.{stem}"
    return f"python -m {module.lstrip('.')}"


def root_page(prog: str) -> Page:
    """The root ``--help`` page, from the command table alone."""
    from .command_table import COMMANDS, ROOT_HELP, ROOT_OPTIONS, root_epilog
    from .help_page import Page, name

    options = [(name(shown), help_text) for shown, help_text in ROOT_OPTIONS]
    commands = [(name(cmd), spec.summary) for cmd, spec in COMMANDS.items()]
    return Page(
        f"Usage: {prog} [OPTIONS] COMMAND [ARGS]...",
        ROOT_HELP,
        [("Options", options), ("Commands", commands)],
        root_epilog(),
    )


def _print_root_help() -> None:
    from rich.console import Console

    from .help_page import print_page
    from .pipe import quiet_broken_pipe

    Console.on_broken_pipe = quiet_broken_pipe  # type: ignore[method-assign,assignment]
    print_page(root_page(program_name()))
    _print_quietly("\n")  # Click ends a help page with an empty line


def _print_quietly(text: str) -> None:
    try:
        sys.stdout.write(text)
    except BrokenPipeError:
        discard_stdout()
        return
    flush_quietly()
