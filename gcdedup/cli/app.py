"""The Typer application: one module per command, registered here and imported when it runs
(see :mod:`.lazy`: ``--help`` and ``--version`` import no command module)."""

from __future__ import annotations

import sys
from typing import Annotated, Any, ClassVar

import typer
from rich.console import Console

from .. import __version__
from .lazy import LazyCommand, LazyGroup

EPILOG = (
    "Exit codes: 0 success; 1 a runtime failure (an event's handler failed, the store "
    "failed, or --strict found bad records); 2 a usage error (bad option, path, URL or "
    "GCDEDUP_* variable). Output to a closed pipe (| head) ends quietly with 0."
)

#: Inputs with no event at all (an empty file or directory) are not an error.
NO_EVENTS = "No events found: a warning, exit 0 (1 with --strict)."

STATS_EPILOG = (
    "Exit codes: 0 success; 1 a runtime failure (the store failed, or --strict found bad "
    "records, no events or a key strategy that keys none); 2 a usage error (bad option, path, "
    f"URL or GCDEDUP_* variable). {NO_EVENTS}"
)

PROCESS_EPILOG = (
    "Exit codes: 0 success; 1 a runtime failure (an event's handler failed, a claim was "
    "taken over while its handler ran, the store failed, or --strict found bad records or "
    "no events); 2 a usage error (bad option, path, URL or GCDEDUP_* variable); 3 with "
    "--strict, events were left claimed by another worker; 130 / 143 stopped by Ctrl-C / "
    f"SIGTERM. {NO_EVENTS}"
)

#: init, keys and capture run no handler and have no --strict.
PLAIN_EPILOG = (
    "Exit codes: 0 success; 1 a runtime failure (the store or an AWS call failed, an input "
    "could not be read); 2 a usage error (bad option, path, URL or GCDEDUP_* variable). "
    "Output to a closed pipe (| head) ends quietly with 0."
)

PURGE_EPILOG = (
    "Exit codes: 0 success (also when nothing matched); 1 the store failed or is damaged, "
    "or the confirmation was declined; 2 a usage error (no filter, bad option, a store "
    "that does not exist, bad URL or GCDEDUP_* variable). Output to a closed pipe (| head) "
    "ends quietly with 0."
)


def root_epilog() -> str:
    """The root help's epilog; the settings are imported only when it is shown."""
    from ..settings import SCHEMA

    return (
        f"{EPILOG} Variables (flags win over them): "
        + ", ".join(s.env for s in SCHEMA if s.flags)
        + "; see each command's --help."
    )


class Root(LazyGroup):
    """``gcdedup``: each command's module, function and root-help summary (the first
    paragraph of its docstring; a test checks they agree)."""

    lazy: ClassVar[dict[str, LazyCommand]] = {
        "process": LazyCommand(
            "gcdedup.cli.process",
            "process",
            "Run events through the dedup store once each.",
            PROCESS_EPILOG,
        ),
        "stats": LazyCommand(
            "gcdedup.cli.stats",
            "stats",
            "Measure duplicates: per kind, topic and file; compare key strategies; "
            "gaps, TTL, cost.",
            STATS_EPILOG,
        ),
        "purge": LazyCommand(
            "gcdedup.cli.purge",
            "purge",
            "Delete dedup keys (filters combine; one filter or --all is required).",
            PURGE_EPILOG,
        ),
        "init": LazyCommand(
            "gcdedup.cli.init",
            "init",
            "Create the dedup store if needed and check an existing one.",
            PLAIN_EPILOG,
        ),
        "keys": LazyCommand(
            "gcdedup.cli.keys",
            "keys",
            "Print the dedup key of every event, one JSON line each.",
            PLAIN_EPILOG,
        ),
        "capture": LazyCommand(
            "gcdedup.cli.capture",
            "capture",
            "Replay an archive's events into a file, without any other rule seeing them.",
            PLAIN_EPILOG,
        ),
    }

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.epilog = root_epilog()
        super().format_help(ctx, formatter)


app = typer.Typer(
    name="gcdedup",
    help="Deduplicate Genesys Cloud EventBridge events: process files through a dedup "
    "store, measure duplicates, and manage the store.",
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
        typer.Option("--verbose", "-v", count=True, help="More logging on stderr (-vv: debug)."),
    ] = 0,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Deduplicate Genesys Cloud EventBridge events."""
    from .common import configure_logging

    configure_logging(verbose)


def _quiet_broken_pipe(console: Console) -> None:
    from .output import discard_stdout

    discard_stdout()
    raise SystemExit(0)


def main() -> None:
    """Console-script entry point."""
    # Rich exits 1 when stdout's reader has gone (gcdedup --help | head -1): that is
    # not a failure, so every console (Typer's help included) exits 0 instead.
    Console.on_broken_pipe = _quiet_broken_pipe  # type: ignore[method-assign,assignment]
    try:
        app()
    finally:
        # Output still buffered for a pipe whose reader has gone (| head): drop it quietly
        # instead of a BrokenPipeError at exit.
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            from .output import discard_stdout

            discard_stdout()
