"""The Typer application: one module per command, registered here."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from . import capture as capture_cmd
from . import init as init_cmd
from . import keys as keys_cmd
from . import process as process_cmd
from . import purge as purge_cmd
from . import stats as stats_cmd
from .common import configure_logging

EPILOG = (
    "Exit codes: 0 success; 1 a runtime failure (an event's handler failed, the store "
    "failed, or --strict found bad records); 2 a usage error (bad option, path or URL)."
)

PROCESS_EPILOG = (
    "Exit codes: 0 success; 1 a runtime failure (an event's handler failed, a claim was "
    "taken over while its handler ran, the store failed, or --strict found bad records); "
    "2 a usage error (bad option, path or URL); 3 with --strict, events were left claimed by "
    "another worker; 130 / 143 stopped by Ctrl-C / SIGTERM."
)

app = typer.Typer(
    name="gcdedup",
    help="Deduplicate Genesys Cloud EventBridge events: process files through a dedup "
    "store, measure duplicates, and manage the store.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
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
    configure_logging(verbose)


app.command("process", epilog=PROCESS_EPILOG)(process_cmd.process)
app.command("stats", epilog=EPILOG)(stats_cmd.stats)
app.command("purge", epilog=EPILOG)(purge_cmd.purge)
app.command("init", epilog=EPILOG)(init_cmd.init)
app.command("keys", epilog=EPILOG)(keys_cmd.keys)
app.command("capture", epilog=EPILOG)(capture_cmd.capture)


def main() -> None:
    """Console-script entry point."""
    app()
