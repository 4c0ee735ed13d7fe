"""The Typer application: one module per command, registered here from the command table
and imported when it runs (see :mod:`.lazy`). ``gcdedup --help`` and ``gcdedup
--version`` alone never reach it: :mod:`.quick` answers them before Typer is imported."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import typer
from rich.console import Console

from .. import __version__
from .command_table import (
    COMMANDS,
    ROOT_HELP,
    VERBOSE_HELP,
    VERSION_HELP,
    LazyCommand,
    root_epilog,
)
from .lazy import LazyGroup
from .pipe import flush_quietly, quiet_broken_pipe


class Root(LazyGroup):
    """``gcdedup``: each command's module, function and root-help summary (the first
    paragraph of its docstring; a test checks they agree)."""

    lazy: ClassVar[dict[str, LazyCommand]] = COMMANDS

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.epilog = root_epilog()
        super().format_help(ctx, formatter)


app = typer.Typer(
    name="gcdedup",
    help=ROOT_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    cls=Root,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gcdedup {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    verbose: Annotated[
        int,
        typer.Option("--verbose", "-v", count=True, help=VERBOSE_HELP),
    ] = 0,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help=VERSION_HELP),
    ] = False,
) -> None:
    """Deduplicate Genesys Cloud EventBridge events."""
    from .common import configure_logging

    configure_logging(verbose)


def main() -> None:
    """Run the Typer application (the console script starts in :mod:`.quick`)."""
    # Rich exits 1 when stdout's reader has gone (gcdedup --help | head -1): that is
    # not a failure, so every console (Typer's help included) exits 0 instead.
    Console.on_broken_pipe = quiet_broken_pipe  # type: ignore[method-assign,assignment]
    try:
        app()
    finally:
        flush_quietly()
